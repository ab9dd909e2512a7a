//! `meanet calibrate`: thresholds for a target, from the networks' logits on the validation split.

use std::path::Path;

use anyhow::{Context, Result};
use meanet_core::calibration::{Grid, pareto_frontier, pick, shortfall};
use meanet_core::manifest::ThresholdSpec;
use meanet_core::{
    CalibrationCache, CalibrationPoint, Calibrator, PerClassThresholds, Target, Thresholds,
};
use meanet_data::{Dataset, stratified_split};
use ndarray::{Array2, Axis, concatenate};
use serde::{Deserialize, Serialize};

use meanet_runtime::Deployment;
use meanet_runtime::options::{Options, Search};

/// What calibration found, saved as `calibration.json` in the bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationReport {
    /// The target, as given.
    pub target: String,
    /// Where the validation samples came from.
    #[serde(default)]
    pub source: String,
    /// Validation samples used.
    pub samples: usize,
    /// Chosen MEANet thresholds and their validation metrics.
    pub chosen: PointJson,
    /// The Pareto frontier (accuracy up, edge energy down, cloud share down).
    pub frontier: Vec<PointJson>,
    /// Entropy-exit (class-agnostic) threshold chosen for the same target.
    pub entropy_exit_threshold: f64,
    /// Its validation metrics.
    pub entropy_exit: PointJson,
    /// How the thresholds were searched: `all` (every threshold, coordinate descent from the
    /// two-threshold grid) or `grid` (the paper's `t_main` x `t_ext` grid).
    #[serde(default)]
    pub search: String,
    /// The two-threshold grid's pick for the same target, for comparison.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub two_threshold: Option<PointJson>,
    /// CPU seconds the search took (the threshold search alone, logits already computed).
    #[serde(default)]
    pub search_cpu_s: f64,
    /// Thresholds per class (`--per-class`), chosen from `chosen` for the same target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_class: Option<PerClassJson>,
    /// Set when `chosen` lies further from the target than one step of the grid: what was
    /// asked, what was reached and why no point comes nearer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missed_target: Option<MissedTarget>,
}

/// A target calibration could not come near (see [`meanet_core::calibration::shortfall`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MissedTarget {
    /// `offload`, `energy` (joules per sample) or `accuracy`.
    pub measure: String,
    /// The value asked for.
    pub wanted: f64,
    /// The chosen thresholds' value on the validation split.
    pub reached: f64,
    /// One step of the grid in that measure.
    pub step: f64,
    /// Why, in words.
    pub why: String,
}

impl MissedTarget {
    /// One line for the user.
    pub fn describe(&self, target: &str) -> String {
        format!(
            "target {target} not reached: the chosen thresholds give {} {:.4} on the validation split (more than one grid step, {:.4}, away): {}",
            self.measure, self.reached, self.step, self.why
        )
    }
}

/// Per-class thresholds and their validation metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerClassJson {
    /// Per class: `t_main` (easy) or `t_cloud_main` (hard); null: no check.
    pub main: Vec<Option<f64>>,
    /// Per hard class: `t_ext`.
    pub extension: Vec<Option<f64>>,
    /// Validation accuracy.
    pub accuracy: f64,
    /// Edge energy per sample, joules.
    pub edge_energy_j: f64,
    /// Cloud share.
    pub cloud_share: f64,
    /// Extension share.
    pub extension_share: f64,
    /// Lagrange prices tried.
    pub prices: usize,
    /// CPU seconds the per-class search took.
    pub search_cpu_s: f64,
}

/// One point, flattened for JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointJson {
    /// `t_main` (null: no check).
    pub t_main: Option<f64>,
    /// `t_cloud_main`.
    pub t_cloud_main: Option<f64>,
    /// `t_ext`.
    pub t_ext: Option<f64>,
    /// `hard_mass` (null: no check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard_mass: Option<f64>,
    /// Validation accuracy.
    pub accuracy: f64,
    /// Edge energy per sample, joules.
    pub edge_energy_j: f64,
    /// Cloud share.
    pub cloud_share: f64,
    /// Extension share.
    pub extension_share: f64,
}

impl From<&CalibrationPoint> for PointJson {
    fn from(p: &CalibrationPoint) -> Self {
        PointJson {
            t_main: p.thresholds.main,
            t_cloud_main: p.thresholds.cloud_main,
            t_ext: p.thresholds.extension,
            hard_mass: p.thresholds.hard_mass,
            accuracy: p.metrics.accuracy,
            edge_energy_j: p.metrics.edge_energy.0,
            cloud_share: p.metrics.cloud_share,
            extension_share: p.metrics.extension_share,
        }
    }
}

