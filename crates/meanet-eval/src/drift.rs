//! The drift evaluation: a stream whose class mix shifts halfway, static thresholds against the
//! online controller.

use anyhow::{Context, Result};
use meanet_core::CloudLink;
use meanet_data::Dataset;

use crate::methods::{Samples, run_method, run_method_online};
use crate::schema::{DriftReport, MethodRun};
use meanet_runtime::Deployment;
use meanet_runtime::options::Options;

/// Samples per window of the drift evaluation.
pub const DRIFT_WINDOW: usize = 1000;

/// A stream drawn from `idx` without repeats: an easy-heavy first half (90% easy-class
/// samples) and a hard-heavy second half (90% hard-class), each half as many whole
/// [`DRIFT_WINDOW`]s as the smaller of the easy and hard pools allows, shuffled within each
/// half (seeded).
pub fn drift_stream(test: &Dataset, idx: &[usize], dep: &Deployment, seed: u64) -> Vec<usize> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut shuffle = |v: &mut Vec<usize>| rng.shuffle(v);
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
    options: &Options,
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
    let mut with_online = options.clone();
    with_online.policy.online = true;
    let mut online = dep
        .online(&with_online.policy)?
        .context("policy.online is set, so there is a controller")?;
    let target = online.controller().config().target;
    let (routing, _) = dep.routing(&options.policy)?;
    let samples = Samples {
        data: test,
        idx: &stream,
    };
    let batch = dep.batch_size();
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
