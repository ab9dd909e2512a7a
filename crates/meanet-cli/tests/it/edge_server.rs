//! `meanet edge` end to end, as processes on loopback: the reference bundle behind `meanet edge`,
//! offloading (`cloud.payload = "u8"`) to `meanet serve` of the same bundle.
//!
//! - JSON and binary v2 requests of UINT8 images get the five per-sample outputs, and the
//!   classes agree with `meanet run` on the same images through the same cloud;
//! - the model metadata describes the outputs;
//! - auth, body limit, model name and hostile inputs are refused as `meanet serve` refuses them;
//! - /metrics reports exits by tier;
//! - with the cloud killed, every request is still answered 200, the offloaded samples degraded.
//!
//! Streams (`meanet run --input -`, the online controller) are in `edge_stream`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common;
use common::{Killed, address_after};

pub(crate) const SAMPLE: usize = 28 * 28;
pub(crate) const TOKEN: &str = "edge-secret";

pub(crate) fn bundle() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../models/fashion-mnist")
        .to_string_lossy()
        .into_owned()
}

/// The first `n` Fashion-MNIST test images, 8-bit.
pub(crate) fn images(n: usize) -> Vec<u8> {
    let cache = meanet_data::default_dataset_cache();
    let (_, test) =
        meanet_data::fashion_mnist(None, &cache).expect("Fashion-MNIST (scripts/setup)");
    test.pixels().expect("Fashion-MNIST is in memory")[..n * SAMPLE].to_vec()
}

/// Starts `meanet ARGS` and returns it with the address its first log line announces.
pub(crate) fn start(args: &[&str]) -> (Killed, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_meanet"))
        .args(args)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr =
        address_after(&first, "http://").unwrap_or_else(|| panic!("no address in {first:?}"));
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    (Killed(child), addr)
}

pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: String,
    pub(crate) body: Vec<u8>,
}

pub(crate) fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(&out)));
    let headers = String::from_utf8_lossy(&out[..split]).to_lowercase();
    let status = headers[9..12].parse().unwrap();
    let mut body = out[split + 4..].to_vec();
    if headers.contains("transfer-encoding: chunked") {
        body = unchunk(&body);
    }
    Reply {
        status,
        headers,
        body,
    }
}

pub(crate) fn unchunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let n = usize::from_str_radix(std::str::from_utf8(&b[..line]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[line + 2..line + 2 + n]);
        b = &b[line + 2 + n + 2..];
    }
}

pub(crate) fn auth() -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Bearer {TOKEN}"))]
}

pub(crate) fn json_request(pixels: &[u8]) -> Vec<u8> {
    let n = pixels.len() / SAMPLE;
    serde_json::to_vec(&serde_json::json!({
        "id": "edge-test",
        "inputs": [{"name": "input", "datatype": "UINT8", "shape": [n, 1, 28, 28], "data": pixels}],
    }))
    .unwrap()
}

