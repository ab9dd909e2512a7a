//! The evaluation report: `report.json` (stable keys), `report.md`, and SVG plots.

use std::path::Path;

use anyhow::{Context, Result};
use plotters::prelude::*;
use plotters::style::full_palette::{BLUE_600, CYAN_800, GREEN_600, GREEN_700, ORANGE_600};
use serde::{Deserialize, Serialize};

use crate::calibrate::{CalibrationReport, PointJson};
use crate::eval::{DriftReport, MethodReport, MethodRun, TargetPoint};

/// `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The bundle evaluated.
    pub bundle: String,
    /// Test samples.
    pub samples: usize,
    /// Class names.
    pub classes: Vec<String>,
    /// Hard classes (label indices).
    pub hard_classes: Vec<usize>,
    /// The MEANet thresholds used.
    pub thresholds: Thresholds,
    /// The link model.
    pub link: String,
    /// The inference backend that ran the networks (`runtime.backend`: `ort` or `tract`).
    #[serde(default)]
    pub backend: String,
    /// One entry per method.
    pub methods: Vec<MethodReport>,
    /// 95% paired-bootstrap intervals of accuracy differences (MEANet against the entropy exit,
    /// cloud-only and the paper's thresholds), in accuracy points (0.01 = 1 pp).
    #[serde(default)]
    pub differences: Vec<Difference>,
    /// What an offload costs with each `cloud.payload`, and MEANet's edge energy with it.
    #[serde(default)]
    pub payloads: Vec<PayloadCost>,
    /// The drift evaluation (`meanet eval --drift`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<DriftReport>,
    /// Each method calibrated for several offload targets on the validation split, measured
    /// on the test split.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetPoint>,
}

/// The Markdown table of the target sweep.
pub fn target_table(points: &[TargetPoint]) -> String {
    if points.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "Calibrated on the validation split for each offload target, measured on the test split:\n\n| method | target | validation accuracy / offload | test accuracy / offload |\n|---|---|---|---|\n",
    );
    for p in points {
        s += &format!(
            "| {} | {:.2} | {:.2}% / {:.1}% | {:.2}% / {:.1}% |\n",
            p.method,
            p.target,
            p.validation_accuracy * 100.0,
            p.validation_offload * 100.0,
            p.test_accuracy * 100.0,
            p.test_offload * 100.0
        );
    }
    s
}

/// The Markdown table of the drift evaluation: offload share per window.
pub fn drift_table(d: &DriftReport) -> String {
    let pct = |v: &f64| format!("{:.1}", v * 100.0);
    let row = |name: &str, v: &[f64], acc: f64, worst: f64| {
        format!(
            "| {name} | {} | {:.2} | {:.1} |\n",
            v.iter().map(pct).collect::<Vec<_>>().join(" | "),
            acc * 100.0,
            worst
        )
    };
    let windows = d.static_share.len();
    format!(
        "Drift: {} samples, hard-class share {:.0}% then {:.0}%, offload target {:.0}%: offload share (%) per {}-sample window.\n\n| thresholds | {} | accuracy (%) | worst window after the first (pp) |\n|---|{}---|---|\n{}{}\nOnline threshold scale at the end: {:.3}.\n",
        d.samples,
        d.hard_share[0] * 100.0,
        d.hard_share[1] * 100.0,
        d.target * 100.0,
        d.window,
        (1..=windows)
            .map(|k| format!("w{k}"))
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(windows),
        row(
            "static",
            &d.static_share,
            d.static_accuracy,
            d.static_max_deviation_pp
        ),
        row(
            "online",
            &d.online_share,
            d.online_accuracy,
            d.online_max_deviation_pp
        ),
        d.final_scale
    )
}

/// An accuracy difference between two methods on the same samples, with its interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    /// `a - b`.
    pub name: String,
    /// As measured.
    pub estimate: f64,
    /// 95% interval, lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

