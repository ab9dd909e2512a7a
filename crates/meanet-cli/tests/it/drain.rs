//! SIGTERM, as an orchestrator sends it on every rolling update, against real processes:
//!
//! - `meanet serve` with 16 HTTP clients posting and a QUIC client, and `meanet edge` with 16
//!   HTTP clients (once with no cloud, once offloading to a slow cloud, so offloads are in
//!   flight at the signal): no connection reset and no 5xx among accepted requests, requests
//!   answered after the signal, the QUIC client sees nothing but answers and the documented
//!   refusal (the connection closed with `draining`, or no connection at all), readiness 503
//!   during the drain, exit status 0;
//! - `meanet run --input -` on an open stream: it stops reading, and the count of outcomes
//!   equals the count of samples it read.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{address_after, wait_until};
use crate::edge_server::{SAMPLE, bundle, images, json_request};

/// What the clients saw.
#[derive(Debug, Default)]
struct Seen {
    ok: AtomicUsize,
    ok_after_signal: AtomicUsize,
    server_errors: AtomicUsize,
    resets: AtomicUsize,
}

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

/// A started process, its stderr lines collected as they come.
struct Proc {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(args: &[&str]) -> (Proc, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_meanet"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut first = Vec::new();
    // The announcing lines (HTTP, and QUIC when asked for).
    let want = if args.contains(&"--quic") { 2 } else { 1 };
    for line in lines.by_ref().take(want) {
        first.push(line.unwrap());
    }
    let l = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            l.lock().unwrap().push(line);
        }
    });
    (Proc { child, log }, first)
}

