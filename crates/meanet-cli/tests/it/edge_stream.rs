//! `meanet run --input -` and `meanet edge` on streams: an outcome is printed before its input
//! ends, and the online controller moves the offload share toward its target on a shifted mix.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common;
use crate::edge_server::{
    SAMPLE, TOKEN, auth, bundle, images, json_request, outcomes, request, start,
};
use common::address_after;

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
    // Offloading less than the static thresholds means raising them: a scale above 1.
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
