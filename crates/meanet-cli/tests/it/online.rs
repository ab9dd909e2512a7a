//! The online controller inside `meanet run`, end to end: the reference bundle (calibrated for
//! offload=0.2) routes a stream of Fashion-MNIST test images whose class mix shifts from
//! easy-heavy to hard-heavy, streamed on stdin, once with `policy.online = true` and once
//! without. Online, every 1,000-sample window after the first offloads 20% within 3 points;
//! static, the second half drifts away from it. Every sample gets exactly one outcome.
//!
//! Deterministic: the controller updates once per batch, so the batches must not depend on how
//! the pipe happens to be read. `--max-wait-ms` is far longer than writing the whole stream
//! takes, so every batch closes full (`policy.batch_size` samples), the last one at the end of
//! the input, whatever the pipe's chunking.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::common;

const WINDOW: usize = 1000;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// 4,000 images, 90% of easy classes, then 4,000, 90% of hard classes.
fn drifting_stream() -> (Vec<u8>, usize) {
    let half = 4_000;
    (
        common::mixed_stream(&[(half, false), (half, true)]),
        2 * half,
    )
}

/// Offload share per window of `meanet run` on `pixels`, with extra `--set`s.
fn shares(pixels: &[u8], n: usize, sets: &[&str]) -> Vec<f64> {
    let mut args = vec![
        "run".to_string(),
        root().join("models/fashion-mnist").display().to_string(),
        "--input".into(),
        "-".into(),
        "--json".into(),
        "--quiet".into(),
        // Full batches only (module docs); the writer fills the pipe in well under a second.
        "--max-wait-ms".into(),
        "600000".into(),
        "--set".into(),
        "cloud.transport=none".into(),
    ];
    for s in sets {
        args.push("--set".into());
        args.push((*s).to_string());
    }
    let mut run = Command::new(env!("CARGO_BIN_EXE_meanet"))
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = run.stdin.take().unwrap();
    let input = pixels.to_vec();
    let writer = std::thread::spawn(move || {
        stdin.write_all(&input).unwrap();
    });
    let mut offloaded = Vec::with_capacity(n);
    for (k, line) in BufReader::new(run.stdout.take().unwrap())
        .lines()
        .enumerate()
    {
        let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        assert_eq!(
            v["index"], k,
            "outcomes in input order, none lost or repeated"
        );
        // No cloud is configured: a sample the policy offloads is answered on the edge,
        // degraded "not_configured".
        offloaded.push(v["degraded"] == "not_configured");
    }
    writer.join().unwrap();
    assert!(run.wait().unwrap().success());
    assert_eq!(offloaded.len(), n);
    offloaded
        .chunks(WINDOW)
        .map(|w| w.iter().filter(|o| **o).count() as f64 / w.len() as f64)
        .collect()
}

#[test]
fn run_online_holds_the_offload_share_where_static_thresholds_drift() {
    let (pixels, n) = drifting_stream();
    let online = shares(&pixels, n, &["policy.online=true"]);
    let fixed = shares(&pixels, n, &[]);
    eprintln!("static {fixed:?}\nonline {online:?}");
    for (k, s) in online.iter().enumerate().skip(1) {
        assert!(
            (s - 0.2).abs() <= 0.03,
            "online window {k}: {s} (all: {online:?})"
        );
    }
    let worst = fixed.iter().map(|s| (s - 0.2).abs()).fold(0.0, f64::max);
    assert!(
        worst > 0.05,
        "static thresholds should drift on this stream: {fixed:?}"
    );
}

#[test]
fn bad_online_settings_are_clear_errors() {
    let out = Command::new(env!("CARGO_BIN_EXE_meanet"))
        .args([
            "run",
            &root().join("models/fashion-mnist").display().to_string(),
            "--input",
            "-",
            "--set",
            "cloud.transport=none",
            "--set",
            "policy.online=true",
            "--set",
            "policy.online_window=0",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("policy.online_window"), "{err}");
}

#[test]
fn eval_drift_sets_static_and_online_thresholds_side_by_side() {
    let out = std::env::temp_dir().join(format!("meanet-drift-{}", std::process::id()));
    let run = Command::new(env!("CARGO_BIN_EXE_meanet"))
        .args([
            "eval",
            &root().join("models/fashion-mnist").display().to_string(),
            "--limit",
            "5000",
            "--drift",
            "--no-sweep",
            "--quiet",
            "--out",
            &out.display().to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let d = &report["drift"];
    let shares = |k: &str| -> Vec<f64> {
        d[k].as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    let (fixed, online) = (shares("static_share"), shares("online_share"));
    eprintln!("static {fixed:?}\nonline {online:?}");
    assert!(online.len() >= 4 && online.len() == fixed.len(), "{d}");
    let h = d["hard_share"].as_array().unwrap();
    assert!(
        h[0].as_f64().unwrap() < 0.2 && h[1].as_f64().unwrap() > 0.8,
        "{d}"
    );
    for (k, s) in online.iter().enumerate().skip(1) {
        assert!(
            (s - 0.2).abs() <= 0.03,
            "online window {k}: {s} ({online:?})"
        );
    }
    assert!(d["online_max_deviation_pp"].as_f64().unwrap() <= 3.0);
    assert!(d["static_max_deviation_pp"].as_f64().unwrap() > 5.0, "{d}");
    assert!(out.join("drift.svg").is_file());
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## Drift") && md.contains("| online |"), "{md}");
    std::fs::remove_dir_all(&out).unwrap();
}