fn sigterm(p: &Proc) {
    let ok = Command::new("kill")
        .args(["-TERM", &p.child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM");
}

/// Waits for the process to exit (bounded by a hang guard, not a timing assertion).
fn exit_status(p: &mut Proc) -> std::process::ExitStatus {
    for _ in 0..6000 {
        if let Some(s) = p.child.try_wait().unwrap() {
            return s;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("hang guard: still running 60 s after SIGTERM");
}

/// One HTTP/1.1 request on a keep-alive connection: `Ok((status, close))`, or `Err` when the
/// connection failed after the request was sent (a reset, as a client sees it).
fn exchange(s: &mut TcpStream, req: &[u8]) -> std::io::Result<(u16, bool)> {
    s.write_all(req)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if buf.len() >= end + 4 + len {
            let status = head
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            return Ok((status, head.contains("connection: close")));
        }
    }
}

/// A client posting `body` to `path` in a loop on a keep-alive connection, until the server
/// refuses new connections after `signalled` (or `stop`).
fn client(
    addr: SocketAddr,
    path: String,
    body: Vec<u8>,
    seen: Arc<Seen>,
    signalled: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let mut conn: Option<TcpStream> = None;
    while !stop.load(Ordering::SeqCst) {
        if conn.is_none() {
            match TcpStream::connect(addr) {
                Ok(s) => conn = Some(s),
                // Refused: the server no longer accepts connections (after the signal).
                Err(_) if signalled.load(Ordering::SeqCst) => return,
                Err(e) => panic!("connect before the signal: {e}"),
            }
        }
        let after = signalled.load(Ordering::SeqCst);
        let s = conn.as_mut().unwrap();
        match exchange(s, &req) {
            Ok((200, close)) => {
                seen.ok.fetch_add(1, Ordering::SeqCst);
                if after {
                    seen.ok_after_signal.fetch_add(1, Ordering::SeqCst);
                }
                if close {
                    conn = None;
                }
            }
            Ok((status, _)) if status >= 500 => {
                seen.server_errors.fetch_add(1, Ordering::SeqCst);
                conn = None;
            }
            Ok((status, _)) => panic!("unexpected status {status}"),
            Err(_) => {
                seen.resets.fetch_add(1, Ordering::SeqCst);
                conn = None;
            }
        }
    }
}

/// Polls readiness on fresh connections; returns the statuses seen after the signal.
fn prober(addr: SocketAddr, signalled: Arc<AtomicBool>, stop: Arc<AtomicBool>) -> Vec<u16> {
    let mut after = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let was = signalled.load(Ordering::SeqCst);
        if let Ok(mut s) = TcpStream::connect(addr)
            && let Ok((status, _)) = exchange(
                &mut s,
                b"GET /v2/health/ready HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
            )
            && was
        {
            after.push(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    after
}

/// 16 clients and a prober against `addr`, SIGTERM once they are going; asserts the drain.
fn drain_under_load(
    p: &mut Proc,
    addr: SocketAddr,
    path: &str,
    body: Vec<u8>,
    signalled: Arc<AtomicBool>,
) -> Arc<Seen> {
    let seen = Arc::new(Seen::default());
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let (seen, signalled, stop) =
                (Arc::clone(&seen), Arc::clone(&signalled), Arc::clone(&stop));
            let (path, body) = (path.to_string(), body.clone());
            std::thread::spawn(move || client(addr, path, body, seen, signalled, stop))
        })
        .collect();
    let probe = {
        let (signalled, stop) = (Arc::clone(&signalled), Arc::clone(&stop));
        std::thread::spawn(move || prober(addr, signalled, stop))
    };
    // Mid-stream: once the clients have had answers.
    wait_until("64 answers before the signal", || {
        seen.ok.load(Ordering::SeqCst) >= 64
    });
    signalled.store(true, Ordering::SeqCst);
    sigterm(p);
    let status = exit_status(p);
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    let ready_after = probe.join().unwrap();
    let log = p.log.lock().unwrap().join("\n");
    assert!(status.success(), "exit status {status:?}; log:\n{log}");
    assert!(
        log.contains("SIGTERM: draining") && log.contains("drained"),
        "{log}"
    );
    assert_eq!(
        seen.resets.load(Ordering::SeqCst),
        0,
        "connection resets: {seen:?}"
    );
    assert_eq!(
        seen.server_errors.load(Ordering::SeqCst),
        0,
        "5xx: {seen:?}"
    );
    assert!(
        seen.ok_after_signal.load(Ordering::SeqCst) > 0,
        "requests are still answered after the signal: {seen:?}"
    );
    // Readiness turns 503 (a probe racing the signal's delivery may still see 200 first) and
    // never goes back.
    let first_503 = ready_after.iter().position(|&s| s == 503);
    assert!(
        first_503.is_some_and(|i| ready_after[i..].iter().all(|&s| s == 503)),
        "readiness after SIGTERM: {ready_after:?}"
    );
    seen
}

const DRAIN: [&str; 4] = [
    "--set",
    "server.unready_ms=1000",
    "--set",
    "server.drain_ms=20000",
];

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

#[test]
fn edge_drains_on_sigterm() {
    let b = bundle();
    let mut args = vec![
        "edge",
        b.as_str(),
        "--http",
        "127.0.0.1:0",
        "--set",
        "cloud.transport=none",
    ];
    args.extend(DRAIN);
    let (mut p, first) = spawn(&args);
    let addr: SocketAddr = address_after(&first[0], "http://")
        .unwrap()
        .parse()
        .unwrap();
    let seen = drain_under_load(
        &mut p,
        addr,
        "/v2/models/meanet/infer",
        json_request(&images(2)),
        Arc::default(),
    );
    eprintln!(
        "edge drain: {} answers ({} after SIGTERM)",
        seen.ok.load(Ordering::SeqCst),
        seen.ok_after_signal.load(Ordering::SeqCst)
    );
}

/// The bundle's cloud model on loopback, answering each request `delay` late: offloads are in
/// flight whenever the edge is busy.
fn slow_cloud(rt: &tokio::runtime::Runtime, delay: Duration) -> meanet_transport::RunningServer {
    let b = meanet_runtime::Bundle::load(std::path::Path::new(&bundle())).unwrap();
    let engine =
        meanet_runtime::Engine::new(&meanet_runtime::options::BackendOptions::default()).unwrap();
    let t = &b.manifest.tensors;
    let model = engine
        .classifier(&b.cloud_path(), Some((&t.input, &t.cloud_logits)))
        .unwrap();
    let cfg = meanet_transport::ServerConfig {
        model_name: "cloud".into(),
        http: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        answer_delay: delay,
        ..meanet_transport::ServerConfig::default()
    };
    rt.block_on(meanet_transport::Server::start(Box::new(model), cfg))
        .unwrap()
}

#[test]
fn edge_drains_with_offloads_in_flight_to_a_slow_cloud() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cloud = slow_cloud(&rt, Duration::from_millis(300));
    let url = format!("http://{}", cloud.http_addr().unwrap());
    let b = bundle();
    let mut args = vec!["edge", b.as_str(), "--http", "127.0.0.1:0"];
    let (set_url, set_deadline) = (format!("cloud.url={url}"), "cloud.deadline_ms=10000");
    args.extend(["--set", set_url.as_str(), "--set", set_deadline]);
    args.extend(DRAIN);
    let (mut p, first) = spawn(&args);
    let addr: SocketAddr = address_after(&first[0], "http://")
        .unwrap()
        .parse()
        .unwrap();
    // 16 samples a request, hard ones among them: each request waits on an offload.
    let seen = drain_under_load(
        &mut p,
        addr,
        "/v2/models/meanet/infer",
        json_request(&images(16)),
        Arc::default(),
    );
    let reply = crate::edge_server::request(
        &cloud.http_addr().unwrap().to_string(),
        "GET",
        "/metrics",
        &[],
        b"",
    );
    let served = String::from_utf8_lossy(&reply.body).into_owned();
    rt.block_on(cloud.shutdown(Duration::from_secs(1)));
    // The cloud answered offloads, so requests were waiting on it when the signal came; none
    // was lost (drain_under_load: no reset, no 5xx, answers after the signal, exit 0).
    let offloads: f64 = served
        .lines()
        .filter(|l| l.starts_with("meanet_requests_total{") && l.contains("200"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(
        offloads > 0.0,
        "the slow cloud answered no offload:\n{served}"
    );
    eprintln!(
        "edge drain with a slow cloud: {} answers ({} after SIGTERM), {offloads} offload requests answered by the cloud",
        seen.ok.load(Ordering::SeqCst),
        seen.ok_after_signal.load(Ordering::SeqCst)
    );
}

#[test]
fn run_on_a_stream_answers_every_sample_it_read_on_sigterm() {
    let b = bundle();
    let mut child = Command::new(env!("CARGO_BIN_EXE_meanet"))
        .args([
            "run",
            b.as_str(),
            "--input",
            "-",
            "--json",
            "--max-wait-ms",
            "0",
        ])
        .args(["--set", "cloud.transport=none"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // 300 samples, the stream left open: only the signal ends it.
    stdin.write_all(&images(300)).unwrap();
    let lines = Arc::new(AtomicUsize::new(0));
    let out = {
        let (stdout, lines) = (child.stdout.take().unwrap(), Arc::clone(&lines));
        std::thread::spawn(move || {
            for _ in BufReader::new(stdout).lines().map_while(Result::ok) {
                lines.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    wait_until("the first outcome line", || {
        lines.load(Ordering::SeqCst) > 0
    });
    let p = Proc {
        child,
        log: Arc::default(),
    };
    sigterm(&p);
    let mut p = p;
    let mut stderr = String::new();
    p.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = exit_status(&mut p);
    out.join().unwrap();
    drop(stdin);
    assert!(status.success(), "exit status {status:?}: {stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("SIGTERM: stopped reading after"))
        .unwrap_or_else(|| panic!("{stderr}"));
    let numbers: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    let (read, answered) = (numbers[0], numbers[1]);
    let printed = lines.load(Ordering::SeqCst);
    assert!(read > 0, "{line}");
    assert_eq!(read, answered, "{line}");
    assert_eq!(printed, read, "one outcome line per sample read: {line}");
}
