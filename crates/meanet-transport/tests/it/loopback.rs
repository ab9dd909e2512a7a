//! Real servers on 127.0.0.1:0, real clients: the v2 endpoints, errors, auth, QUIC, faults.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use std::time::{Duration, Instant};

use meanet_core::{CloudError, CloudLink};
use meanet_transport::{
    BatchConfig, HttpLink, HttpLinkConfig, QuicLink, QuicLinkConfig, RetryPolicy, Server,
    ServerConfig, Trust,
};
use ndarray::{ArrayD, IxDyn};
use serde_json::{Value, json};

use crate::common;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_json_and_binary_round_trips_and_metadata() {
    let s = start(Duration::ZERO, config()).await;
    let http = reqwest::Client::new();
    let base = url(&s);
    for path in [
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/toy/ready",
    ] {
        assert_eq!(
            http.get(format!("{base}{path}"))
                .send()
                .await
                .unwrap()
                .status(),
            200,
            "{path}"
        );
    }
    let meta: Value = http
        .get(format!("{base}/v2/models/toy"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        meta["inputs"][0],
        json!({"name": "input", "datatype": "FP32", "shape": [-1, 1, 2, 2]})
    );
    assert_eq!(meta["outputs"][0]["shape"], json!([-1, 3]));

    // Plain JSON, as any v2 client would send it.
    let body = json!({"id": "r1", "inputs": [{"name": "input", "shape": [1, 1, 2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}]});
    let resp: Value = http
        .post(format!("{base}/v2/models/toy/infer"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp["id"], "r1");
    assert_eq!(resp["model_name"], "toy");
    assert_eq!(resp["outputs"][0]["data"], json!([10.0, -10.0, 2.0]));

    // Binary extension through the client link, and JSON through it too.
    let x = batch(5);
    for binary in [true, false] {
        let link = HttpLink::new(HttpLinkConfig {
            binary,
            ..HttpLinkConfig::new(base.clone(), "toy")
        })
        .unwrap();
        let reply = link.classify(x.clone()).await.unwrap();
        assert_eq!(reply.logits, expected(&x));
        assert!(reply.bytes_sent.0 > 0 && reply.bytes_received.0 > 0);
    }
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("meanet_requests_total"), "{metrics}");
    assert!(metrics.contains("meanet_batch_size_bucket"), "{metrics}");
    s.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_4xx_in_the_v2_error_shape() {
    let s = start(
        Duration::ZERO,
        ServerConfig {
            max_body_bytes: 4096,
            ..config()
        },
    )
    .await;
    let http = reqwest::Client::new();
    let infer = format!("{}/v2/models/toy/infer", url(&s));
    let input = |shape: Value, dtype: &str, data: Value| json!({"inputs": [{"name": "input", "shape": shape, "datatype": dtype, "data": data}]});
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            http.post(&infer).body("{oops"),
            400,
            "malformed inference request",
        ),
        (
            http.post(&infer)
                .json(&input(json!([1, 1, 3, 3]), "FP32", json!(vec![0.0; 9]))),
            400,
            "does not match the model input",
        ),
        (
            http.post(&infer)
                .json(&input(json!([1, 1, 2, 2]), "INT32", json!([1, 2, 3, 4]))),
            400,
            "the model takes FP32",
        ),
        (
            http.post(&infer).body(vec![b' '; 10_000]),
            413,
            "exceeds the 4096 byte limit",
        ),
        (
            http.post(format!("{}/v2/models/nope/infer", url(&s)))
                .json(&input(json!([1, 1, 2, 2]), "FP32", json!([1, 2, 3, 4]))),
            404,
            "unknown model",
        ),
    ];
    for (req, status, msg) in cases {
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), status);
        let body: Value = resp.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains(msg), "{body}");
    }
    s.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_rejects_missing_and_wrong_tokens() {
    let s = start(
        Duration::ZERO,
        ServerConfig {
            auth_token: Some("s3cret".into()),
            ..config()
        },
    )
    .await;
    let x = batch(1);
    for token in [None, Some("wrong".to_string())] {
        let link = HttpLink::new(HttpLinkConfig {
            token,
            ..HttpLinkConfig::new(url(&s), "toy")
        })
        .unwrap();
        let err = link.classify(x.clone()).await.unwrap_err();
        assert!(
            matches!(err, CloudError::Unauthorized { status: 401, .. }),
            "{err}"
        );
    }
    let ok = HttpLink::new(HttpLinkConfig {
        token: Some("s3cret".into()),
        ..HttpLinkConfig::new(url(&s), "toy")
    })
    .unwrap();
    assert_eq!(ok.classify(x.clone()).await.unwrap().logits, expected(&x));
    // Health stays open for probes.
    let live = reqwest::get(format!("{}/v2/health/live", url(&s)))
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    s.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_503_with_retry_after() {
    let cfg = ServerConfig {
        batch: BatchConfig {
            max_batch: 1,
            max_delay: Duration::ZERO,
            queue_capacity: 1,
        },
        ..config()
    };
    let s = start(Duration::from_millis(300), cfg).await;
    let http = reqwest::Client::new();
    let infer = format!("{}/v2/models/toy/infer", url(&s));
    let body = json!({"inputs": [{"name": "input", "shape": [1, 1, 2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}]});
    let sends: Vec<_> = (0..6)
        .map(|_| http.post(&infer).json(&body).send())
        .collect();
    let resps = futures::future::join_all(sends).await;
    let statuses: Vec<u16> = resps
        .iter()
        .map(|r| r.as_ref().unwrap().status().as_u16())
        .collect();
    assert!(statuses.contains(&200), "{statuses:?}");
    let rejected = resps
        .iter()
        .map(|r| r.as_ref().unwrap())
        .find(|r| r.status() == 503)
        .expect("some 503");
    assert_eq!(rejected.headers()["retry-after"], "1");
    s.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_round_trip_and_errors() {
    let s = start(Duration::ZERO, config()).await;
    let trust = Trust::Der(s.quic_certificate().unwrap().to_vec());
    let link = QuicLink::new(quic_config(s.quic_addr().unwrap(), trust.clone())).unwrap();
    for n in [1, 7, 3] {
        let x = batch(n);
        assert_eq!(link.classify(x.clone()).await.unwrap().logits, expected(&x));
    }
    let wrong = ArrayD::<f32>::zeros(IxDyn(&[1, 3]));
    let err = link.classify(wrong).await.unwrap_err();
    assert!(
        matches!(err, CloudError::Rejected { status: 400, ref message } if message.contains("does not match")),
        "{err}"
    );
    // A client trusting another certificate cannot connect.
    let other = meanet_transport::self_signed(&["localhost"]).unwrap();
    let untrusting = QuicLink::new(QuicLinkConfig {
        retry: RetryPolicy {
            retries: 0,
            ..RetryPolicy::default()
        },
        ..quic_config(s.quic_addr().unwrap(), Trust::Der(other.cert_der))
    })
    .unwrap();
    assert!(matches!(
        untrusting.classify(batch(1)).await,
        Err(CloudError::Unreachable(_))
    ));
    s.shutdown(Duration::from_secs(1)).await;
}

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
    // Without trusting the certificate, the handshake fails: unreachable, not a hang.
    let untrusting = HttpLink::new(HttpLinkConfig {
        retry: fast_policy(),
        ..HttpLinkConfig::new(url, "toy")
    })
    .unwrap();
    assert!(matches!(
        untrusting.classify(x).await,
        Err(CloudError::Unreachable(_))
    ));
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
