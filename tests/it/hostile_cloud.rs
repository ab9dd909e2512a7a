//! A hostile cloud: it answers 200 with a reply whose shape declares 2^61 - 1 rows (the twin
//! of the 90-byte request). The edge must not allocate for it or crash: every offloaded sample
//! gets exactly one outcome, degraded with the cause `invalid_reply`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use std::path::Path;

use meanet_core::{BlockCosts, ClassPartition, CloudErrorKind, CloudOnly, Pipeline};
use meanet_onnx::{OrtMainBlock, Runtime};
use meanet_transport::{HttpLink, HttpLinkConfig, RetryPolicy};
use ndarray::{Array, IxDyn};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves `reply` (a JSON body, status 200) to every request, reading each request whole first.
pub(crate) async fn hostile_cloud(reply: &'static str) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 8192];
                // Headers, then Content-Length bytes of body.
                loop {
                    let Ok(n) = s.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    req.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&req).to_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len: usize = text
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if req.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                    reply.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_reply_degrades_the_offloads_and_loses_nothing() {
    let reply = r#"{"model_name":"cloud","outputs":[{"name":"logits","shape":[2305843009213693951,6],"datatype":"FP32","data":[1]}]}"#;
    let addr = hostile_cloud(reply).await;
    let link = HttpLink::new(HttpLinkConfig {
        retry: RetryPolicy {
            retries: 0,
            ..RetryPolicy::default()
        },
        ..HttpLinkConfig::new(format!("http://{addr}"), "cloud")
    })
    .unwrap();
    let rt = Runtime::with_defaults().expect("ONNX Runtime (run scripts/setup)");
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/meanet-onnx/tests/fixtures");
    let main =
        OrtMainBlock::new(meanet_onnx::open(&rt, fixture.join("main.onnx")).unwrap()).unwrap();
    let mut p = Pipeline::new(
        Box::new(main),
        None,
        ClassPartition::try_new(6, vec![0]).unwrap(),
        Box::new(CloudOnly),
        BlockCosts::default(),
    );
    let n = 12;
    let x = Array::from_shape_fn(IxDyn(&[n, 1, 8, 8]), |ix| {
        (ix[0] as f32 * 0.3 + ix[3] as f32).sin()
    });
    let out = p.route(x.view(), Some(&link)).await.unwrap();
    assert_eq!(out.len(), n, "one outcome per sample");
    for (i, o) in out.iter().enumerate() {
        assert_eq!(o.index, i);
        assert_eq!(o.degraded, Some(CloudErrorKind::InvalidReply), "{o:?}");
    }
}
