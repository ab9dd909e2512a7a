//! Thousands of mutated v2 requests against a running `meanet serve` (the reference bundle's
//! cloud model) and a running `meanet edge` (the edge runtime, behind the same request service)
//! on loopback: shapes, datatypes, element counts, binary sizes, header lengths,
//! nesting, non-UTF-8 bytes, truncation and oversized bodies, in JSON and with the binary
//! extension. Every answer must be a 4xx or a 503, the process must be alive afterwards, a valid
//! request must still get a 200, and its resident memory must stay bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use crate::common;
use common::Killed;

const SAMPLE: usize = 28 * 28;
const REQUESTS: usize = 3000;
/// The body limit `meanet serve` is started with (4 MiB).
const LIMIT: usize = 4 << 20;

use meanet_core::testing::Rng;

/// One of `items`, drawn from `rng`.
fn pick<T: Copy>(rng: &mut Rng, items: &[T]) -> T {
    items[rng.usize(..items.len())]
}

struct Server {
    child: Killed,
    addr: String,
    model: &'static str,
}

/// `meanet serve BUNDLE` (model `cloud`) or `meanet edge BUNDLE` (model `meanet`, no cloud).
fn start(command: &str) -> Server {
    let bundle = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/fashion-mnist");
    let mut cmd = crate::common::command();
    cmd.args([command, bundle.to_str().unwrap(), "--http", "127.0.0.1:0"])
        .args(["--max-body", &LIMIT.to_string()])
        .args(["--set", "cloud.transport=none"]);
    // Its log is drained for as long as it runs (a closed stderr is a test of its own).
    let (child, addr, _) = crate::common::spawn_server(cmd, "http://");
    Server {
        child,
        addr,
        model: if command == "edge" { "meanet" } else { "cloud" },
    }
}

/// One HTTP/1.1 request on its own connection; returns the status code, 0 when the server
/// closed the connection without one.
fn post(addr: &str, model: &str, headers: &[(String, String)], body: &[u8]) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!(
        "POST /v2/models/{model}/infer HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // Write the body from another thread while this one reads: the server may answer (413)
    // and close before reading a body over its limit, and must not be waited on.
    let mut w = s.try_clone().unwrap();
    let body = body.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&body);
    });
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let _ = writer.join();
    let text = String::from_utf8_lossy(&out);
    text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0)
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn json_request(shape: &str, datatype: &str, data: &str, extra: &str) -> Vec<u8> {
    format!(
        r#"{{"inputs":[{{"name":"input","shape":{shape},"datatype":{datatype},"data":{data}}}]{extra}}}"#
    )
    .into_bytes()
}

fn valid_data() -> String {
    format!("[{}]", vec!["0.5"; SAMPLE].join(","))
}

fn binary_request(shape: &str, size: &str, payload: usize) -> (Vec<u8>, usize) {
    let header = format!(
        r#"{{"inputs":[{{"name":"input","shape":{shape},"datatype":"FP32","parameters":{{"binary_data_size":{size}}}}}],"parameters":{{"binary_data_output":true}}}}"#
    );
    let mut body = header.clone().into_bytes();
    body.extend(std::iter::repeat_n(0u8, payload));
    (body, header.len())
}

const SHAPES: &[&str] = &[
    "[2305843009213693951]",
    "[9223372036854775807,1,28,28]",
    "[-1,1,28,28]",
    "[0,1,28,28]",
    "[1,1,28]",
    "[1,1,28,28,1]",
    "[1,3,28,28]",
    "[1,1,27,28]",
    "[2,1,28,28]",
    "[]",
    "[1.5,1,28,28]",
    "\"1,1,28,28\"",
    "[18446744073709551616,1,28,28]",
    "null",
];
const DATATYPES: &[&str] = &[
    "\"INT64\"",
    "\"FP64\"",
    "\"FP16\"",
    "\"UINT8\"",
    "\"BYTES\"",
    "\"\"",
    "\"fp32\"",
    "7",
    "null",
];

