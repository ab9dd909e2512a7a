//! The cloud killed and restarted in the middle of a run, over HTTP and QUIC: every sample gets
//! an outcome, degraded ones are counted, none is lost, and the link recovers once the server is
//! back and stays recovered.
//!
//! Nothing here is a wall-clock bound. That a call never outlasts the link's deadline, and that
//! an open breaker answers at once, are timed exactly on tokio's paused clock in
//! meanet-transport's resilience tests; each batch here runs under a hang guard only.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use meanet_core::{BlockCosts, ClassPartition, CloudLink, CloudOnly, Exit, Pipeline};
use meanet_onnx::{OrtClassifier, OrtMainBlock, Runtime};
use meanet_transport::{
    HttpLink, HttpLinkConfig, QuicLink, QuicLinkConfig, RetryPolicy, RunningServer, Server,
    ServerConfig, TlsFiles, Trust,
};
use ndarray::{Array, ArrayD, IxDyn};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/meanet-onnx/tests/fixtures")
        .join(name)
}

const DEADLINE: Duration = Duration::from_millis(250);

/// Hang guard for one batch, not a timing assertion: 100 times the deadline.
const HANG_GUARD: Duration = Duration::from_secs(25);

fn policy() -> RetryPolicy {
    RetryPolicy {
        deadline: DEADLINE,
        retries: 1,
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        breaker_threshold: 3,
        breaker_cooldown: Duration::from_millis(150),
    }
}

async fn start(rt: &Runtime, http: SocketAddr, quic: SocketAddr, tls: &TlsFiles) -> RunningServer {
    // A just-killed server's ports free up after its connections drain: retry for a while.
    for _ in 0..100 {
        let model =
            OrtClassifier::new(meanet_onnx::open(rt, fixture("cloud.onnx")).unwrap()).unwrap();
        let cfg = ServerConfig {
            model_name: "cloud".into(),
            http: Some(http),
            quic: Some(quic),
            tls: None,
            ..ServerConfig::default()
        };
        let cfg = ServerConfig {
            tls: Some(tls.clone()),
            ..cfg
        };
        match Server::start(Box::new(model), cfg).await {
            Ok(s) => return s,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    panic!("could not restart the server");
}

async fn run(quic: bool) {
    let rt = Runtime::with_defaults().expect("ONNX Runtime (run scripts/setup)");
    let dir = std::env::temp_dir().join(format!("meanet-faults-{}-{quic}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = meanet_transport::self_signed(&["localhost"]).unwrap();
    let tls = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&tls.cert, &cert.cert_pem).unwrap();
    std::fs::write(&tls.key, &cert.key_pem).unwrap();

    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut server = Some(start(&rt, any, any, &tls).await);
    let (http_addr, quic_addr) = {
        let s = server.as_ref().unwrap();
        (s.http_addr().unwrap(), s.quic_addr().unwrap())
    };
    let link: Box<dyn CloudLink> = if quic {
        Box::new(
            QuicLink::new(QuicLinkConfig {
                retry: policy(),
                ..QuicLinkConfig::new(quic_addr, Trust::PemFile(tls.cert.clone()))
            })
            .unwrap(),
        )
    } else {
        let url = format!("https://localhost:{}", http_addr.port());
        Box::new(
            HttpLink::new(HttpLinkConfig {
                retry: policy(),
                ca_cert: Some(tls.cert.clone()),
                ..HttpLinkConfig::new(url, "cloud")
            })
            .unwrap(),
        )
    };

    let main = OrtMainBlock::new(meanet_onnx::open(&rt, fixture("main.onnx")).unwrap()).unwrap();
    let mut p = Pipeline::new(
        Box::new(main),
        None,
        ClassPartition::try_new(6, vec![0]).unwrap(),
        Box::new(CloudOnly),
        BlockCosts::default(),
    );
    let size = 10;
    let mut b = 0usize;
    // One batch of `size` samples through the pipeline; returns how many came back degraded.
    let mut outcomes = Vec::new();
    let mut route = async |p: &mut Pipeline| {
        let x: ArrayD<f32> = Array::from_shape_fn(IxDyn(&[size, 1, 8, 8]), |ix| {
            ((b * size + ix[0]) as f32 * 0.37 + ix[3] as f32).sin()
        });
        b += 1;
        let out = tokio::time::timeout(HANG_GUARD, p.route(x.view(), Some(link.as_ref())))
            .await
            .expect("hang guard: a batch took 100 times the link's deadline")
            .unwrap();
        assert_eq!(out.len(), size, "no sample lost");
        let degraded = out.iter().filter(|o| o.is_degraded()).count();
        outcomes.extend(out);
        degraded
    };

    let mut healthy = Vec::new();
    for _ in 0..30 {
        healthy.push(route(&mut p).await);
    }
    assert!(
        healthy.iter().all(|&d| d == 0),
        "healthy before the kill: {healthy:?}"
    );

    server.take().unwrap().abort();
    let mut down = Vec::new();
    for _ in 0..30 {
        down.push(route(&mut p).await);
    }
    assert!(
        down.iter().all(|&d| d == size),
        "all degraded while down: {down:?}"
    );

    server = Some(start(&rt, http_addr, quic_addr, &tls).await);
    // Recovery: once the breaker's cool-down has passed, a trial call reaches the restarted
    // server. Counted in batches, not seconds: route (waiting out a cool-down after each failed
    // batch) until one batch is wholly answered by the cloud; a bounded number of tries.
    let mut until_recovered = 0;
    loop {
        tokio::time::sleep(policy().breaker_cooldown).await;
        until_recovered += 1;
        if route(&mut p).await == 0 {
            break;
        }
        assert!(until_recovered < 100, "no recovery in 100 cool-downs");
    }
    let mut after = Vec::new();
    for _ in 0..30 {
        after.push(route(&mut p).await);
    }
    let degraded = outcomes.iter().filter(|o| o.is_degraded()).count();
    eprintln!(
        "{}: {} outcomes, {degraded} degraded, recovered at try {until_recovered}",
        if quic { "QUIC" } else { "HTTP" },
        outcomes.len()
    );
    assert!(after.iter().all(|&d| d == 0), "stays recovered: {after:?}");
    assert_eq!(outcomes.len(), b * size, "no sample lost");
    assert!(
        outcomes
            .iter()
            .all(|o| o.exit == Exit::Cloud || o.is_degraded())
    );
    server.unwrap().shutdown(Duration::from_secs(1)).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_cloud_killed_and_restarted_mid_run() {
    run(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_cloud_killed_and_restarted_mid_run() {
    run(true).await;
}
