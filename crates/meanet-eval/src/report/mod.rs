//! The evaluation report's renderers: `report.json`, `report.md` (Markdown tables), `outcomes.csv`
//! and SVG plots, all drawn from [`crate::schema`]. Rendering never runs an evaluation.

mod csv;
mod markdown;
mod svg;

use std::path::Path;

use anyhow::{Context, Result};

pub use crate::schema::Report;
pub use markdown::{difference_table, drift_table, payload_table, table, target_table};

use crate::calibrate::{CalibrationReport, PointJson};
use crate::schema::MethodRun;

/// Above this many classes, per-class plots and tables show the hard classes MEANet gets most
/// wrong, [`WORST`] of them, and a summary, not a bar per class.
pub const MAX_CLASSES_SHOWN: usize = 30;

/// How many of the worst hard classes are shown past [`MAX_CLASSES_SHOWN`].
pub const WORST: usize = 20;

/// A class's accuracy on the test samples of that class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassAccuracy {
    /// Label index.
    pub class: usize,
    /// Right answers over samples of the class (0 when it has none).
    pub accuracy: f64,
    /// Test samples of the class.
    pub samples: usize,
}

/// Per class: (right answers, samples), over `outcomes` with true `labels`.
fn tally(
    classes: usize,
    outcomes: &[meanet_core::Outcome],
    labels: &[usize],
) -> Vec<(usize, usize)> {
    let mut t = vec![(0usize, 0usize); classes];
    for (o, &l) in outcomes.iter().zip(labels) {
        if let Some(c) = t.get_mut(l) {
            c.0 += usize::from(o.class == l);
            c.1 += 1;
        }
    }
    t
}

fn accuracy(t: &[(usize, usize)], class: usize) -> ClassAccuracy {
    let (right, samples) = t[class];
    ClassAccuracy {
        class,
        accuracy: right as f64 / samples.max(1) as f64,
        samples,
    }
}

/// The classes a per-class view shows: every class up to [`MAX_CLASSES_SHOWN`], else the
/// [`WORST`] hard classes by accuracy (ties by label), worst first.
pub fn classes_shown(
    classes: usize,
    hard: &[usize],
    outcomes: &[meanet_core::Outcome],
    labels: &[usize],
) -> Vec<ClassAccuracy> {
    shown(&tally(classes, outcomes, labels), hard)
}

/// [`classes_shown`] from a [`tally`].
fn shown(t: &[(usize, usize)], hard: &[usize]) -> Vec<ClassAccuracy> {
    let classes = t.len();
    if classes <= MAX_CLASSES_SHOWN {
        return (0..classes).map(|c| accuracy(t, c)).collect();
    }
    let mut worst: Vec<ClassAccuracy> = hard
        .iter()
        .filter(|&&c| c < classes)
        .map(|&c| accuracy(t, c))
        .collect();
    worst.sort_by(|a, b| {
        a.accuracy
            .total_cmp(&b.accuracy)
            .then(a.class.cmp(&b.class))
    });
    worst.truncate(WORST);
    worst
}

/// The Markdown for the hard classes past [`MAX_CLASSES_SHOWN`]: a summary line and the table
/// of the worst; empty below it.
fn hard_summary(report: &Report, runs: &[MethodRun]) -> String {
    let (classes, hard) = (report.classes.len(), &report.hard_classes);
    let Some(meanet) = runs.iter().find(|r| r.report.name == "meanet") else {
        return String::new();
    };
    if classes <= MAX_CLASSES_SHOWN {
        return String::new();
    }
    let t = tally(classes, &meanet.outcomes, &meanet.labels);
    let mut hard_acc: Vec<f64> = hard
        .iter()
        .filter(|&&c| c < classes && t[c].1 > 0)
        .map(|&c| accuracy(&t, c).accuracy)
        .collect();
    hard_acc.sort_by(f64::total_cmp);
    let mean = hard_acc.iter().sum::<f64>() / hard_acc.len().max(1) as f64;
    let median = hard_acc.get(hard_acc.len() / 2).copied().unwrap_or(0.0);
    let worst = shown(&t, hard);
    let mut md = format!(
        "\n## Hard classes\n\n{} of {classes} classes are hard. MEANet's accuracy per hard class: mean {:.2}%, median {:.2}%. The {} it gets most wrong:\n\n| class | accuracy | test samples |\n|---|---|---|\n",
        hard.len(),
        100.0 * mean,
        100.0 * median,
        worst.len()
    );
    for a in &worst {
        md += &format!(
            "| {} | {:.2}% | {} |\n",
            report.classes.get(a.class).map_or("?", String::as_str),
            100.0 * a.accuracy,
            a.samples
        );
    }
    md
}