/// One mutated request that no correct server may answer with 200 or 5xx (503 aside).
fn mutate(rng: &mut Rng) -> (&'static str, Vec<(String, String)>, Vec<u8>) {
    let hl = |n: usize| vec![("inference-header-content-length".to_string(), n.to_string())];
    let data = valid_data();
    match rng.usize(..12) {
        0 => (
            "shape",
            vec![],
            json_request(pick(rng, SHAPES), "\"FP32\"", &data, ""),
        ),
        1 => (
            "datatype",
            vec![],
            json_request("[1,1,28,28]", pick(rng, DATATYPES), &data, ""),
        ),
        2 => {
            let n = [0, 1, SAMPLE - 1, SAMPLE + 1, 2 * SAMPLE][rng.usize(..5)];
            let data = format!("[{}]", vec!["1"; n].join(","));
            (
                "element count",
                vec![],
                json_request("[1,1,28,28]", "\"FP32\"", &data, ""),
            )
        }
        3 => {
            let bad = ["\"a\"", "true", "null", "{}", "1e39", "-1e300", "[[]]"];
            let mut items = vec!["1".to_string(); SAMPLE];
            items[rng.usize(..SAMPLE)] = pick(rng, &bad).to_string();
            let data = format!("[{}]", items.join(","));
            (
                "element type",
                vec![],
                json_request("[1,1,28,28]", "\"FP32\"", &data, ""),
            )
        }
        4 => {
            let sizes = [
                "3135",
                "3137",
                "0",
                "-3136",
                "18446744073709551615",
                "\"3136\"",
                "1e4",
            ];
            let payload = [0, 3135, 3136, 3137, 6272][rng.usize(..5)];
            let size = pick(rng, &sizes);
            let (body, n) = binary_request("[1,1,28,28]", size, payload);
            ("binary size", hl(n), body)
        }
        5 => {
            let (body, n) = binary_request(pick(rng, SHAPES), "3136", 3136);
            ("binary shape", hl(n), body)
        }
        6 => {
            let (body, n) = binary_request("[1,1,28,28]", "3136", 3136);
            let lies = [
                (n + 1 + rng.usize(..4000)).to_string(),
                (n - 1 - rng.usize(..n - 1)).to_string(),
                "-5".into(),
                "abc".into(),
                "18446744073709551616".into(),
                format!("{} ", n + body.len()),
            ];
            let lie = lies[rng.usize(..lies.len())].clone();
            (
                "header length",
                vec![("inference-header-content-length".into(), lie)],
                body,
            )
        }
        7 => {
            let depth = [100, 127, 129, 1000, 100_000][rng.usize(..5)];
            let data = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
            (
                "nesting",
                vec![],
                json_request("[1,1,28,28]", "\"FP32\"", &data, ""),
            )
        }
        8 => {
            let mut body = json_request("[1,1,28,28]", "\"FP32\"", &data, "");
            let at = rng.usize(..body.len());
            body[at] = pick(rng, &[0xff, 0xfe, 0xc0, 0x80]);
            ("non-UTF-8", vec![], body)
        }
        9 => {
            let body = json_request("[1,1,28,28]", "\"FP32\"", &data, "");
            let cut = rng.usize(..body.len() - 1) + 1;
            ("truncated", vec![], body[..cut].to_vec())
        }
        10 => {
            let names = [
                r#","outputs":[{"name":"probabilities"}]"#,
                r#","outputs":[{"name":"logits","parameters":{"binary_data":"yes"}}]"#,
                r#","parameters":{"binary_data_output":1}"#,
                r#","extra":1"#,
            ];
            let extra = pick(rng, &names);
            let body = if rng.usize(..2) == 0 {
                json_request("[1,1,28,28]", "\"FP32\"", &data, extra)
            } else {
                String::from_utf8(json_request("[1,1,28,28]", "\"FP32\"", &data, ""))
                    .unwrap()
                    .replace(r#""name":"input""#, r#""name":"pixels""#)
                    .into_bytes()
            };
            ("names", vec![], body)
        }
        _ => {
            // Bodies past the 4 MiB limit, and a huge JSON array within it.
            if rng.usize(..2) == 0 {
                (
                    "oversized",
                    vec![],
                    vec![b' '; (4 << 20) + 1 + rng.usize(..1 << 20)],
                )
            } else {
                let data = format!("[{}1]", "1,".repeat(1_900_000));
                (
                    "huge data",
                    vec![],
                    json_request("[1,1,28,28]", "\"FP32\"", &data, ""),
                )
            }
        }
    }
}

#[test]
fn thousands_of_mutated_requests_never_take_meanet_serve_down() {
    storm(&start("serve"));
}

/// `meanet edge` runs behind the same request service: the same storm, the same answers.
#[test]
fn thousands_of_mutated_requests_never_take_meanet_edge_down() {
    storm(&start("edge"));
}

fn storm(server: &Server) {
    let pid = server.child.0.id();
    let valid = json_request("[1,1,28,28]", "\"FP32\"", &valid_data(), "");
    assert_eq!(
        post(&server.addr, server.model, &[], &valid),
        200,
        "warm-up"
    );
    let before = rss_kib(pid);
    let mut rng = meanet_core::testing::rng(0x9E37_79B9_7F4A_7C15);
    let mut seen: BTreeMap<(&str, u16), usize> = BTreeMap::new();
    let mut peak = before;
    for i in 0..REQUESTS {
        let (kind, headers, body) = mutate(&mut rng);
        let status = post(&server.addr, server.model, &headers, &body);
        assert!(
            (400..500).contains(&status) || status == 503,
            "request {i} ({kind}) got {status}: {:?}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        );
        *seen.entry((kind, status)).or_default() += 1;
        if i % 100 == 0 {
            peak = peak.max(rss_kib(pid));
        }
    }
    let after = rss_kib(pid);
    peak = peak.max(after);
    eprintln!("statuses by mutation: {seen:?}");
    eprintln!(
        "resident memory: {before} KiB after warm-up, peak {peak} KiB, {after} KiB at the end"
    );
    // Alive, and still correct.
    assert!(server_alive(pid), "meanet serve exited");
    assert_eq!(
        post(&server.addr, server.model, &[], &valid),
        200,
        "a valid request after the storm"
    );
    let (body, n) = binary_request("[1,1,28,28]", "3136", 3136);
    let hl = vec![("inference-header-content-length".to_string(), n.to_string())];
    assert_eq!(
        post(&server.addr, server.model, &hl, &body),
        200,
        "a valid binary request"
    );
    // Bounded: a 4 MiB body limit allows a few buffers per request, never unbounded growth.
    assert!(
        peak < before + 256 * 1024,
        "resident memory grew from {before} KiB to {peak} KiB"
    );
    let kinds: std::collections::BTreeSet<&str> = seen.keys().map(|(k, _)| *k).collect();
    assert_eq!(kinds.len(), 13, "every mutation kind was sent: {kinds:?}");
}

fn server_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .contains("State:\tZ")
}
