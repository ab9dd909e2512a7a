//! End to end on the committed reference bundle and real Fashion-MNIST test samples, with a real
//! cloud server on loopback (needs `scripts/setup` for the data and ONNX Runtime).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use std::path::{Path, PathBuf};
use std::time::Duration;

use meanet_core::MeaNet;
use meanet_data::{Dataset, fashion_mnist};
use meanet_eval as eval;
use meanet_runtime::Deployment;
use meanet_runtime::Options as Settings;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Fashion-MNIST test split (fetched by `scripts/setup`).
pub(crate) fn test_set() -> Dataset {
    let cache = meanet_data::default_dataset_cache();
    let dir = cache.join("fashion-mnist/root/usr/share/datasets/fashion-mnist");
    let dir = if dir.is_dir() { Some(dir) } else { None };
    fashion_mnist(dir.as_deref(), &cache)
        .expect("Fashion-MNIST (run scripts/setup)")
        .1
}

const SAMPLES: usize = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meanet_beats_main_only_and_spends_less_than_cloud_only() {
    let settings = Settings::default();
    let dep = Deployment::load(&root().join("models/fashion-mnist"), &settings).unwrap();
    let test = test_set();
    let idx: Vec<usize> = (0..SAMPLES).collect();
    let server = meanet_runtime::serving::loopback_cloud(
        &dep,
        &settings.server,
        &settings.cloud.model,
        false,
        dep.batch_size(),
    )
    .await
    .unwrap();
    let input = &dep.bundle.manifest.input;
    let link = meanet_runtime::links::link(&settings.cloud, input, Some(&server)).unwrap();
    let mut u8_settings = settings.clone();
    u8_settings.cloud.payload = meanet_runtime::options::PayloadKind::U8;
    let u8_link = meanet_runtime::links::link(&u8_settings.cloud, input, Some(&server)).unwrap();
    let hidden = |_, _: &str| indicatif::ProgressBar::hidden();
    let (report, _, _) = eval::evaluate(
        &dep,
        &settings,
        &test,
        &idx,
        link.as_deref(),
        u8_link.as_deref(),
        &hidden,
    )
    .await
    .unwrap();
    // Both payloads measured over the loopback server: u8 sends at least 3.5x fewer bytes.
    let [f32p, u8p] = report.payloads.as_slice() else {
        panic!("two payloads: {:?}", report.payloads)
    };
    assert!(f32p.measured && u8p.measured && f32p.used && !u8p.used);
    assert!(
        f32p.bytes_per_offload >= 3.5 * u8p.bytes_per_offload,
        "{} vs {} bytes",
        f32p.bytes_per_offload,
        u8p.bytes_per_offload
    );
    assert!(u8p.meanet_edge_energy_j < f32p.meanet_edge_energy_j);
    server.shutdown(Duration::from_secs(2)).await;
    let m = |name: &str| {
        report
            .methods
            .iter()
            .find(|m| m.name == name)
            .unwrap()
            .clone()
    };
    let (meanet, main, cloud) = (m("meanet"), m("main_only"), m("cloud_only"));
    eprintln!("{}", meanet_eval::report::table(&report.methods));
    assert!(
        report.thresholds.target.is_some(),
        "the reference bundle is calibrated"
    );
    assert!(
        meanet.accuracy >= main.accuracy,
        "MEANet {} < main only {}",
        meanet.accuracy,
        main.accuracy
    );
    assert!(
        meanet.edge_energy_j < cloud.edge_energy_j,
        "MEANet {} J >= cloud only {} J",
        meanet.edge_energy_j,
        cloud.edge_energy_j
    );
    assert!(
        report
            .methods
            .iter()
            .all(|m| m.samples == SAMPLES && m.degraded == 0)
    );
    let edge = meanet.exit_share.main + meanet.exit_share.extension;
    assert!(edge > 0.5, "most samples are answered on the edge ({edge})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cloud_killed_mid_run_still_gives_every_sample_an_outcome() {
    let settings = Settings::default();
    let dep = Deployment::load(&root().join("models/fashion-mnist"), &settings).unwrap();
    let (thresholds, _) = dep.thresholds(&settings.policy).unwrap();
    let test = test_set();
    let idx: Vec<usize> = (0..SAMPLES).collect();
    let server = meanet_runtime::serving::loopback_cloud(
        &dep,
        &settings.server,
        &settings.cloud.model,
        false,
        dep.batch_size(),
    )
    .await
    .unwrap();
    let link =
        meanet_runtime::links::link(&settings.cloud, &dep.bundle.manifest.input, Some(&server))
            .unwrap()
            .unwrap();
    let bar = indicatif::ProgressBar::hidden();
    let half = SAMPLES / 2;
    // The same pipeline (edge blocks) runs before and after the cloud dies.
    let pipeline = dep.pipeline(Box::new(MeaNet { thresholds })).unwrap();
    let (first, pipeline) = eval::run_method(
        &dep,
        pipeline,
        eval::Samples {
            data: &test,
            idx: &idx[..half],
        },
        32,
        link.as_ref(),
        &bar,
    )
    .await
    .unwrap();
    server.abort();
    let start = std::time::Instant::now();
    let (second, _) = eval::run_method(
        &dep,
        pipeline,
        eval::Samples {
            data: &test,
            idx: &idx[half..],
        },
        32,
        link.as_ref(),
        &bar,
    )
    .await
    .unwrap();
    let took = start.elapsed();
    let outcomes: Vec<_> = first.outcomes.iter().chain(&second.outcomes).collect();
    assert_eq!(outcomes.len(), SAMPLES);
    let mut seen: Vec<usize> = outcomes.iter().map(|o| o.index).collect();
    seen.sort_unstable();
    assert_eq!(seen, idx, "every sample exactly once");
    assert_eq!(first.report.degraded, 0);
    let offloads = second.outcomes.iter().filter(|o| o.is_degraded()).count();
    assert_eq!(second.report.degraded, offloads);
    assert!(offloads > 0, "some samples wanted the cloud after it died");
    assert!(
        second
            .outcomes
            .iter()
            .all(|o| o.exit != meanet_core::Exit::Cloud)
    );
    // Hang guard, not a timing assertion: ten times the worst case of every batch waiting out
    // the whole deadline (the breaker keeps the real run far below it). Exact deadline timing is
    // tested on paused time in meanet-transport.
    let batches = half.div_ceil(32) as u32;
    let hang_guard = settings.cloud.retry().deadline * batches * 10;
    assert!(took < hang_guard, "hang guard: took {took:?}");
}
