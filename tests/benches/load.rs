//! Dynamic batching under load: 64 concurrent clients on loopback against `meanet`'s v2 server
//! serving a cloud-sized model, with batching on and off, measured in the same run.
//!
//! Prints throughput (requests/s), p50/p99 latency and errors for both, and the throughput ratio
//! batching-on / batching-off. A regression means the batcher adds latency or stops merging.
//! Target (transport issue): ratio >= 2 on the reference cloud model or a fixture of similar cost.
//!
//! `cargo bench -p meanet-tests --bench load [-- MODEL.onnx]` (default: the cloud-sized fixture
//! `cloud_like.onnx`, ~22 MMAC per sample). Needs `scripts/setup`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a benchmark binary

use std::path::PathBuf;
use std::time::Duration;

use meanet_onnx::{OrtClassifier, Runtime};
use meanet_transport::{BatchConfig, Server, ServerConfig};
use ndarray::{ArrayD, IxDyn};

fn main() {
    let model = std::env::args()
        .skip(1)
        .find(|a| a.ends_with(".onnx"))
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../crates/meanet-onnx/tests/fixtures/cloud_like.onnx")
        });
    let (clients, per_client) = (64, 40);
    let rt = Runtime::with_defaults().expect("ONNX Runtime (run scripts/setup)");
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "load: {clients} clients x {per_client} one-sample requests, {}",
        model.display()
    );
    println!(
        "{:<14} {:>10} {:>10} {:>10} {:>7}",
        "batching", "req/s", "p50 ms", "p99 ms", "errors"
    );
    let mut results = Vec::new();
    for (name, max_batch) in [("off (1)", 1usize), ("on (64, 2ms)", 64)] {
        let stats = tokio_rt.block_on(async {
            let classifier =
                OrtClassifier::new(meanet_onnx::open(&rt, &model).expect("open the model"))
                    .unwrap();
            let shape: Vec<usize> = meanet_core::Network::signature(classifier.network()).inputs[0]
                .shape
                .iter()
                .map(|d| d.unwrap_or(1))
                .collect();
            let sample =
                ArrayD::from_shape_fn(IxDyn(&shape), |ix| ((ix[2] * 3 + ix[3]) % 7) as f32 / 7.0);
            let cfg = ServerConfig {
                model_name: "m".into(),
                http: Some("127.0.0.1:0".parse().unwrap()),
                batch: BatchConfig {
                    max_batch,
                    max_delay: Duration::from_millis(2),
                    queue_capacity: 1024,
                },
                ..ServerConfig::default()
            };
            let server = Server::start(Box::new(classifier), cfg).await.unwrap();
            let url = format!("http://{}", server.http_addr().unwrap());
            // Warm-up, then the measured run.
            meanet_tests::load::run(&url, "m", &sample, clients, 2).await;
            let stats = meanet_tests::load::run(&url, "m", &sample, clients, per_client).await;
            server.shutdown(Duration::from_secs(2)).await;
            stats
        });
        println!(
            "{name:<14} {:>10.0} {:>10.2} {:>10.2} {:>7}",
            stats.throughput,
            stats.p50.as_secs_f64() * 1e3,
            stats.p99.as_secs_f64() * 1e3,
            stats.errors
        );
        results.push(stats);
    }
    println!(
        "throughput ratio on/off: {:.2}",
        results[1].throughput / results[0].throughput
    );
}