/// The Markdown table of the differences.
pub fn difference_table(differences: &[Difference]) -> String {
    if differences.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "| accuracy difference | measured | 95% interval (paired bootstrap) | |\n|---|---|---|---|\n",
    );
    for d in differences {
        let verdict = if d.low > 0.0 {
            "a real lead"
        } else if d.high < 0.0 {
            "a real deficit"
        } else {
            "not distinguishable"
        };
        s.push_str(&format!(
            "| {} | {:+.2} pp | [{:+.2}, {:+.2}] pp | {verdict} |\n",
            d.name,
            100.0 * d.estimate,
            100.0 * d.low,
            100.0 * d.high
        ));
    }
    s
}

/// One `cloud.payload` choice, priced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PayloadCost {
    /// `f32` or `u8`.
    pub payload: String,
    /// Whether the evaluated runs used it.
    pub used: bool,
    /// Measured from a run of MEANet over a link carrying it (else estimated: each offload
    /// priced as one sample sent alone in a binary v2 request).
    pub measured: bool,
    /// Bytes sent per offloaded sample.
    pub bytes_per_offload: f64,
    /// Radio energy of one such offload (send and receive), joules.
    pub radio_j_per_offload: f64,
    /// MEANet's edge energy per sample with every offload of the run priced at this payload.
    pub meanet_edge_energy_j: f64,
}

/// The Markdown table of the payloads.
pub fn payload_table(payloads: &[PayloadCost]) -> String {
    if payloads.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "| cloud.payload | bytes / offloaded sample | radio energy / offloaded sample | MEANet edge energy / sample | |\n|---|---|---|---|---|\n",
    );
    for p in payloads {
        s.push_str(&format!(
            "| {}{} | {:.0} | {} | {} | {} |\n",
            p.payload,
            if p.used { " (used)" } else { "" },
            p.bytes_per_offload,
            meanet_core::Joules(p.radio_j_per_offload),
            meanet_core::Joules(p.meanet_edge_energy_j),
            if p.measured { "measured" } else { "estimated" },
        ));
    }
    s
}

/// Thresholds, for the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Measure.
    pub measure: String,
    /// `t_main`.
    pub main: Option<f64>,
    /// `t_cloud_main`.
    pub cloud_main: Option<f64>,
    /// `t_ext`.
    pub extension: Option<f64>,
    /// Entropy-exit threshold.
    pub entropy_exit: f64,
    /// Calibration target, if the thresholds were calibrated.
    pub target: Option<String>,
}

/// The Markdown table of the methods.
pub fn table(methods: &[MethodReport]) -> String {
    let mut s = String::from(
        "| method | accuracy | main / ext / cloud exits | edge energy / sample | cloud energy / sample | bytes / sample | latency mean / p99 | degraded |\n|---|---|---|---|---|---|---|---|\n",
    );
    for m in methods {
        let ci = m.accuracy_ci.map_or(String::new(), |[lo, hi]| {
            format!(" [{:.2}, {:.2}]", 100.0 * lo, 100.0 * hi)
        });
        s.push_str(&format!(
            "| {} | {:.2}%{ci} | {:.1}% / {:.1}% / {:.1}% | {} | {} | {:.0} | {:.2} / {:.2} ms | {} |\n",
            m.name,
            100.0 * m.accuracy,
            100.0 * m.exit_share.main,
            100.0 * m.exit_share.extension,
            100.0 * m.exit_share.cloud,
            meanet_core::Joules(m.edge_energy_j),
            meanet_core::Joules(m.cloud_energy_j),
            m.bytes_per_sample,
            m.latency_ms_mean,
            m.latency_ms_p99,
            m.degraded
        ));
    }
    s
}

