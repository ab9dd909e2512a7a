//! The cloud killed and restarted in the middle of a run of 1,000 samples, over HTTP and QUIC:
//! every sample gets an outcome, degraded ones are counted, none is lost, and no batch waits
//! longer than the link's deadline.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use meanet_cli::wiring::Served;
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
        let model = OrtClassifier::load(rt, fixture("cloud.onnx")).unwrap();
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
        match Server::start(Box::new(Served::from(model)), cfg).await {
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

    let main = OrtMainBlock::load(&rt, fixture("main.onnx")).unwrap();
    let mut p = Pipeline::new(
        Box::new(main),
        None,
        ClassPartition::try_new(6, vec![0]).unwrap(),
        Box::new(CloudOnly),
        BlockCosts::default(),
    );
    let (batches, size) = (100, 10);
    let mut outcomes = Vec::new();
    let mut slowest = Duration::ZERO;
    let mut degraded_by_batch = Vec::new();
    for b in 0..batches {
        if b == 30 {
            server.take().unwrap().abort();
        }
        if b == 60 {
            server = Some(start(&rt, http_addr, quic_addr, &tls).await);
            // Let the breaker's cool-down pass, as real traffic would.
            tokio::time::sleep(policy().breaker_cooldown).await;
        }
        let x: ArrayD<f32> = Array::from_shape_fn(IxDyn(&[size, 1, 8, 8]), |ix| {
            ((b * size + ix[0]) as f32 * 0.37 + ix[3] as f32).sin()
        });
        let t = Instant::now();
        let out = p.route(x.view(), Some(link.as_ref())).await.unwrap();
        slowest = slowest.max(t.elapsed());
        degraded_by_batch.push(out.iter().filter(|o| o.is_degraded()).count());
        outcomes.extend(out);
    }
    let degraded: usize = degraded_by_batch.iter().sum();
    eprintln!(
        "{}: {} outcomes, {degraded} degraded, slowest batch {slowest:?} (deadline {DEADLINE:?})",
        if quic { "QUIC" } else { "HTTP" },
        outcomes.len()
    );
    assert_eq!(outcomes.len(), batches * size, "no sample lost");
    assert!(
        outcomes
            .iter()
            .all(|o| o.exit == Exit::Cloud || o.is_degraded())
    );
    assert!(
        degraded_by_batch[..30].iter().all(|&d| d == 0),
        "healthy before the kill"
    );
    assert!(
        degraded_by_batch[30..60].iter().all(|&d| d == size),
        "all degraded while down"
    );
    assert!(
        degraded_by_batch[70..].iter().all(|&d| d == 0),
        "recovered after the restart: {degraded_by_batch:?}"
    );
    assert!(
        slowest <= DEADLINE + Duration::from_millis(150),
        "a batch waited {slowest:?}"
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
