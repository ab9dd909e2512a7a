//! `meanet eval`: MEANet and every baseline of MEANET.md on the same test samples, through a real
//! cloud link, priced with the energy model.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use meanet_core::online::OnlineRouting;
use meanet_core::policy::Named;
use meanet_core::{
    BranchyNet, CloudLink, CloudOnly, EdgeOnly, ExitPolicy, MainExtension, MeaNet, Outcome,
    Pipeline, RoutingThresholds, Summary, Thresholds,
};
use meanet_data::Dataset;
use serde::{Deserialize, Serialize};

use crate::calibrate::CalibrationReport;
use crate::deploy::Deployment;
use crate::report::{self, Report};
use crate::settings::Settings;

/// One method's results on the test samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodReport {
    /// `meanet`, `main_only`, `cloud_only`, `main_extension` or `entropy_exit`.
    pub name: String,
    /// Accuracy.
    pub accuracy: f64,
    /// Its 95% paired-bootstrap interval `[low, high]` (absent in older reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_ci: Option<[f64; 2]>,
    /// Share of samples answered at each exit.
    pub exit_share: ExitShare,
    /// Edge energy (compute, memory, radio) per sample, joules.
    pub edge_energy_j: f64,
    /// Cloud compute energy per sample, joules.
    pub cloud_energy_j: f64,
    /// Bytes sent to the cloud per sample.
    pub bytes_per_sample: f64,
    /// Mean latency per sample (the wall time of the batch it was routed in), ms.
    pub latency_ms_mean: f64,
    /// 99th percentile latency, ms.
    pub latency_ms_p99: f64,
    /// Samples answered on the edge because the cloud failed.
    pub degraded: usize,
    /// Samples.
    pub samples: usize,
    /// Of the samples leaving the main block, the fraction with a hard label.
    pub hard_detection_precision: f64,
    /// Of the hard-label samples, the fraction leaving the main block.
    pub hard_detection_recall: f64,
}

/// Exit shares.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ExitShare {
    /// Main block.
    pub main: f64,
    /// Extension block.
    pub extension: f64,
    /// Cloud.
    pub cloud: f64,
}

/// Outcomes of one method, kept for plots.
#[derive(Debug, Clone)]
pub struct MethodRun {
    /// Summary figures.
    pub report: MethodReport,
    /// Every outcome, in test order.
    pub outcomes: Vec<Outcome>,
    /// The true label of each outcome.
    pub labels: Vec<usize>,
}

/// MEANet as in the paper: its fixed default thresholds (entropy, `t_cloud_main = t_ext = 0.8`
/// nats, no `t_main`), uncalibrated; reported as `meanet_paper`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PaperMeaNet(MeaNet);

impl ExitPolicy for PaperMeaNet {
    fn name(&self) -> &'static str {
        "meanet_paper"
    }
    fn after_main(
        &self,
        scores: &meanet_core::Scores,
        partition: &meanet_core::ClassPartition,
    ) -> (meanet_core::Route, meanet_core::RouteReason) {
        self.0.after_main(scores, partition)
    }
    fn after_extension(
        &self,
        scores: &meanet_core::Scores,
    ) -> (meanet_core::ExtensionRoute, meanet_core::RouteReason) {
        self.0.after_extension(scores)
    }
}

/// The methods of an evaluation, MEANet (the bundle's routing thresholds) last; each policy's
/// `name()` is the method's name. With per-class thresholds, the bundle's global ones run too,
/// as `meanet_global`.
pub fn methods(
    routing: &RoutingThresholds,
    global: Thresholds,
    entropy_exit: f64,
) -> Vec<Box<dyn ExitPolicy>> {
    let mut m: Vec<Box<dyn ExitPolicy>> = vec![
        Box::new(EdgeOnly),
        Box::new(CloudOnly),
        Box::new(MainExtension),
        Box::new(BranchyNet {
            measure: global.measure,
            threshold: entropy_exit,
        }),
        Box::new(PaperMeaNet::default()),
    ];
    if matches!(routing, RoutingThresholds::PerClass(_)) {
        m.push(Box::new(Named {
            name: "meanet_global",
            inner: MeaNet { thresholds: global },
        }));
    }
    m.push(routing.policy());
    m
}