/// Writes every outcome of every method as `outcomes.csv`: method, sample index (in the test
/// split), true label, predicted class, exit and degraded cause (empty when none). Two runs (two
/// backends, two bundles) can be compared sample by sample from it.
fn write_outcomes(path: &Path, runs: &[MethodRun]) -> Result<()> {
    use std::io::Write;
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    let mut write = || -> std::io::Result<()> {
        writeln!(w, "method,index,label,class,exit,degraded")?;
        for r in runs {
            for (o, l) in r.outcomes.iter().zip(&r.labels) {
                writeln!(
                    w,
                    "{},{},{l},{},{},{}",
                    r.report.name,
                    o.index,
                    o.class,
                    o.exit.name(),
                    o.degraded.map_or("", |k| k.name())
                )?;
            }
        }
        w.flush()
    };
    write().with_context(|| format!("writing {}", path.display()))
}

/// Writes report.json, report.md, outcomes.csv and the plots into `out`.
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
    write_outcomes(&out.join("outcomes.csv"), runs)?;
    let frontier: &[PointJson] = calibration.map_or(&[], |c| &c.frontier);
    plot_tradeoff(
        &out.join("accuracy_vs_energy.svg"),
        &report.methods,
        frontier,
    )?;
    if let Some(meanet) = runs.iter().find(|r| r.report.name == "meanet") {
        plot_exits_per_class(&out.join("exits_per_class.svg"), meanet, report)?;
    }
    if let Some(main_only) = runs.iter().find(|r| r.report.name == "main_only") {
        plot_entropy(&out.join("main_entropy.svg"), main_only, report)?;
    }
    let sweep = if report.targets.is_empty() {
        String::new()
    } else {
        plot_targets(&out.join("accuracy_vs_offload.svg"), &report.targets)?;
        format!(
            "\n## Calibrated targets on the test split\n\n{}\n![test accuracy vs test offload share](accuracy_vs_offload.svg)\n",
            target_table(&report.targets)
        )
    };
    let drift = match &report.drift {
        Some(d) => {
            plot_drift(&out.join("drift.svg"), d)?;
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
        "# meanet evaluation\n\nBundle `{}`, {} test samples, hard classes {:?} ({}).\n\nMEANet thresholds ({}): t_main {}, t_cloud_main {}, t_ext {}{}. Entropy exit at {:.4}. Link: {}. Backend: {}.\n\n{}\n{}\n![accuracy vs edge energy](accuracy_vs_energy.svg)\n![exits per class](exits_per_class.svg)\n![main-block entropy](main_entropy.svg)\n",
        report.bundle,
        report.samples,
        report.hard_classes,
        report
            .hard_classes
            .iter()
            .map(|&c| report.classes[c].as_str())
            .collect::<Vec<_>>()
            .join(", "),
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
    ) + &sweep
        + &drift;
    let path = out.join("report.md");
    std::fs::write(&path, md).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn plot_targets(path: &Path, points: &[TargetPoint]) -> Result<()> {
    let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let xs = points.iter().map(|p| p.test_offload);
    let ys = points.iter().map(|p| p.test_accuracy);
    let xhi = xs.fold(0.05f64, f64::max) + 0.03;
    let (ylo, yhi) = ys.fold((1.0f64, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Test accuracy vs test offload share, each point calibrated on validation for a target",
            ("sans-serif", 18),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0f64..xhi, (ylo - 0.003).max(0.0)..(yhi + 0.003).min(1.0))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("offload share (test)")
        .y_desc("accuracy (test)")
        .draw()
        .map_err(err)?;
    for (method, color) in [
        ("meanet", BLUE_600),
        ("meanet_per_class", GREEN_700),
        ("entropy_exit", ORANGE_600),
    ] {
        let pts: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.method == method)
            .map(|p| (p.test_offload, p.test_accuracy))
            .collect();
        if !pts.is_empty() {
            line_with_dots(&mut chart, pts, method, color)?;
        }
    }
    legend_and_present(&mut chart, &root, SeriesLabelPosition::LowerRight)
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// One labelled series: a line through `pts` with a dot on each.
fn line_with_dots(
    chart: &mut Chart<'_, '_>,
    pts: Vec<(f64, f64)>,
    label: &str,
    color: RGBColor,
) -> Result<()> {
    chart
        .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
        .map_err(err)?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    chart
        .draw_series(pts.into_iter().map(|p| Circle::new(p, 4, color.filled())))
        .map_err(err)?;
    Ok(())
}

/// Draws the legend at `position` and writes the file.
fn legend_and_present<'a, 'b: 'a>(
    chart: &mut Chart<'a, 'b>,
    root: &DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    position: SeriesLabelPosition,
) -> Result<()> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(position)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

fn plot_drift(path: &Path, d: &DriftReport) -> Result<()> {
    let root = SVGBackend::new(path, (900, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let n = d.static_share.len().max(d.online_share.len()).max(1);
    let top = d
        .static_share
        .iter()
        .chain(&d.online_share)
        .fold(d.target + 0.05, |a, v| a.max(*v + 0.03))
        .min(1.0);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "Offload share per {}-sample window; hard classes {:.0}% then {:.0}% of the stream",
                d.window,
                d.hard_share[0] * 100.0,
                d.hard_share[1] * 100.0
            ),
            ("sans-serif", 18),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(0.5f64..n as f64 + 0.5, 0.0f64..top)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_labels(n)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .x_desc("window")
        .y_desc("offload share")
        .draw()
        .map_err(err)?;
    let band = [(d.target - 0.03).max(0.0), d.target + 0.03];
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [(0.5, band[0]), (n as f64 + 0.5, band[1])],
            GREEN_600.mix(0.15).filled(),
        )))
        .map_err(err)?
        .label("target +/- 3 pp")
        .legend(|(x, y)| {
            Rectangle::new([(x, y - 5), (x + 20, y + 5)], GREEN_600.mix(0.3).filled())
        });
    for (name, v, color) in [
        ("static thresholds", &d.static_share, ORANGE_600),
        ("online controller", &d.online_share, BLUE_600),
    ] {
        let pts: Vec<(f64, f64)> = v
            .iter()
            .enumerate()
            .map(|(k, s)| (k as f64 + 1.0, *s))
            .collect();
        line_with_dots(&mut chart, pts, name, color)?;
    }
    legend_and_present(&mut chart, &root, SeriesLabelPosition::UpperLeft)
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing a plot: {e}")
}

