//! `meanet edge` end to end, as processes on loopback: the reference bundle behind `meanet edge`,
//! offloading (`cloud.payload = "u8"`) to `meanet serve` of the same bundle.
//!
//! - JSON and binary v2 requests of UINT8 images get the five per-sample outputs, and the
//!   classes agree with `meanet run` on the same images through the same cloud;
//! - the model metadata describes the outputs;
//! - auth, body limit, model name and hostile inputs are refused as `meanet serve` refuses them;
//! - /metrics reports exits by tier;
//! - with the cloud killed, every request is still answered 200, the offloaded samples degraded;
//! - `meanet run --input -` prints an outcome before its input ends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common;
use common::{Killed, address_after};

const SAMPLE: usize = 28 * 28;
const TOKEN: &str = "edge-secret";

fn bundle() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../models/fashion-mnist")
        .to_string_lossy()
        .into_owned()
}

/// The first `n` Fashion-MNIST test images, 8-bit.
fn images(n: usize) -> Vec<u8> {
    let cache = meanet_data::default_dataset_cache();
    let (_, test) =
        meanet_data::fashion_mnist(None, &cache).expect("Fashion-MNIST (scripts/setup)");
    test.pixels[..n * SAMPLE].to_vec()
}

/// Starts `meanet ARGS` and returns it with the address its first log line announces.
fn start(args: &[&str]) -> (Killed, String) {
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

struct Reply {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

fn request(addr: &str, method: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> Reply {
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

fn unchunk(mut b: &[u8]) -> Vec<u8> {
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

fn auth() -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Bearer {TOKEN}"))]
}

fn json_request(pixels: &[u8]) -> Vec<u8> {
    let n = pixels.len() / SAMPLE;
    serde_json::to_vec(&serde_json::json!({
        "id": "edge-test",
        "inputs": [{"name": "input", "datatype": "UINT8", "shape": [n, 1, 28, 28], "data": pixels}],
    }))
    .unwrap()
}

/// Per-sample (class, exit, degraded) of a JSON answer.
fn outcomes(body: &[u8]) -> Vec<(i64, String, bool)> {
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

#[test]
fn run_streams_an_outcome_before_its_input_ends() {
    let mut run = Command::new(env!("CARGO_BIN_EXE_meanet"))
        .args([
            "run",
            &bundle(),
            "--input",
            "-",
            "--json",
            "--max-wait-ms",
            "5",
            "--metrics",
            "127.0.0.1:0",
            "--set",
            "cloud.transport=none",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(run.stderr.take().unwrap()).lines();
    let first = log.next().unwrap().unwrap();
    let metrics = address_after(&first, "http://").unwrap_or_else(|| panic!("{first:?}"));
    let pixels = images(2);
    let mut stdin = run.stdin.take().unwrap();
    let mut lines = BufReader::new(run.stdout.take().unwrap()).lines();
    stdin.write_all(&pixels[..SAMPLE]).unwrap();
    stdin.flush().unwrap();
    // stdin is still open: the first outcome must come anyway.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in lines.by_ref() {
            if tx.send(l.unwrap()).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("an outcome while the input is still open");
    let v: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(v["index"], 0);
    // Routing metrics while it runs.
    let m = request(&metrics, "GET", "/metrics", &[], b"");
    let text = String::from_utf8_lossy(&m.body);
    let exits: u64 = text
        .lines()
        .filter(|l| l.starts_with("meanet_exits_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(exits, 1, "{text}");
    assert!(text.contains("meanet_offload_share_target 0.2"), "{text}");
    stdin.write_all(&pixels[SAMPLE..]).unwrap();
    drop(stdin);
    let second = rx.recv_timeout(Duration::from_secs(60)).unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&second).unwrap()["index"],
        1
    );
    assert!(run.wait().unwrap().success());
}

/// Offload share of each `segment`-sample stretch of `pixels`, routed by `meanet edge` in
/// requests of 64 images sent one after another (so each request is one edge batch, and the
/// controller sees the same batches on every run), and the edge's /metrics text at the end.
fn edge_offload_shares(extra: &[&str], pixels: &[u8], segment: usize) -> (Vec<f64>, String) {
    let (_cloud, cloud_addr) = start(&["serve", &bundle(), "--http", "127.0.0.1:0"]);
    let (bundle, cloud_url) = (bundle(), format!("cloud.url=http://{cloud_addr}"));
    let mut args = vec![
        "edge",
        &bundle,
        "--http",
        "127.0.0.1:0",
        "--token",
        TOKEN,
        "--set",
        &cloud_url,
    ];
    for e in extra {
        args.extend(["--set", e]);
    }
    let (_edge, addr) = start(&args);
    let mut offloaded = Vec::new();
    for chunk in pixels.chunks(64 * SAMPLE) {
        let r = request(
            &addr,
            "POST",
            "/v2/models/meanet/infer",
            &auth(),
            &json_request(chunk),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let o = outcomes(&r.body);
        assert_eq!(o.len(), chunk.len() / SAMPLE, "one outcome per sample");
        assert!(
            o.iter().all(|(_, _, degraded)| !degraded),
            "the cloud is up"
        );
        offloaded.extend(o.into_iter().map(|(_, exit, _)| exit == "cloud"));
    }
    let shares = offloaded
        .chunks(segment)
        .map(|w| w.iter().filter(|x| **x).count() as f64 / w.len() as f64)
        .collect();
    let m = request(&addr, "GET", "/metrics", &[], b"");
    (shares, String::from_utf8_lossy(&m.body).into_owned())
}

#[test]
fn edge_online_moves_the_offload_share_toward_its_target_on_a_shifted_mix() {
    // The bundle is calibrated for an offload share of 0.2 on the test split's own mix (half
    // of the classes hard). This stream is 90% hard classes: static thresholds offload well
    // above 0.2 on it; the online controller must bring the share back toward 0.2.
    let target = 0.2;
    let segment = 256;
    let pixels = common::mixed_stream(&[(12 * segment, true)]);
    let (fixed, _) = edge_offload_shares(&[], &pixels, segment);
    let (online, text) = edge_offload_shares(&["policy.online=true"], &pixels, segment);
    eprintln!("static {fixed:?}\nonline {online:?}");
    let off = |s: f64| (s - target).abs();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    // The shifted mix moves the static share away from the target (about 0.26 here)...
    assert!(
        off(mean(&fixed)) > 0.04,
        "the stream should shift the static share: {fixed:?}"
    );
    // ...and the controller, from the same start, closes most of that gap: compared over the
    // last quarter of the stream, after the controller's warm-up.
    let tail = |v: &[f64]| mean(&v[v.len() * 3 / 4..]);
    let (online_tail, static_tail) = (tail(&online), tail(&fixed));
    assert!(
        off(online_tail) < 0.5 * off(static_tail),
        "online {online_tail} vs static {static_tail} (target {target}): {online:?}"
    );

    // What /metrics says about it.
    let value = |line: &str| -> f64 { line.rsplit(' ').next().unwrap().parse().unwrap() };
    let scale = text
        .lines()
        .find(|l| l.starts_with("meanet_threshold_scale "))
        .map(value)
        .unwrap_or_else(|| panic!("no scale in\n{text}"));
    // Within the controller's clamp; and offloading less than the static thresholds means
    // raising them: a scale above 1.
    assert!((0.25..=4.0).contains(&scale), "{scale}");
    assert!(scale > 1.0, "threshold scale {scale}");
    let estimates: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with("meanet_edge_accuracy_estimate{class="))
        .map(value)
        .collect();
    assert!(!estimates.is_empty(), "{text}");
    assert!(
        estimates.iter().all(|v| (0.0..=1.0).contains(v)),
        "{estimates:?}"
    );
}