/// Runs the three networks over `idx` of `ds` and builds the calibration cache.
pub fn cache(dep: &Deployment, ds: &Dataset, idx: &[usize]) -> Result<CalibrationCache> {
    let mut nets = dep.networks()?;
    let (mut main, mut ext, mut cloud) = (Vec::new(), Vec::new(), Vec::new());
    for read in ds.batches(idx, 256, None) {
        let read = read?;
        let x = dep.batch_of(&read.pixels, read.indices.len());
        let out = nets.main.infer(x.view())?;
        ext.push(nets.extension.infer(x.view(), out.features.view())?);
        cloud.push(nets.cloud.classify(x.view())?);
        main.push(out.logits);
    }
    let cat = |v: Vec<Array2<f32>>| -> Result<Array2<f32>> {
        let views: Vec<_> = v.iter().map(|a| a.view()).collect();
        Ok(concatenate(Axis(0), &views)?)
    };
    let labels: Vec<usize> = idx.iter().map(|&i| usize::from(ds.labels[i])).collect();
    Ok(CalibrationCache::try_new(
        cat(main)?.view(),
        cat(ext)?.view(),
        cat(cloud)?.view(),
        &labels,
        dep.partition.clone(),
    )?)
}

/// The validation samples of `train`: the split recorded in the bundle, else the configured
/// `calibration.seed` and `calibration.validation`.
pub fn validation_split(dep: &Deployment, train: &Dataset, options: &Options) -> Vec<usize> {
    let c = &options.calibration;
    let (seed, fraction) = match dep.bundle.manifest.split {
        Some(s) => (s.seed, s.validation),
        None => (c.seed, c.validation),
    };
    stratified_split(&train.labels, fraction, seed).1
}

/// The samples calibration runs on: `data` at `idx`, and a description of where they are from.
#[derive(Debug, Clone, Copy)]
pub struct ValidationSet<'a> {
    /// The data set.
    pub data: &'a Dataset,
    /// The samples of it to use.
    pub idx: &'a [usize],
    /// Where they come from (for the report).
    pub source: &'a str,
}

/// Calibrates `dep` on `validation` for `target`: global thresholds, and with
/// `calibration.per_class` thresholds per class too.
pub fn calibrate(
    dep: &Deployment,
    validation: ValidationSet<'_>,
    options: &Options,
    target: Target,
) -> Result<(Thresholds, Option<PerClassThresholds>, CalibrationReport)> {
    dep.check_data(validation.data)?;
    if validation.idx.is_empty() {
        anyhow::bail!("no validation samples in {}", validation.source);
    }
    let c = &options.calibration;
    let cache = cache(dep, validation.data, validation.idx)?;
    let calibrator = Calibrator::new(
        dep.costs,
        dep.offload_bytes(options.cloud.payload),
        &dep.energy,
    );
    let measure = options.policy.measure;
    let base = Thresholds {
        measure,
        ..Thresholds::default()
    };
    let started = cpu_time();
    let (chosen, two, points) = match c.search {
        Search::Grid => {
            let grid = Grid::quantiles(&cache, measure, c.steps);
            let points = calibrator.sweep(&cache, base, &grid);
            let chosen = pick(&points, target)?;
            (chosen, chosen, points)
        }
        Search::All => {
            let full = Grid::all(&cache, measure, c.steps, c.hard_mass);
            let found = calibrator.search(&cache, base, &full, target, 8)?;
            (found.chosen, found.two_threshold, found.points)
        }
    };
    let search_cpu_s = cpu_time().saturating_sub(started).as_secs_f64();
    let per_class = if c.per_class {
        let started = cpu_time();
        let found = calibrator.search_per_class(
            &cache,
            &chosen.thresholds,
            c.steps,
            c.per_class_min_gain,
            target,
        )?;
        let m = found.metrics;
        Some((
            found.chosen.clone(),
            PerClassJson {
                main: found.chosen.main,
                extension: found.chosen.extension,
                accuracy: m.accuracy,
                edge_energy_j: m.edge_energy.0,
                cloud_share: m.cloud_share,
                extension_share: m.extension_share,
                prices: found.prices,
                search_cpu_s: cpu_time().saturating_sub(started).as_secs_f64(),
            },
        ))
    } else {
        None
    };
    let frontier = pareto_frontier(&points);
    let missed_target =
        shortfall(target, &chosen.metrics, &points, c.steps).map(|s| MissedTarget {
            measure: s.measure.to_string(),
            wanted: s.wanted,
            reached: s.reached,
            step: s.step,
            why: s.why,
        });
    // The class-agnostic baseline, held to the same target.
    let as_points = entropy_exit_points(&calibrator, &cache, base);
    let ee = pick(&as_points, target).or_else(|_| pick(&as_points, Target::MaxOffload(1.0)))?;
    let report = CalibrationReport {
        target: target.to_string(),
        source: validation.source.to_string(),
        samples: cache.len(),
        chosen: (&chosen).into(),
        frontier: frontier.iter().map(PointJson::from).collect(),
        entropy_exit_threshold: ee.thresholds.main.unwrap_or(0.0),
        entropy_exit: (&ee).into(),
        search: c.search.name().to_string(),
        two_threshold: (c.search == Search::All).then(|| (&two).into()),
        search_cpu_s,
        per_class: per_class.as_ref().map(|(_, j)| j.clone()),
        missed_target,
    };
    Ok((chosen.thresholds, per_class.map(|(t, _)| t), report))
}

