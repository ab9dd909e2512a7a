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

mod edge;
mod quic;
mod run;

/// What the clients saw.
#[derive(Debug, Default)]
struct Seen {
    ok: AtomicUsize,
    ok_after_signal: AtomicUsize,
    server_errors: AtomicUsize,
    resets: AtomicUsize,
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