/// Pairs of methods whose accuracy difference the report gives an interval for: MEANet against
/// the entropy exit, cloud-only, the paper's uncalibrated MEANet and (per-class thresholds)
/// the same bundle's global thresholds.
pub const COMPARED: [(&str, &str); 4] = [
    ("meanet", "entropy_exit"),
    ("meanet", "cloud_only"),
    ("meanet", "meanet_paper"),
    ("meanet", "meanet_global"),
];

/// Resamples of the paired bootstrap in reports.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;

/// Adds 95% paired-bootstrap intervals to `runs`' accuracies and returns those of the
/// [`COMPARED`] differences present.
fn intervals(runs: &mut [MethodRun]) -> Result<Vec<report::Difference>> {
    let correct: Vec<Vec<bool>> = runs
        .iter()
        .map(|r| {
            r.outcomes
                .iter()
                .zip(&r.labels)
                .map(|(o, &l)| o.class == l)
                .collect()
        })
        .collect();
    let index = |name: &str| runs.iter().position(|r| r.report.name == name);
    let pairs: Vec<(usize, usize)> = COMPARED
        .iter()
        .filter_map(|(a, b)| Some((index(a)?, index(b)?)))
        .collect();
    let p = meanet_core::bootstrap::paired_bootstrap(
        &correct,
        &pairs,
        BOOTSTRAP_RESAMPLES,
        0.95,
        20211,
    )?;
    for (r, i) in runs.iter_mut().zip(&p.accuracy) {
        r.report.accuracy_ci = Some([i.low, i.high]);
    }
    Ok(pairs
        .iter()
        .zip(&p.difference)
        .map(|(&(a, b), i)| report::Difference {
            name: format!("{} - {}", runs[a].report.name, runs[b].report.name),
            estimate: i.estimate,
            low: i.low,
            high: i.high,
        })
        .collect())
}

/// Which samples of a data set to route.
#[derive(Debug, Clone, Copy)]
pub struct Samples<'a> {
    /// The data set.
    pub data: &'a Dataset,
    /// Indices into it.
    pub idx: &'a [usize],
}

/// Routes `samples` through `pipeline` (its policy names the method), offloading over `cloud`,
/// in batches of `batch`; hands the pipeline back so one set of loaded blocks serves every
/// method (`Pipeline::set_policy`).
pub async fn run_method(
    dep: &Deployment,
    pipeline: Pipeline,
    samples: Samples<'_>,
    batch: usize,
    cloud: &dyn CloudLink,
    progress: &indicatif::ProgressBar,
) -> Result<(MethodRun, Pipeline)> {
    run_method_online(dep, pipeline, samples, batch, cloud, progress, None).await
}

