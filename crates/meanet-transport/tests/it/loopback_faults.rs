//! Real servers and clients on 127.0.0.1 under faults: a server that is down, slow, restarted,
//! and HTTPS with a user certificate.

use std::time::{Duration, Instant};

use meanet_core::{CloudError, CloudLink};
use meanet_transport::{
    HttpLink, HttpLinkConfig, QuicLink, QuicLinkConfig, RetryPolicy, Server, ServerConfig, Trust,
};

use crate::common;
use common::*;

fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        deadline: Duration::from_millis(300),
        retries: 2,
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        breaker_threshold: 3,
        breaker_cooldown: Duration::from_millis(500),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_down_is_unreachable_then_the_breaker_fails_fast() {
    // Bind and drop a listener to get a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let link = HttpLink::new(HttpLinkConfig {
        retry: fast_policy(),
        ..HttpLinkConfig::new(format!("http://127.0.0.1:{port}"), "toy")
    })
    .unwrap();
    // That an attempt never outlasts the deadline, and that an open breaker answers at once
    // without sending, are timed exactly on tokio's paused clock in the resilience unit tests
    // (`a_slow_server_costs_exactly_the_deadline`, `breaker_opens_then_...`). Here, over a real
    // socket, only the kinds of error are checked, under a hang guard.
    for _ in 0..3 {
        let err = hang_guard(link.classify(batch(1))).await.unwrap_err();
        assert!(matches!(err, CloudError::Unreachable(_)), "{err}");
    }
    assert!(matches!(
        hang_guard(link.classify(batch(1))).await,
        Err(CloudError::CircuitOpen)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_server_is_cut_off_at_the_deadline_over_http_and_quic() {
    // The server answers after 10 minutes: an answer at all means the deadline was ignored.
    let s = start(Duration::from_secs(600), config()).await;
    let http = HttpLink::new(HttpLinkConfig {
        retry: fast_policy(),
        ..HttpLinkConfig::new(url(&s), "toy")
    })
    .unwrap();
    let trust = Trust::Der(s.quic_certificate().unwrap().to_vec());
    let quic = QuicLink::new(QuicLinkConfig {
        retry: fast_policy(),
        ..quic_config(s.quic_addr().unwrap(), trust)
    })
    .unwrap();
    for link in [&http as &dyn CloudLink, &quic] {
        let start = Instant::now();
        let err = hang_guard(link.classify(batch(1))).await.unwrap_err();
        let took = start.elapsed();
        assert!(matches!(err, CloudError::Timeout(_)), "{err}");
        // A lower bound cannot flake (a timer never fires early); that the call ends at the
        // deadline exactly is checked on paused time in the resilience unit tests.
        assert!(took >= Duration::from_millis(300), "{took:?}");
    }
    s.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_reconnects_after_a_server_restart() {
    let s = start(Duration::ZERO, config()).await;
    let addr = s.quic_addr().unwrap();
    let cert = s.quic_certificate().unwrap().to_vec();
    let link = QuicLink::new(QuicLinkConfig {
        retry: fast_policy(),
        ..quic_config(addr, Trust::Der(cert.clone()))
    })
    .unwrap();
    assert!(link.classify(batch(2)).await.is_ok());
    s.abort();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let down = link.classify(batch(2)).await.unwrap_err();
    assert!(
        matches!(down, CloudError::Unreachable(_) | CloudError::Timeout(_)),
        "{down}"
    );
    // Restart on the same port with a server trusting... a new certificate: the client must be
    // told the new one, as a redeployed server would publish it.
    let tls = meanet_transport::self_signed(&["localhost"]).unwrap();
    let dir = std::env::temp_dir().join(format!("meanet-quic-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("c.pem"), dir.join("k.pem"));
    std::fs::write(&cert_path, &tls.cert_pem).unwrap();
    std::fs::write(&key_path, &tls.key_pem).unwrap();
    let cfg = ServerConfig {
        http: None,
        quic: Some(addr),
        tls: Some(meanet_transport::TlsFiles {
            cert: cert_path.clone(),
            key: key_path,
        }),
        ..config()
    };
    // The old endpoint frees its UDP port once its connections have drained.
    let mut s2 = None;
    for _ in 0..60 {
        match Server::start(
            Box::new(Toy {
                delay: Duration::ZERO,
            }),
            cfg.clone(),
        )
        .await
        {
            Ok(s) => {
                s2 = Some(s);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let s2 = s2.expect("restarted on the same port");
    let link2 = QuicLink::new(QuicLinkConfig {
        retry: fast_policy(),
        ..quic_config(addr, Trust::PemFile(cert_path))
    })
    .unwrap();
    let x = batch(3);
    assert_eq!(
        link2.classify(x.clone()).await.unwrap().logits,
        expected(&x)
    );
    s2.shutdown(Duration::from_secs(1)).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_user_certificate() {
    let tls = meanet_transport::self_signed(&["localhost"]).unwrap();
    let dir = std::env::temp_dir().join(format!("meanet-https-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, &tls.cert_pem).unwrap();
    std::fs::write(&key, &tls.key_pem).unwrap();
    let s = start(
        Duration::ZERO,
        ServerConfig {
            quic: None,
            tls: Some(meanet_transport::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            ..config()
        },
    )
    .await;
    let url = format!("https://localhost:{}", s.http_addr().unwrap().port());
    let link = HttpLink::new(HttpLinkConfig {
        ca_cert: Some(cert.clone()),
        ..HttpLinkConfig::new(url.clone(), "toy")
    })
    .unwrap();
    let x = batch(2);
    assert_eq!(link.classify(x.clone()).await.unwrap().logits, expected(&x));
    // Without trusting the certificate, the handshake fails: the TLS cause (not a hang, not
    // `unreachable`), with rustls' reason (an issuer it does not know) in the chain.
    let untrusting = HttpLink::new(HttpLinkConfig {
        retry: fast_policy(),
        ..HttpLinkConfig::new(url, "toy")
    })
    .unwrap();
    match untrusting.classify(x).await {
        Err(e @ CloudError::Tls(_)) => {
            let mut chain = Vec::new();
            let mut next: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            while let Some(err) = next {
                chain.push(err.to_string());
                next = err.source();
            }
            let chain = chain.join(": ");
            assert!(chain.contains("UnknownIssuer"), "{chain}");
        }
        other => panic!("expected a TLS failure, got {other:?}"),
    }
    // A missing key file is a clear start-up error.
    let err = Server::start(
        Box::new(Toy {
            delay: Duration::ZERO,
        }),
        ServerConfig {
            tls: Some(meanet_transport::TlsFiles {
                cert,
                key: dir.join("missing.pem"),
            }),
            ..config()
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("missing.pem"), "{err}");
    s.shutdown(Duration::from_secs(1)).await;
    std::fs::remove_dir_all(&dir).unwrap();
}
