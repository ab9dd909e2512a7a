//! Connection limits and the drain, on a real server over loopback TCP: clients that trickle
//! headers are closed by the header-read timeout while a valid request is answered, the
//! connection cap holds, idle connections are closed, and a drain answers what it accepted
//! while readiness says 503.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use std::net::SocketAddr;
use std::time::Duration;

use meanet_transport::{Limits, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common;

const BODY: &str =
    r#"{"inputs":[{"name":"input","shape":[1,1,2,2],"datatype":"FP32","data":[1,2,3,4]}]}"#;

fn http_only(limits: Limits) -> ServerConfig {
    ServerConfig {
        quic: None,
        limits,
        ..common::config()
    }
}

/// One HTTP/1.1 request on `stream`; the status, or `None` when the connection ended first.
async fn status_on(stream: &mut TcpStream, method: &str, path: &str, body: &str) -> Option<u16> {
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some(end) = text.find("\r\n\r\n") {
            let head = &text[..end];
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return head.split(' ').nth(1)?.parse().ok();
            }
        }
    }
}

async fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> Option<u16> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    status_on(&mut s, method, path, body).await
}

/// How long a connection the server should close may stay open before the test says it was
/// not closed: many times every limit these tests set (at most 1 s), so only a server that
/// never closes it fails, never a slow machine.
const CLOSE_WITHIN: Duration = Duration::from_secs(10);

/// Reads until the server closes the connection (EOF or reset): true; false when it is still
/// open after [`CLOSE_WITHIN`].
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut chunk = [0u8; 1024];
    let closed = async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(CLOSE_WITHIN, closed).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_headers_are_cut_off_while_a_valid_request_is_answered() {
    let server = common::start(
        Duration::ZERO,
        http_only(Limits {
            header_read_timeout: Duration::from_millis(300),
            ..Limits::default()
        }),
    )
    .await;
    let addr = server.http_addr().unwrap();
    // Slow clients: a partial request line, then one header line every 100 ms, forever.
    let mut slow = Vec::new();
    for _ in 0..8 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"POST /v2/models/toy/infer HTTP/1.1\r\n")
            .await
            .unwrap();
        slow.push(tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let mut k = 0u32;
            loop {
                if started.elapsed() > CLOSE_WITHIN {
                    return false; // still trickling: the server never cut it off
                }
                k += 1;
                if s.write_all(format!("x-slow-{k}: 1\r\n").as_bytes())
                    .await
                    .is_err()
                {
                    return true; // the server closed it
                }
                // Closed by the server shows as EOF on a read that would otherwise wait.
                let mut b = [0u8; 64];
                if let Ok(Ok(0) | Err(_)) =
                    tokio::time::timeout(Duration::from_millis(100), s.read(&mut b)).await
                {
                    return true;
                }
            }
        }));
    }
    // While they trickle, a valid request is answered.
    assert_eq!(
        request(addr, "POST", "/v2/models/toy/infer", BODY).await,
        Some(200)
    );
    for t in common::hang_guard(futures::future::join_all(slow)).await {
        assert!(t.unwrap(), "a trickling client was closed by the server");
    }
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_holds_and_frees_with_closed_connections() {
    let server = common::start(
        Duration::ZERO,
        http_only(Limits {
            max_connections: 4,
            ..Limits::default()
        }),
    )
    .await;
    let addr = server.http_addr().unwrap();
    // Four keep-alive connections, each proven held by an answered request.
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        assert_eq!(
            status_on(&mut s, "GET", "/v2/health/live", "").await,
            Some(200)
        );
        held.push(s);
    }
    // A fifth is closed at once, without an answer.
    let mut extra = TcpStream::connect(addr).await.unwrap();
    assert!(common::hang_guard(closed_by_server(&mut extra)).await);
    // The held ones still work.
    assert_eq!(
        status_on(&mut held[0], "POST", "/v2/models/toy/infer", BODY).await,
        Some(200)
    );
    // Close one: a new connection gets in once the server has seen it go.
    drop(held.pop());
    let mut answered = None;
    for _ in 0..500 {
        answered = request(addr, "GET", "/v2/health/live", "").await;
        if answered.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(answered, Some(200));
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_closed_and_a_busy_one_is_not() {
    let server = common::start(
        // Each inference takes longer than the idle timeout: it must not be cut.
        Duration::from_millis(400),
        http_only(Limits {
            idle_timeout: Duration::from_millis(200),
            // Past the hang guard: only the idle timeout can end the connection in time.
            header_read_timeout: Duration::from_secs(60),
            ..Limits::default()
        }),
    )
    .await;
    let addr = server.http_addr().unwrap();
    let mut busy = TcpStream::connect(addr).await.unwrap();
    assert_eq!(
        status_on(&mut busy, "POST", "/v2/models/toy/infer", BODY).await,
        Some(200)
    );
    // Now idle: the server ends it.
    assert!(common::hang_guard(closed_by_server(&mut busy)).await);
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_answers_what_it_accepted_with_readiness_503() {
    let server = common::start(Duration::from_millis(300), http_only(Limits::default())).await;
    let addr = server.http_addr().unwrap();
    assert_eq!(
        request(addr, "GET", "/v2/health/ready", "").await,
        Some(200)
    );
    // Requests in flight when the drain starts (each takes 300 ms in the model).
    let in_flight: Vec<_> = (0..8)
        .map(|_| tokio::spawn(request(addr, "POST", "/v2/models/toy/infer", BODY)))
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.mark_draining();
    assert_eq!(
        request(addr, "GET", "/v2/health/ready", "").await,
        Some(503)
    );
    assert_eq!(
        request(addr, "GET", "/v2/models/toy/ready", "").await,
        Some(503)
    );
    // Still answered during the unready part of a drain.
    assert_eq!(
        request(addr, "POST", "/v2/models/toy/infer", BODY).await,
        Some(200)
    );
    common::hang_guard(server.drain(Duration::ZERO, Duration::from_secs(10))).await;
    for r in futures::future::join_all(in_flight).await {
        assert_eq!(r.unwrap(), Some(200), "every accepted request is answered");
    }
    // Gone: nothing accepts any more.
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_does_not_hold_a_drain_to_its_grace() {
    let server = common::start(Duration::ZERO, http_only(Limits::default())).await;
    let addr = server.http_addr().unwrap();
    let mut idle = TcpStream::connect(addr).await.unwrap();
    assert_eq!(
        status_on(&mut idle, "GET", "/v2/health/live", "").await,
        Some(200)
    );
    // A grace past the hang guard: the drain must end once the connection has been quiet.
    common::hang_guard(server.shutdown(Duration::from_secs(120))).await;
    assert!(common::hang_guard(closed_by_server(&mut idle)).await);
}