/// The class-agnostic entropy exit at 201 quantiles of the main uncertainty of `cache` (in
/// `base`'s measure), each as a point whose `t_main` is the exit threshold.
pub fn entropy_exit_points(
    calibrator: &Calibrator,
    cache: &CalibrationCache,
    base: Thresholds,
) -> Vec<CalibrationPoint> {
    let mut values = cache.main_uncertainties(base.measure);
    values.sort_by(f64::total_cmp);
    let candidates: Vec<f64> = (0..=200)
        .map(|k| values[k * (values.len() - 1) / 200])
        .collect();
    calibrator
        .sweep_entropy_exit(cache, base.measure, &candidates)
        .into_iter()
        .map(|(t, metrics)| CalibrationPoint {
            thresholds: Thresholds {
                main: Some(t),
                cloud_main: None,
                extension: None,
                ..base
            },
            metrics,
        })
        .collect()
}

/// CPU time this thread has run (`/proc/thread-self/schedstat`, nanoseconds) where Linux
/// reports it; wall time since an arbitrary start elsewhere.
fn cpu_time() -> std::time::Duration {
    let ns = std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok());
    match ns {
        Some(ns) => std::time::Duration::from_nanos(ns),
        None => {
            static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
            START.get_or_init(std::time::Instant::now).elapsed()
        }
    }
}

/// Writes the thresholds into the manifest and the report beside it.
pub fn save(
    bundle: &Path,
    thresholds: &Thresholds,
    per_class: Option<&PerClassThresholds>,
    report: &CalibrationReport,
) -> Result<()> {
    let path = bundle.join("meanet.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut manifest: meanet_core::Manifest =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let mut spec = ThresholdSpec::from_thresholds(thresholds, Some(report.target.clone()));
    if let Some(p) = per_class {
        spec = spec.with_per_class(p);
    }
    manifest.thresholds = Some(spec);
    std::fs::write(&path, toml::to_string_pretty(&manifest)?)
        .with_context(|| format!("writing {}", path.display()))?;
    let path = bundle.join("calibration.json");
    std::fs::write(&path, serde_json::to_string_pretty(report)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Prints what calibration chose.
pub fn describe(report: &CalibrationReport) -> String {
    let global = describe_global(report);
    match &report.per_class {
        None => global,
        Some(p) => format!(
            "{global}\nper class ({} prices, {:.2} s CPU): accuracy {:.4} (global {:.4}), offload {:.3}, extension {:.3}, edge energy {:.3e} J/sample; main {}, extension {}",
            p.prices,
            p.search_cpu_s,
            p.accuracy,
            report.chosen.accuracy,
            p.cloud_share,
            p.extension_share,
            p.edge_energy_j,
            list(&p.main),
            list(&p.extension),
        ),
    }
}

/// Thresholds per class; past 30, a summary (the full lists are in calibration.json).
fn list(v: &[Option<f64>]) -> String {
    if v.len() > 30 {
        let set: Vec<f64> = v.iter().flatten().copied().collect();
        let lo = set.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = set.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        return if set.is_empty() {
            format!("{} classes, none checked", v.len())
        } else {
            format!(
                "{} classes, {} checked, from {lo:.3} to {hi:.3} (all in calibration.json)",
                v.len(),
                set.len()
            )
        };
    }
    let items: Vec<String> = v
        .iter()
        .map(|t| t.map_or("none".to_string(), |t| format!("{t:.3}")))
        .collect();
    format!("[{}]", items.join(", "))
}

fn describe_global(report: &CalibrationReport) -> String {
    let c = &report.chosen;
    let t = |v: Option<f64>| v.map_or("none".to_string(), |v| format!("{v:.4}"));
    format!(
        "calibrated for {} on {} validation samples ({}): t_main {}, t_cloud_main {}, t_ext {}{} -> accuracy {:.4}, offload {:.3}, extension {:.3}, edge energy {:.3e} J/sample ({} frontier points; entropy exit at {:.4}: accuracy {:.4}, offload {:.3})",
        report.target,
        report.samples,
        report.source,
        t(c.t_main),
        t(c.t_cloud_main),
        t(c.t_ext),
        c.hard_mass
            .map_or(String::new(), |m| format!(", hard_mass {m:.4}")),
        c.accuracy,
        c.cloud_share,
        c.extension_share,
        c.edge_energy_j,
        report.frontier.len(),
        report.entropy_exit_threshold,
        report.entropy_exit.accuracy,
        report.entropy_exit.cloud_share
    )
}
