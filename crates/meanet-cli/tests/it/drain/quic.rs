//! `meanet serve` over HTTP and QUIC at once: the QUIC client and its drain test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use super::*;

/// What the QUIC client saw.
#[derive(Debug, Default)]
struct QuicSeen {
    ok: AtomicUsize,
    ok_after_signal: AtomicUsize,
    /// A stream reset: a request the server had taken, dropped.
    resets: AtomicUsize,
    /// Anything else that is neither an answer nor the documented refusal.
    errors: Mutex<Vec<String>>,
    /// The refusal that ended the client after the signal.
    refused: Mutex<Option<String>>,
}

/// Posts one sample at a time over QUIC until `stop`, or until the server refuses after
/// `signalled` as docs/edge.md says it does: no new connection, and open connections closed
/// with code 0, `draining`, once their requests are answered.
async fn quic_client(
    addr: SocketAddr,
    cert: std::path::PathBuf,
    seen: Arc<QuicSeen>,
    signalled: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) {
    use meanet_core::{CloudError, CloudLink};
    let cfg = meanet_transport::QuicLinkConfig {
        server_name: "localhost".into(),
        retry: meanet_transport::RetryPolicy {
            retries: 0,
            deadline: Duration::from_secs(10),
            breaker_threshold: u32::MAX,
            ..meanet_transport::RetryPolicy::default()
        },
        ..meanet_transport::QuicLinkConfig::new(addr, meanet_transport::Trust::PemFile(cert))
    };
    let link = meanet_transport::QuicLink::new(cfg).unwrap();
    let x = ndarray::ArrayD::<f32>::zeros(ndarray::IxDyn(&[1, 1, 28, 28]));
    while !stop.load(Ordering::SeqCst) {
        let after = signalled.load(Ordering::SeqCst);
        match link.classify(x.clone()).await {
            Ok(_) => {
                seen.ok.fetch_add(1, Ordering::SeqCst);
                if after {
                    seen.ok_after_signal.fetch_add(1, Ordering::SeqCst);
                }
            }
            Err(e) => {
                let text = format!(
                    "{e}: {}",
                    std::error::Error::source(&e)
                        .map(ToString::to_string)
                        .unwrap_or_default()
                );
                // The documented refusals: the connection closed with `draining` (a stream the
                // server no longer accepts), or a new connection refused (CONNECTION_REFUSED).
                let lower = text.to_ascii_lowercase();
                let refusal = after
                    && matches!(e, CloudError::Unreachable(_))
                    && (lower.contains("draining") || lower.contains("refused"));
                if refusal {
                    *seen.refused.lock().unwrap() = Some(text);
                    return;
                }
                if text.contains("reset") {
                    seen.resets.fetch_add(1, Ordering::SeqCst);
                }
                seen.errors.lock().unwrap().push(text);
            }
        }
    }
}

#[test]
fn serve_drains_on_sigterm_over_http_and_quic() {
    let dir = std::env::temp_dir().join(format!("meanet-drain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = dir.join("quic.pem");
    let b = bundle();
    let mut args = vec![
        "serve",
        b.as_str(),
        "--http",
        "127.0.0.1:0",
        "--quic",
        "127.0.0.1:0",
        "--quic-cert-out",
        cert.to_str().unwrap(),
    ];
    args.extend(DRAIN);
    let (mut p, first) = spawn(&args);
    let http: SocketAddr = address_after(&first[0], "http://")
        .unwrap()
        .parse()
        .unwrap();
    let quic: SocketAddr = first[1]
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no QUIC address in {:?}", first[1]));
    // A QUIC client posting in a loop, on its own runtime: answers (before and after the
    // signal), the documented refusal after it (ends the client), anything else an error.
    let quic_seen = Arc::new(QuicSeen::default());
    let signalled = Arc::new(AtomicBool::new(false));
    let quic_stop = Arc::new(AtomicBool::new(false));
    let quic_client = {
        let (seen, stop, cert, signalled) = (
            Arc::clone(&quic_seen),
            Arc::clone(&quic_stop),
            cert.clone(),
            Arc::clone(&signalled),
        );
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(quic_client(quic, cert, seen, signalled, stop));
        })
    };
    wait_until("8 QUIC answers before the signal", || {
        quic_seen.ok.load(Ordering::SeqCst) >= 8
    });
    let body = serde_json::json!({"inputs": [{
        "name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32",
        "data": vec![0.0f32; SAMPLE],
    }]})
    .to_string()
    .into_bytes();
    let seen = drain_under_load(&mut p, http, "/v2/models/cloud/infer", body, signalled);
    quic_stop.store(true, Ordering::SeqCst);
    quic_client.join().unwrap();
    let q = &quic_seen;
    assert_eq!(
        q.resets.load(Ordering::SeqCst),
        0,
        "QUIC stream resets: {q:?}"
    );
    let errors = q.errors.lock().unwrap().clone();
    assert!(
        errors.is_empty(),
        "QUIC errors other than the drain's refusal: {errors:?}"
    );
    assert!(
        q.ok_after_signal.load(Ordering::SeqCst) > 0,
        "QUIC requests answered after the signal: {q:?}"
    );
    eprintln!(
        "serve drain: {} HTTP answers ({} after SIGTERM), {} QUIC answers ({} after SIGTERM), QUIC refused after the signal: {}",
        seen.ok.load(Ordering::SeqCst),
        seen.ok_after_signal.load(Ordering::SeqCst),
        q.ok.load(Ordering::SeqCst),
        q.ok_after_signal.load(Ordering::SeqCst),
        q.refused
            .lock()
            .unwrap()
            .as_deref()
            .unwrap_or("no (stopped first)")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