fn plot_tradeoff(path: &Path, methods: &[MethodReport], frontier: &[PointJson]) -> Result<()> {
    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let xs = methods
        .iter()
        .map(|m| m.edge_energy_j)
        .chain(frontier.iter().map(|p| p.edge_energy_j))
        .filter(|v| *v > 0.0);
    let (lo, hi) = xs.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    let (lo, hi) = if lo < hi {
        (lo / 2.0, hi * 2.0)
    } else {
        (1e-9, 1e-1)
    };
    let accs = methods
        .iter()
        .map(|m| m.accuracy)
        .chain(frontier.iter().map(|p| p.accuracy));
    let (alo, ahi) = accs.fold((1.0f64, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Accuracy vs edge energy per sample (log scale)",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(
            (lo..hi).log_scale(),
            (alo - 0.01).max(0.0)..(ahi + 0.01).min(1.0),
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("edge energy per sample (J)")
        .y_desc("accuracy")
        .x_label_formatter(&|v| format!("{v:.0e}"))
        .draw()
        .map_err(err)?;
    if !frontier.is_empty() {
        chart
            .draw_series(LineSeries::new(
                frontier.iter().map(|p| (p.edge_energy_j, p.accuracy)),
                BLUE.mix(0.5),
            ))
            .map_err(err)?
            .label("calibration frontier (validation)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.mix(0.5)));
    }
    let palette = [RED, GREEN_700, MAGENTA, CYAN_800, BLACK];
    for (m, color) in methods.iter().zip(palette.iter().cycle()) {
        let c = *color;
        chart
            .draw_series(std::iter::once(Circle::new(
                (m.edge_energy_j.max(lo), m.accuracy),
                6,
                c.filled(),
            )))
            .map_err(err)?
            .label(format!("{} ({:.2}%)", m.name, 100.0 * m.accuracy))
            .legend(move |(x, y)| Circle::new((x + 10, y), 5, c.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

fn plot_exits_per_class(path: &Path, run: &MethodRun, report: &Report) -> Result<()> {
    let c = report.classes.len();
    let mut counts = vec![[0usize; 3]; c];
    for (o, &label) in run.outcomes.iter().zip(&run.labels) {
        let e = match o.exit {
            meanet_core::Exit::Main => 0,
            meanet_core::Exit::Extension => 1,
            meanet_core::Exit::Cloud => 2,
        };
        if label < c {
            counts[label][e] += 1;
        }
    }
    let root = SVGBackend::new(path, (900, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "MEANet: share of exits per true class (hard classes marked *)",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(60)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..c as f64, 0f64..1f64)
        .map_err(err)?;
    let names: Vec<String> = report
        .classes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            if report.hard_classes.contains(&i) {
                format!("{n}*")
            } else {
                n.clone()
            }
        })
        .collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(2 * c + 1)
        .x_label_formatter(&|v| {
            // One label per bar, at its centre (k + 0.5).
            let k = v.floor();
            if ((v - k) - 0.5).abs() < 1e-6 {
                names.get(k as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc("share of the class's samples")
        .draw()
        .map_err(err)?;
    let colors = [GREEN_600, ORANGE_600, BLUE_600];
    let labels = ["main", "extension", "cloud"];
    for e in 0..3 {
        let color = colors[e];
        chart
            .draw_series(counts.iter().enumerate().map(|(k, row)| {
                let total = row.iter().sum::<usize>().max(1) as f64;
                let below: f64 = row[..e].iter().sum::<usize>() as f64 / total;
                let top = below + row[e] as f64 / total;
                Rectangle::new(
                    [(k as f64 + 0.15, below), (k as f64 + 0.85, top)],
                    color.filled(),
                )
            }))
            .map_err(err)?
            .label(labels[e])
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

fn plot_entropy(path: &Path, run: &MethodRun, report: &Report) -> Result<()> {
    let bins = 30usize;
    let max = (report.classes.len() as f64).ln();
    let mut hist = [vec![0usize; bins], vec![0usize; bins]];
    for (o, label) in run.outcomes.iter().zip(&run.labels) {
        let hard = report.hard_classes.contains(label);
        let b = ((o.main.entropy / max) * bins as f64)
            .floor()
            .clamp(0.0, bins as f64 - 1.0) as usize;
        hist[usize::from(hard)][b] += 1;
    }
    let norm: Vec<Vec<f64>> = hist
        .iter()
        .map(|h| {
            let t = h.iter().sum::<usize>().max(1) as f64;
            h.iter().map(|&v| v as f64 / t).collect()
        })
        .collect();
    let ymax = norm.iter().flatten().copied().fold(0.0, f64::max).max(0.01) * 1.1;
    let root = SVGBackend::new(path, (900, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Main-block entropy (nats) of test samples, easy vs hard classes",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(0f64..max, 0f64..ymax)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("entropy of the main block's softmax (nats)")
        .y_desc("share of samples")
        .draw()
        .map_err(err)?;
    for (k, (name, color)) in [("easy classes", GREEN_700), ("hard classes", RED)]
        .into_iter()
        .enumerate()
    {
        let w = max / bins as f64;
        chart
            .draw_series(norm[k].iter().enumerate().map(|(b, &v)| {
                let x0 = b as f64 * w;
                Rectangle::new([(x0, 0.0), (x0 + w, v)], color.mix(0.45).filled())
            }))
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 15, y + 5)], color.mix(0.45).filled())
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}
