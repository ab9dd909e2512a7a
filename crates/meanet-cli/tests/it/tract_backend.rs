//! `runtime.backend = "tract"`: the same commands, the same answers as ONNX Runtime, and no
//! ONNX Runtime library opened.
//!
//! Built only with the `tract` feature. `cargo test --workspace` enables it: the workspace's
//! tests package (tests/Cargo.toml) depends on meanet-cli with `tract`, and cargo unifies
//! the features of a package across the workspace, so these run in CI's test stage.

#![cfg(feature = "tract")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common;
use common::{Killed, address_after, json_file, ok, text};

fn bundle() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/fashion-mnist")
}

fn cache() -> PathBuf {
    meanet_data::default_dataset_cache()
}

/// A library path that does not exist: a command that tried to load ONNX Runtime would fail.
const NOWHERE: &str = "/nonexistent/libonnxruntime.so.1.32.0";

fn meanet(backend: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_meanet"));
    c.env_remove("RUST_BACKTRACE")
        .env("MEANET_RUNTIME__BACKEND", backend);
    if backend == "tract" {
        c.env("ORT_DYLIB_PATH", NOWHERE);
    }
    c
}

/// `outcomes.csv` as method -> (index -> (label, class)).
fn outcomes(dir: &Path) -> HashMap<String, HashMap<usize, (usize, usize)>> {
    let text = std::fs::read_to_string(dir.join("outcomes.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("method,index,label,class,exit,degraded"));
    let mut map: HashMap<String, HashMap<usize, (usize, usize)>> = HashMap::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let n = |i: usize| f[i].parse::<usize>().unwrap();
        map.entry(f[0].to_string())
            .or_default()
            .insert(n(1), (n(2), n(3)));
    }
    map
}

#[test]
fn eval_with_tract_gives_ort_s_classes_on_the_whole_test_split() {
    let dir = std::env::temp_dir().join(format!("meanet-tract-eval-{}", std::process::id()));
    let run = |backend: &str| {
        let out = dir.join(backend);
        let o = meanet(backend)
            .args(["--quiet", "eval", bundle().to_str().unwrap(), "--no-sweep"])
            .args(["--cache", cache().to_str().unwrap()])
            .args(["--out", out.to_str().unwrap()])
            .output()
            .unwrap();
        ok(&o);
        out
    };
    let (ort, tract) = (run("ort"), run("tract"));
    let (r_ort, r_tract) = (
        json_file(&ort.join("report.json")),
        json_file(&tract.join("report.json")),
    );
    assert_eq!(r_ort["backend"], "ort");
    assert_eq!(r_tract["backend"], "tract");
    assert_eq!(r_tract["samples"], 10_000, "the whole test split");
    let (a, b) = (outcomes(&ort), outcomes(&tract));
    for (method, by_ort) in &a {
        let by_tract = &b[method];
        assert_eq!(
            by_ort.len(),
            by_tract.len(),
            "{method}: one outcome per sample"
        );
        let same = by_ort
            .iter()
            .filter(|(i, (_, c))| by_tract[i].1 == *c)
            .count();
        let share = same as f64 / by_ort.len() as f64;
        eprintln!(
            "{method}: tract gives ort's class on {same}/{}",
            by_ort.len()
        );
        assert!(share >= 0.999, "{method}: same class on only {share:.5}");
    }
    let accuracy = |r: &serde_json::Value| -> f64 {
        r["methods"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "meanet")
            .unwrap()["accuracy"]
            .as_f64()
            .unwrap()
    };
    let gap = (accuracy(&r_ort) - accuracy(&r_tract)).abs() * 100.0;
    eprintln!(
        "meanet accuracy: ort {:.4}, tract {:.4} ({gap:.3} pp apart)",
        accuracy(&r_ort),
        accuracy(&r_tract)
    );
    assert!(gap <= 0.05, "accuracy differs by {gap} pp");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn tract_serves_and_runs_without_onnx_runtime() {
    let mut child = meanet("tract")
        .args(["serve", bundle().to_str().unwrap(), "--http", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let line = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let _server = Killed(child);
    let addr = address_after(&line, "http://").unwrap_or_else(|| panic!("no address in {line}"));

    // 200 generated samples on stdin, offloads over HTTP to the tract server.
    let pixels: Vec<u8> = (0..200 * 784).map(|i| (i * 37 % 253) as u8).collect();
    let mut run = meanet("tract")
        .args([
            "--json",
            "--quiet",
            "run",
            bundle().to_str().unwrap(),
            "--input",
            "-",
        ])
        .args(["--set", &format!("cloud.url=http://{addr}")])
        // Every one of these synthetic samples is offloaded, several batches at once, to a
        // server on the same (busy) cores: allow it time.
        .args(["--set", "cloud.deadline_ms=20000"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    run.stdin.take().unwrap().write_all(&pixels).unwrap();
    let out = run.wait_with_output().unwrap();
    let stdout = ok(&out);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 200, "one outcome per sample");
    assert!(lines.iter().all(|l| l["degraded"].is_null()), "{stdout}");
    assert!(
        lines.iter().any(|l| l["exit"] == "cloud"),
        "some samples were answered by the tract cloud server"
    );

    // Neither process mapped an ONNX Runtime library.
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    assert!(
        !maps.contains("onnxruntime"),
        "the server loaded ONNX Runtime"
    );
}

#[test]
fn runtime_reports_the_backend_and_refuses_misfit_settings() {
    let o = meanet("tract")
        .args(["--json", "runtime"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&ok(&o)).unwrap();
    assert_eq!(v["backend"], "tract");
    assert!(v["built_with"].as_str().unwrap().contains("tract"));

    let o = meanet("tract")
        .args(["--set", "runtime.provider=cuda", "runtime"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("runtime.provider = \"cuda\" applies to ONNX Runtime only"),
        "{}",
        text(&o.stderr)
    );
    let o = meanet("ort")
        .args(["--set", "runtime.backend=onnx", "runtime"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = text(&o.stderr);
    assert!(e.contains("runtime.backend") && e.contains("tract"), "{e}");

    // The ort backend with no library fails loudly, naming the path; tract does not need one.
    let o = meanet("ort")
        .env("ORT_DYLIB_PATH", NOWHERE)
        .arg("runtime")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains(NOWHERE), "{}", text(&o.stderr));
}