/// Per-sample (class, exit, degraded) of a JSON answer.
pub(crate) fn outcomes(body: &[u8]) -> Vec<(i64, String, bool)> {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    let out = |name: &str| -> serde_json::Value {
        v["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {v}"))["data"]
            .clone()
    };
    let (c, e, d) = (out("class"), out("exit"), out("degraded"));
    let energy = out("energy_j");
    assert!(
        energy
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x.as_f64().unwrap() > 0.0)
    );
    (0..c.as_array().unwrap().len())
        .map(|i| {
            (
                c[i].as_i64().unwrap(),
                e[i].as_str().unwrap().to_string(),
                d[i].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn edge_answers_per_sample_refuses_like_serve_and_degrades_when_the_cloud_dies() {
    let (cloud, cloud_addr) = start(&["serve", &bundle(), "--http", "127.0.0.1:0"]);
    let cloud_url = format!("cloud.url=http://{cloud_addr}");
    let (_edge, addr) = start(&[
        "edge",
        &bundle(),
        "--http",
        "127.0.0.1:0",
        "--token",
        TOKEN,
        "--max-body",
        "262144",
        "--set",
        &cloud_url,
        "--set",
        "cloud.payload=u8",
        "--set",
        "cloud.breaker_cooldown_ms=60000",
    ]);
    let n = 48;
    let pixels = images(n);

    // Metadata.
    let meta = request(&addr, "GET", "/v2/models/meanet", &auth(), b"");
    assert_eq!(meta.status, 200);
    let meta: serde_json::Value = serde_json::from_slice(&meta.body).unwrap();
    let names: Vec<&str> = meta["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["class", "exit", "degraded", "energy_j", "bytes_sent"]
    );
    assert_eq!(meta["inputs"][0]["datatype"], "UINT8");

    // JSON.
    let r = request(
        &addr,
        "POST",
        "/v2/models/meanet/infer",
        &auth(),
        &json_request(&pixels),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let json = outcomes(&r.body);
    assert_eq!(json.len(), n);
    assert!(
        json.iter().any(|o| o.1 == "cloud"),
        "some samples offloaded: {json:?}"
    );
    assert!(json.iter().all(|o| !o.2), "cloud up: nothing degraded");

    // Binary: classes as INT64 little-endian after the JSON header.
    let header = serde_json::to_vec(&serde_json::json!({
        "inputs": [{"name": "input", "datatype": "UINT8", "shape": [n, 1, 28, 28],
                    "parameters": {"binary_data_size": n * SAMPLE}}],
        "outputs": [{"name": "class", "parameters": {"binary_data": true}}],
    }))
    .unwrap();
    let mut body = header.clone();
    body.extend_from_slice(&pixels);
    let mut h = auth();
    h.push(("inference-header-content-length", header.len().to_string()));
    let r = request(&addr, "POST", "/v2/models/meanet/infer", &h, &body);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let hl: usize = r
        .headers
        .lines()
        .find_map(|l| l.strip_prefix("inference-header-content-length: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let classes: Vec<i64> = r.body[hl..]
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(classes, json.iter().map(|o| o.0).collect::<Vec<_>>());

    // The same images through `meanet run` and the same cloud: the same classes.
    let mut run = Command::new(env!("CARGO_BIN_EXE_meanet"))
        .args([
            "run",
            &bundle(),
            "--input",
            "-",
            "--json",
            "--set",
            &cloud_url,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    run.stdin.take().unwrap().write_all(&pixels).unwrap();
    let out = run.wait_with_output().unwrap();
    assert!(out.status.success());
    let run_classes: Vec<i64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["class"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(run_classes, classes, "meanet edge and meanet run agree");

    // Refused as `meanet serve` refuses.
    let infer = "/v2/models/meanet/infer";
    let one = json_request(&pixels[..SAMPLE]);
    assert_eq!(request(&addr, "POST", infer, &[], &one).status, 401);
    assert_eq!(
        request(&addr, "POST", "/v2/models/cloud/infer", &auth(), &one).status,
        404
    );
    assert_eq!(
        request(&addr, "POST", infer, &auth(), &json_request(&images(200))).status,
        413
    );
    let mut bad = serde_json::from_slice::<serde_json::Value>(&one).unwrap();
    bad["inputs"][0]["data"][5] = serde_json::json!(300);
    let r = request(
        &addr,
        "POST",
        infer,
        &auth(),
        &serde_json::to_vec(&bad).unwrap(),
    );
    assert_eq!(r.status, 400);
    assert!(String::from_utf8_lossy(&r.body).contains("inputs[0].data"));
    let mut bad = serde_json::from_slice::<serde_json::Value>(&one).unwrap();
    bad["inputs"][0]["shape"] = serde_json::json!([1, 3, 28, 28]);
    assert_eq!(
        request(
            &addr,
            "POST",
            infer,
            &auth(),
            &serde_json::to_vec(&bad).unwrap()
        )
        .status,
        400
    );
    let mut h = auth();
    h.push(("inference-header-content-length", "999999".into()));
    assert_eq!(request(&addr, "POST", infer, &h, &one).status, 400);

    // Metrics.
    let m = request(&addr, "GET", "/metrics", &[], b"");
    let text = String::from_utf8_lossy(&m.body);
    assert!(
        text.contains("meanet_exits_total{exit=\"cloud\"}"),
        "{text}"
    );
    assert!(text.contains("meanet_offload_share "), "{text}");

    // Kill the cloud: still 200 for everything, the offloaded samples degraded.
    drop(cloud);
    let r = request(&addr, "POST", infer, &auth(), &json_request(&pixels));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let after = outcomes(&r.body);
    assert_eq!(after.len(), n);
    for (before, now) in json.iter().zip(&after) {
        assert_eq!(
            before.1 == "cloud",
            now.2,
            "degraded exactly where offloaded"
        );
        assert_ne!(now.1, "cloud");
    }
}
