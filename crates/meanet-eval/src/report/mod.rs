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
