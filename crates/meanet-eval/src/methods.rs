//! The methods an evaluation compares, and routing one of them over test samples.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use meanet_core::online::OnlineRouting;
use meanet_core::policy::Named;
use meanet_core::{
    BranchyNet, CloudLink, CloudOnly, EdgeOnly, ExitPolicy, MainExtension, MeaNet, Pipeline,
    RoutingThresholds, Summary, Thresholds,
};
use meanet_data::Dataset;

use crate::schema::{Difference, ExitShare, MethodReport, MethodRun};
use meanet_runtime::Deployment;

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
pub(super) fn intervals(runs: &mut [MethodRun]) -> Result<Vec<Difference>> {
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
        .map(|(&(a, b), i)| Difference {
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
    if let Some(o) = online.as_deref() {
        pipeline.set_policy(o.policy());
    }
    for read in test.batches(idx, batch.max(1), None) {
        let read = read?;
        let chunk = read.indices.as_slice();
        let x = dep.batch_of(&read.pixels, chunk.len());
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
            o.step(now, &pass, &mut pipeline);
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
    let sorted_ms: Vec<f64> = latencies.iter().map(|d| ms(*d)).collect();
    let p99 = meanet_core::numerics::percentile(&sorted_ms, 0.99).unwrap_or(0.0);
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
