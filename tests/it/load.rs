//! A CI-sized load run: 64 concurrent clients against the v2 server with dynamic batching, below
//! the queue limit: every request answered, none fails. (The full comparison with batching off
//! is the `load` bench.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use std::path::PathBuf;
use std::time::Duration;

use meanet_onnx::{OrtClassifier, Runtime};
use meanet_transport::{BatchConfig, Server, ServerConfig};
use ndarray::{ArrayD, IxDyn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_clients_get_every_answer_below_the_queue_limit() {
    let model = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/meanet-onnx/tests/fixtures/cloud.onnx");
    let rt = Runtime::with_defaults().expect("ONNX Runtime (run scripts/setup)");
    let cfg = ServerConfig {
        model_name: "m".into(),
        http: Some("127.0.0.1:0".parse().unwrap()),
        batch: BatchConfig {
            max_batch: 32,
            max_delay: Duration::from_millis(2),
            queue_capacity: 128,
        },
        ..ServerConfig::default()
    };
    let server = Server::start(
        Box::new(OrtClassifier::new(meanet_onnx::open(&rt, &model).unwrap()).unwrap()),
        cfg,
    )
    .await
    .unwrap();
    let url = format!("http://{}", server.http_addr().unwrap());
    let sample = ArrayD::from_elem(IxDyn(&[1, 1, 8, 8]), 0.25f32);
    let stats = meanet_tests::load::run(&url, "m", &sample, 64, 10).await;
    eprintln!("{stats:?}");
    assert_eq!(stats.errors, 0);
    assert_eq!(stats.ok, 640);
    let metrics = reqwest_free_metrics(&url).await;
    assert!(metrics.contains("meanet_batch_size_count"), "{metrics}");
    server.shutdown(Duration::from_secs(2)).await;
}

/// Reads /metrics with a raw HTTP/1.1 request (the tests package keeps its dependencies small).
async fn reqwest_free_metrics(url: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}