/// `hard classes [..] (names)`, or a count past [`MAX_CLASSES_SHOWN`] classes.
fn hard_line(report: &Report) -> String {
    if report.classes.len() > MAX_CLASSES_SHOWN {
        return format!(
            "{} hard classes of {} (see \"Hard classes\" below)",
            report.hard_classes.len(),
            report.classes.len()
        );
    }
    format!(
        "hard classes {:?} ({})",
        report.hard_classes,
        report
            .hard_classes
            .iter()
            .map(|&c| report.classes.get(c).map_or("?", String::as_str))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Writes `report.json`, `report.md`, `outcomes.csv` and the SVG plots into `out`.
pub fn write(
    out: &Path,
    report: &Report,
    runs: &[MethodRun],
    calibration: Option<&CalibrationReport>,
) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let path = out.join("report.json");
    std::fs::write(&path, serde_json::to_string_pretty(report)?)
        .with_context(|| format!("writing {}", path.display()))?;
    csv::write_outcomes(&out.join("outcomes.csv"), runs)?;
    let frontier: &[PointJson] = calibration.map_or(&[], |c| &c.frontier);
    svg::plot_tradeoff(
        &out.join("accuracy_vs_energy.svg"),
        &report.methods,
        frontier,
    )?;
    if let Some(meanet) = runs.iter().find(|r| r.report.name == "meanet") {
        svg::plot_exits_per_class(&out.join("exits_per_class.svg"), meanet, report)?;
    }
    if let Some(main_only) = runs.iter().find(|r| r.report.name == "main_only") {
        svg::plot_entropy(&out.join("main_entropy.svg"), main_only, report)?;
    }
    let sweep = if report.targets.is_empty() {
        String::new()
    } else {
        svg::plot_targets(&out.join("accuracy_vs_offload.svg"), &report.targets)?;
        format!(
            "\n## Calibrated targets on the test split\n\n{}\n![test accuracy vs test offload share](accuracy_vs_offload.svg)\n",
            target_table(&report.targets)
        )
    };
    let drift = match &report.drift {
        Some(d) => {
            svg::plot_drift(&out.join("drift.svg"), d)?;
            format!(
                "\n## Drift\n\n{}\n![offload share under drift](drift.svg)\n",
                drift_table(d)
            )
        }
        None => String::new(),
    };
    let t = &report.thresholds;
    let f = |v: Option<f64>| v.map_or("none".to_string(), |v| format!("{v:.4}"));
    let md = format!(
        "# meanet evaluation\n\nBundle `{}`, {} test samples, {}.\n\nMEANet thresholds ({}): t_main {}, t_cloud_main {}, t_ext {}{}. Entropy exit at {:.4}. Link: {}. Backend: {}.\n\n{}\n{}\n![accuracy vs edge energy](accuracy_vs_energy.svg)\n![exits per class](exits_per_class.svg)\n![main-block entropy](main_entropy.svg)\n",
        report.bundle,
        report.samples,
        hard_line(report),
        t.measure,
        f(t.main),
        f(t.cloud_main),
        f(t.extension),
        t.target.as_ref().map_or(String::new(), |x| format!(
            ", calibrated for {x} on the validation split"
        )),
        t.entropy_exit,
        report.link,
        report.backend,
        table(&report.methods),
        difference_table(&report.differences) + "\n" + &payload_table(&report.payloads)
    ) + &hard_summary(report, runs)
        + &sweep
        + &drift;
    let path = out.join("report.md");
    std::fs::write(&path, md).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use meanet_core::{Exit, Outcome, RouteReason, SampleCost, Scores};

    fn outcome(class: usize) -> Outcome {
        Outcome {
            index: 0,
            class,
            exit: Exit::Main,
            main: Scores::from_logits(&[1.0, 0.0]).unwrap(),
            extension: None,
            cloud: None,
            reason: RouteReason::EasyConfident,
            cost: SampleCost::default(),
            degraded: None,
            cloud_latency: None,
            withheld: None,
            latency: None,
        }
    }

    #[test]
    fn past_thirty_classes_the_views_show_the_twenty_worst_hard_classes() {
        // 1,000 classes, 4 samples each; hard classes are 500..1000, and hard class c gets
        // (c % 5) of its 4 samples wrong, capped at 4.
        let classes = 1000;
        let hard: Vec<usize> = (500..1000).collect();
        let mut outcomes = Vec::new();
        let mut labels = Vec::new();
        for c in 0..classes {
            let wrong = if c >= 500 { (c % 5).min(4) } else { 0 };
            for k in 0..4 {
                outcomes.push(outcome(if k < wrong { (c + 1) % classes } else { c }));
                labels.push(c);
            }
        }
        let shown = classes_shown(classes, &hard, &outcomes, &labels);
        assert_eq!(shown.len(), WORST);
        assert!(
            shown
                .iter()
                .all(|a| a.accuracy == 0.0 && a.class % 5 == 4 && a.class >= 500)
        );
        assert_eq!(shown[0].class, 504, "worst first, ties by label");
        // At ten classes, every class, in label order.
        let small = classes_shown(10, &[7, 9], &outcomes[..40], &labels[..40]);
        assert_eq!(
            small.iter().map(|a| a.class).collect::<Vec<_>>(),
            (0..10).collect::<Vec<_>>()
        );
    }
}
