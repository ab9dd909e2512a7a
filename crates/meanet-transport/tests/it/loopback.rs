//! Real servers on 127.0.0.1:0, real clients: the v2 endpoints, errors, auth, QUIC (faults are
//! in `loopback_faults`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use std::time::Duration;

use meanet_core::{CloudError, CloudLink};
use meanet_transport::{
    BatchConfig, HttpLink, HttpLinkConfig, QuicLink, QuicLinkConfig, RetryPolicy, ServerConfig,
    Trust,
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
        // The server reports its own time (Server-Timing), within the time to answer.
        let server = reply.server_time.expect("the server's own time");
        assert!(server.0 >= 0.0 && server.0 <= reply.latency.0, "{reply:?}");
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
        let reply = link.classify(x.clone()).await.unwrap();
        assert_eq!(reply.logits, expected(&x));
        // QUIC's metadata carries the server's own time as HTTP's header does.
        let server = reply.server_time.expect("the server's own time");
        assert!(server.0 >= 0.0 && server.0 <= reply.latency.0, "{reply:?}");
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
    // The handshake fails on the certificate: the TLS cause, with rustls' reason inside.
    match untrusting.classify(batch(1)).await {
        Err(e @ CloudError::Tls(_)) => {
            let reason = std::error::Error::source(&e)
                .map(ToString::to_string)
                .unwrap_or_default();
            assert!(reason.contains("certificate"), "{reason}");
        }
        other => panic!("expected a TLS failure, got {other:?}"),
    }
    s.shutdown(Duration::from_secs(1)).await;
}