/// [`run_method`], with the thresholds under an online controller when `online` is given:
/// after each batch the controller sees what was routed and sets the next batch's policy, as
/// in `meanet run` and `meanet edge`.
pub async fn run_method_online(
    dep: &Deployment,
    mut pipeline: Pipeline,
    samples: Samples<'_>,
    batch: usize,
    cloud: &dyn CloudLink,
    progress: &indicatif::ProgressBar,
    mut online: Option<&mut OnlineRouting>,
) -> Result<(MethodRun, Pipeline)> {
    let (test, idx) = (samples.data, samples.idx);
    let started = Instant::now();
    let name = pipeline.policy_name();
    let mut outcomes = Vec::with_capacity(idx.len());
    let mut latencies = Vec::with_capacity(idx.len());
    for chunk in idx.chunks(batch.max(1)) {
        let x = dep.batch(test, chunk);
        if let Some(o) = online.as_deref() {
            pipeline.set_policy(o.policy());
        }
        let start = Instant::now();
        // The edge path is synchronous: run it on the blocking pool, never on an async worker.
        let (pass, p) = tokio::task::spawn_blocking(move || {
            let pass = pipeline.run_edge(x.view()).map(|pass| (pass, x));
            (pass, pipeline)
        })
        .await
        .context("edge worker")?;
        pipeline = p;
        let (pass, x) = pass.with_context(|| format!("routing a batch with {name}"))?;
        if let Some(o) = online.as_deref_mut() {
            let now = meanet_core::Seconds(started.elapsed().as_secs_f64());
            o.observe(now, &pass, &dep.partition);
        }
        let out = pass.complete(x.view(), Some(cloud)).await;
        let took = start.elapsed();
        latencies.extend(std::iter::repeat_n(took, chunk.len()));
        for (mut o, &i) in out.into_iter().zip(chunk) {
            o.index = i;
            outcomes.push(o);
        }
        progress.inc(chunk.len() as u64);
    }
    let labels: Vec<usize> = idx.iter().map(|&i| usize::from(test.labels[i])).collect();
    let s = Summary::from_outcomes(&outcomes, &labels, &dep.partition, &dep.energy)?;
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mean = latencies.iter().map(|d| ms(*d)).sum::<f64>() / latencies.len().max(1) as f64;
    let p99 = latencies
        .get(((latencies.len() as f64 - 1.0) * 0.99).round() as usize)
        .map_or(0.0, |d| ms(*d));
    let share = |e| s.exit(e).share;
    Ok((
        MethodRun {
            report: MethodReport {
                name: name.to_string(),
                accuracy: s.accuracy,
                accuracy_ci: None,
                exit_share: ExitShare {
                    main: share(meanet_core::Exit::Main),
                    extension: share(meanet_core::Exit::Extension),
                    cloud: share(meanet_core::Exit::Cloud),
                },
                edge_energy_j: s.edge_energy_per_sample().0,
                cloud_energy_j: s.cloud_energy_per_sample().0,
                bytes_per_sample: s.bytes_per_sample(),
                latency_ms_mean: mean,
                latency_ms_p99: p99,
                degraded: s.degraded,
                samples: s.samples,
                hard_detection_precision: s.hard_detection_precision,
                hard_detection_recall: s.hard_detection_recall,
            },
            outcomes,
            labels,
        },
        pipeline,
    ))
}

/// What an offload costs with each payload, and MEANet's edge energy per sample with it:
/// measured from MEANet's run over a link carrying it where there is one (`runs`), else
/// estimated by pricing each of MEANet's offloads as one sample sent alone.
fn payload_costs(
    dep: &Deployment,
    settings: &Settings,
    meanet: &MethodRun,
    other: Option<&MethodRun>,
) -> Vec<report::PayloadCost> {
    use crate::settings::PayloadKind;
    use meanet_core::{EnergyModel, Exit};
    let used = settings.cloud.payload;
    [PayloadKind::F32, PayloadKind::U8]
        .into_iter()
        .map(|kind| {
            let run = if kind == used { Some(meanet) } else { other };
            let (sent, received) = dep.offload_bytes(kind);
            let measured = run.and_then(|r| {
                let offloaded: Vec<&Outcome> = r
                    .outcomes
                    .iter()
                    .filter(|o| o.exit == Exit::Cloud)
                    .collect();
                if offloaded.is_empty() {
                    return None;
                }
                let n = offloaded.len() as f64;
                let bytes: u64 = offloaded.iter().map(|o| o.cost.bytes_sent.0).sum();
                let radio: f64 = offloaded
                    .iter()
                    .map(|o| dep.energy.price(&o.cost).transmit.0)
                    .sum();
                Some((bytes as f64 / n, radio / n, r.report.edge_energy_j))
            });
            let (bytes, radio, energy) = measured.unwrap_or_else(|| {
                let radio = dep
                    .energy
                    .price(&meanet_core::SampleCost {
                        bytes_sent: sent,
                        bytes_received: received,
                        ..meanet_core::SampleCost::default()
                    })
                    .transmit
                    .0;
                let total: f64 = meanet
                    .outcomes
                    .iter()
                    .map(|o| {
                        let mut cost = o.cost;
                        if o.exit == Exit::Cloud {
                            cost.bytes_sent = sent;
                            cost.bytes_received = received;
                        }
                        dep.energy.price(&cost).edge().0
                    })
                    .sum();
                (
                    sent.0 as f64,
                    radio,
                    total / meanet.outcomes.len().max(1) as f64,
                )
            });
            report::PayloadCost {
                payload: kind.name().to_string(),
                used: kind == used,
                measured: measured.is_some(),
                bytes_per_offload: bytes,
                radio_j_per_offload: radio,
                meanet_edge_energy_j: energy,
            }
        })
        .collect()
}

