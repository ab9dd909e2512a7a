//! Offline analysis of a bundle, as a library: what `meanet calibrate` and `meanet eval` do.
//!
//! [`evaluate`] runs MEANet and every baseline of docs/method.md on the same test samples, through a
//! real cloud link, priced with the energy model.
//!
//! - [`calibrate`]: threshold search on validation samples, and its report;
//! - [`schema`]: the plain data an evaluation produces (`report.json`);
//! - [`mod@methods`]: the methods compared, and routing one over test samples;
//! - `payload`: what an offload costs with each payload;
//! - [`mod@drift`] and [`sweep`]: the drift evaluation and the target sweep.
//!
//! - [`report`]: the renderers (Markdown, CSV, SVG) that consume the schema.
//!
//! Evaluation produces the schema; [`report`] renders it. No evaluation module imports the
//! renderers, and the renderers import only the schema and the calibration report.

pub mod calibrate;
pub mod compare;
pub mod drift;
pub mod methods;
mod payload;
pub mod quantize;
pub mod report;
pub mod schema;
pub mod sweep;

use anyhow::Result;
use meanet_core::{CloudLink, ExitPolicy};
use meanet_data::Dataset;

pub use drift::{DRIFT_WINDOW, drift, drift_stream};
pub use methods::{
    BOOTSTRAP_RESAMPLES, COMPARED, PaperMeaNet, Samples, methods, run_method, run_method_online,
};
pub use schema::{
    Difference, DriftReport, ExitShare, MethodReport, MethodRun, PayloadCost, Report, TargetPoint,
    Thresholds,
};
pub use sweep::{SWEEP_TARGETS, target_sweep};

use crate::calibrate::CalibrationReport;
use meanet_runtime::Deployment;
use meanet_runtime::options::Options;

/// Evaluates every method on `idx` of `test`; the cloud is `cloud` (or none); `progress`
/// makes a bar for `(samples, method)`. With `other_payload` (a link to the same cloud carrying
/// the other `cloud.payload`), MEANet runs once more over it, so the report measures both.
pub async fn evaluate(
    dep: &Deployment,
    options: &Options,
    test: &Dataset,
    idx: &[usize],
    cloud: Option<&dyn CloudLink>,
    other_payload: Option<&dyn CloudLink>,
    progress: &dyn Fn(u64, &str) -> indicatif::ProgressBar,
) -> Result<(Report, Vec<MethodRun>, Option<CalibrationReport>)> {
    dep.check_data(test)?;
    let (thresholds, _) = dep.thresholds(&options.policy)?;
    let (routing, _) = dep.routing(&options.policy)?;
    let calibration: Option<CalibrationReport> =
        std::fs::read_to_string(dep.bundle.dir.join("calibration.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
    let entropy_exit = calibration
        .as_ref()
        .map_or(0.8, |c| c.entropy_exit_threshold);
    let none = meanet_runtime::links::NoCloud;
    let cloud: &dyn CloudLink = cloud.unwrap_or(&none);
    // One set of loaded blocks serves every method; only the policy (and, for MEANet's extra
    // run over the other payload, the link) changes.
    let mut jobs: Vec<(Box<dyn ExitPolicy>, &dyn CloudLink, bool)> =
        methods(&routing, thresholds, entropy_exit)
            .into_iter()
            .map(|p| (p, cloud, false))
            .collect();
    if let Some(link) = other_payload {
        jobs.push((routing.policy(), link, true));
    }
    let (mut runs, mut other) = (Vec::new(), None);
    let mut pipeline = dep.pipeline(Box::new(meanet_core::EdgeOnly))?;
    for (policy, link, other_payload) in jobs {
        let label = if other_payload {
            "meanet (other payload)"
        } else {
            policy.name()
        };
        let b = progress(idx.len() as u64, label);
        pipeline.set_policy(policy);
        let (run, p) = run_method(
            dep,
            pipeline,
            Samples { data: test, idx },
            dep.batch_size(),
            link,
            &b,
        )
        .await?;
        pipeline = p;
        b.finish_and_clear();
        if other_payload {
            other = Some(run);
        } else {
            runs.push(run);
        }
    }
    let differences = methods::intervals(&mut runs)?;
    let m = &dep.bundle.manifest;
    let report = Report {
        bundle: dep.bundle.dir.display().to_string(),
        samples: idx.len(),
        classes: m.classes.clone(),
        hard_classes: m.hard_classes.clone(),
        thresholds: Thresholds {
            measure: thresholds.measure.name().to_string(),
            main: thresholds.main,
            cloud_main: thresholds.cloud_main,
            extension: thresholds.extension,
            entropy_exit,
            target: m.thresholds.as_ref().and_then(|t| t.target.clone()),
        },
        link: format!(
            "{:?} ({} Mbps up)",
            options.link.kind, options.link.uplink_mbps
        ),
        backend: dep.engine.backend().name().to_string(),
        methods: runs.iter().map(|r| r.report.clone()).collect(),
        differences,
        payloads: runs
            .iter()
            .find(|r| r.report.name == "meanet")
            .map(|r| payload::payload_costs(dep, options, r, other.as_ref()))
            .unwrap_or_default(),
        drift: None,
        targets: Vec::new(),
    };
    Ok((report, runs, calibration))
}