/// Evaluates every method on `idx` of `test`; the cloud is `cloud` (or none); `progress`
/// makes a bar for `(samples, method)`. With `other_payload` (a link to the same cloud carrying
/// the other `cloud.payload`), MEANet runs once more over it, so the report measures both.
pub async fn evaluate(
    dep: &Deployment,
    settings: &Settings,
    test: &Dataset,
    idx: &[usize],
    cloud: Option<&dyn CloudLink>,
    other_payload: Option<&dyn CloudLink>,
    progress: &dyn Fn(u64, &str) -> indicatif::ProgressBar,
) -> Result<(Report, Vec<MethodRun>, Option<CalibrationReport>)> {
    dep.check_data(test)?;
    let (thresholds, _) = dep.thresholds(settings)?;
    let (routing, _) = dep.routing(settings)?;
    let calibration: Option<CalibrationReport> =
        std::fs::read_to_string(dep.bundle.dir.join("calibration.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
    let entropy_exit = calibration
        .as_ref()
        .map_or(0.8, |c| c.entropy_exit_threshold);
    let none = crate::wiring::NoCloud;
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
            settings.policy.batch_size,
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
    let differences = intervals(&mut runs)?;
    let m = &dep.bundle.manifest;
    let report = report::Report {
        bundle: dep.bundle.dir.display().to_string(),
        samples: idx.len(),
        classes: m.classes.clone(),
        hard_classes: m.hard_classes.clone(),
        thresholds: report::Thresholds {
            measure: thresholds.measure.name().to_string(),
            main: thresholds.main,
            cloud_main: thresholds.cloud_main,
            extension: thresholds.extension,
            entropy_exit,
            target: m.thresholds.as_ref().and_then(|t| t.target.clone()),
        },
        link: format!(
            "{:?} ({} Mbps up)",
            settings.link.kind, settings.link.uplink_mbps
        ),
        backend: dep.engine.backend().name().to_string(),
        methods: runs.iter().map(|r| r.report.clone()).collect(),
        differences,
        payloads: runs
            .iter()
            .find(|r| r.report.name == "meanet")
            .map(|r| payload_costs(dep, settings, r, other.as_ref()))
            .unwrap_or_default(),
        drift: None,
        targets: Vec::new(),
    };
    Ok((report, runs, calibration))
}

/// Samples per window of the drift evaluation.
pub const DRIFT_WINDOW: usize = 1000;

/// The drift evaluation: one stream whose class mix shifts halfway, routed with the static
/// calibrated thresholds and with the online controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    /// The offload share the controller holds.
    pub target: f64,
    /// Samples per window.
    pub window: usize,
    /// Samples in the stream.
    pub samples: usize,
    /// Share of hard-class samples in the first half and in the second.
    pub hard_share: [f64; 2],
    /// Offload share per window, static thresholds.
    pub static_share: Vec<f64>,
    /// Offload share per window, online controller.
    pub online_share: Vec<f64>,
    /// Accuracy over the stream, static.
    pub static_accuracy: f64,
    /// Accuracy over the stream, online.
    pub online_accuracy: f64,
    /// Largest distance from the target of any window after the first, percentage points.
    pub static_max_deviation_pp: f64,
    /// The same, online.
    pub online_max_deviation_pp: f64,
    /// The controller's final threshold scale.
    pub final_scale: f64,
}

/// A stream drawn from `idx` without repeats: an easy-heavy first half (90% easy-class
/// samples) and a hard-heavy second half (90% hard-class), each half as many whole
/// [`DRIFT_WINDOW`]s as the smaller of the easy and hard pools allows, shuffled within each
/// half (seeded).
pub fn drift_stream(test: &Dataset, idx: &[usize], dep: &Deployment, seed: u64) -> Vec<usize> {
    let mut rng = seed | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut shuffle = |v: &mut Vec<usize>| {
        for i in (1..v.len()).rev() {
            let j = (next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    };
    let (mut easy, mut hard): (Vec<usize>, Vec<usize>) = idx
        .iter()
        .partition(|&&i| !dep.partition.is_hard(usize::from(test.labels[i])));
    shuffle(&mut easy);
    shuffle(&mut hard);
    let half = easy.len().min(hard.len()) / DRIFT_WINDOW * DRIFT_WINDOW;
    let major = half * 9 / 10;
    let mut first: Vec<usize> = easy[..major].to_vec();
    first.extend(&hard[..half - major]);
    let mut second: Vec<usize> = hard[half - major..half].to_vec();
    second.extend(&easy[major..half]);
    shuffle(&mut first);
    shuffle(&mut second);
    first.extend(second);
    first
}

/// Routes the [`drift_stream`] of `idx` with the bundle's static thresholds and under the
/// online controller (configured by `[policy]`, `online` taken as set), over `cloud`.
pub async fn drift(
    dep: &Deployment,
    settings: &Settings,
    test: &Dataset,
    idx: &[usize],
    cloud: &dyn CloudLink,
    progress: &dyn Fn(u64, &str) -> indicatif::ProgressBar,
) -> Result<DriftReport> {
    let stream = drift_stream(test, idx, dep, 20211);
    if stream.is_empty() {
        anyhow::bail!(
            "--drift needs at least {DRIFT_WINDOW} easy-class and {DRIFT_WINDOW} hard-class test samples, to fill one {DRIFT_WINDOW}-sample window per half"
        );
    }
    let mut with_online = settings.clone();
    with_online.policy.online = true;
    let mut online = dep
        .online(&with_online)?
        .context("policy.online is set, so there is a controller")?;
    let target = online.controller().config().target;
    let (routing, _) = dep.routing(settings)?;
    let samples = Samples {
        data: test,
        idx: &stream,
    };
    let batch = settings.policy.batch_size;
    let b = progress(stream.len() as u64, "drift: static");
    let pipeline = dep.pipeline(routing.policy())?;
    let (fixed, pipeline) = run_method(dep, pipeline, samples, batch, cloud, &b).await?;
    b.finish_and_clear();
    let b = progress(stream.len() as u64, "drift: online");
    let (held, _) =
        run_method_online(dep, pipeline, samples, batch, cloud, &b, Some(&mut online)).await?;
    b.finish_and_clear();
    let shares = |r: &MethodRun| -> Vec<f64> {
        r.outcomes
            .chunks(DRIFT_WINDOW)
            .filter(|w| w.len() == DRIFT_WINDOW)
            .map(|w| {
                w.iter()
                    .filter(|o| o.exit == meanet_core::Exit::Cloud || o.degraded.is_some())
                    .count() as f64
                    / w.len() as f64
            })
            .collect()
    };
    let worst = |s: &[f64]| {
        s.iter()
            .skip(1)
            .map(|v| (v - target).abs() * 100.0)
            .fold(0.0, f64::max)
    };
    let half = stream.len() / 2;
    let hard = |part: &[usize]| {
        part.iter()
            .filter(|&&i| dep.partition.is_hard(usize::from(test.labels[i])))
            .count() as f64
            / part.len().max(1) as f64
    };
    let (s, o) = (shares(&fixed), shares(&held));
    Ok(DriftReport {
        target,
        window: DRIFT_WINDOW,
        samples: stream.len(),
        hard_share: [hard(&stream[..half]), hard(&stream[half..])],
        static_max_deviation_pp: worst(&s),
        online_max_deviation_pp: worst(&o),
        static_share: s,
        online_share: o,
        static_accuracy: fixed.report.accuracy,
        online_accuracy: held.report.accuracy,
        final_scale: online.controller().scale(),
    })
}

/// Offload targets of the sweep in reports.
pub const SWEEP_TARGETS: [f64; 7] = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4];

/// One method calibrated on the validation split for one offload target, measured on the test
/// split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetPoint {
    /// `meanet` (global thresholds), `meanet_per_class` or `entropy_exit`.
    pub method: String,
    /// The offload target calibrated for.
    pub target: f64,
    /// Validation accuracy.
    pub validation_accuracy: f64,
    /// Validation offload share.
    pub validation_offload: f64,
    /// Test accuracy.
    pub test_accuracy: f64,
    /// Test offload share.
    pub test_offload: f64,
}

/// Calibrates MEANet (global and per-class thresholds) and the entropy exit on `validation`
/// for each of [`SWEEP_TARGETS`], and measures each on the `test` logits: what a calibrated
/// target delivers on samples calibration never saw.
pub fn target_sweep(
    dep: &Deployment,
    settings: &Settings,
    validation: &meanet_core::CalibrationCache,
    test: &meanet_core::CalibrationCache,
) -> Result<Vec<TargetPoint>> {
    use meanet_core::calibration::{Grid, pick};
    use meanet_core::{Calibrator, MeaNetPerClass, Target};
    let calibrator = Calibrator::new(
        dep.costs,
        dep.offload_bytes(settings.cloud.payload),
        &dep.energy,
    );
    let c = &settings.calibration;
    let measure = settings.policy.measure;
    let base = Thresholds {
        measure,
        ..Thresholds::default()
    };
    let grid = Grid::all(validation, measure, c.steps, c.hard_mass);
    let entropy = crate::calibrate::entropy_exit_points(&calibrator, validation, base);
    let mut out = Vec::new();
    for &share in &SWEEP_TARGETS {
        let target = Target::MaxOffload(share);
        let Ok(global) = calibrator.search(validation, base, &grid, target, 8) else {
            continue;
        };
        let g = global.chosen;
        let mut point = |method: &str, val: meanet_core::PointMetrics, policy: &dyn ExitPolicy| {
            let t = calibrator.evaluate(test, policy);
            out.push(TargetPoint {
                method: method.to_string(),
                target: share,
                validation_accuracy: val.accuracy,
                validation_offload: val.cloud_share,
                test_accuracy: t.accuracy,
                test_offload: t.cloud_share,
            });
        };
        point(
            "meanet",
            g.metrics,
            &MeaNet {
                thresholds: g.thresholds,
            },
        );
        if let Ok(per) = calibrator.search_per_class(
            validation,
            &g.thresholds,
            c.steps,
            c.per_class_min_gain,
            target,
        ) {
            point(
                "meanet_per_class",
                per.metrics,
                &MeaNetPerClass {
                    thresholds: per.chosen,
                },
            );
        }
        if let Ok(e) = pick(&entropy, target) {
            point(
                "entropy_exit",
                e.metrics,
                &BranchyNet {
                    measure,
                    threshold: e.thresholds.main.unwrap_or(0.0),
                },
            );
        }
    }
    Ok(out)
}
