//! The `meanet` binary as a user runs it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common;
use common::{address_after, meanet, text};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../meanet-onnx/tests/fixtures")
        .join(name)
}

#[test]
fn help_lists_the_commands() {
    let out = meanet(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for cmd in ["profile", "runtime", "serve"] {
        assert!(help.contains(cmd), "{help}");
    }
}

#[test]
fn profile_json_has_the_stable_keys() {
    let out = meanet(&[
        "profile",
        fixture("cloud.onnx").to_str().unwrap(),
        "--json",
        "--batch",
        "3",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // conv1 8*64*9 + conv2 8*64*72 + fc 48 = 41_520 MACs per sample.
    assert_eq!(v["total_macs"], 3 * 41_520);
    assert_eq!(v["total_params"], 718);
    assert!(v["total_energy_j"].as_f64().unwrap() > 0.0);
    assert_eq!(v["unsupported_ops"], serde_json::json!([]));
    let layers = v["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 7);
    for key in ["name", "op_type", "macs", "params", "energy_j"] {
        assert!(layers[0].get(key).is_some(), "layer key {key}");
    }
    assert_eq!(layers[0]["op_type"], "Conv");
    assert_eq!(layers[0]["macs"], 3 * 8 * 64 * 9);
}

#[test]
fn profile_lists_ops_it_cannot_count() {
    let out = meanet(&[
        "profile",
        fixture("bench_main.onnx").to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["unsupported_ops"], serde_json::json!(["Range"]));
    assert!(!v["uncounted"].as_array().unwrap().is_empty());
}

#[test]
fn profile_rejects_corrupt_and_missing_files_by_name() {
    let dir = std::env::temp_dir().join(format!("meanet-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bytes = std::fs::read(fixture("cloud.onnx")).unwrap();
    let cut = dir.join("cut.onnx");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let empty = dir.join("empty.onnx");
    std::fs::write(&empty, b"").unwrap();
    for path in [cut, empty, dir.join("missing.onnx")] {
        let out = meanet(&["profile", path.to_str().unwrap()]);
        assert!(!out.status.success());
        let err = text(&out.stderr);
        assert!(err.contains(path.to_str().unwrap()), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let out = meanet(&[
        "profile",
        fixture("cloud.onnx").to_str().unwrap(),
        "--batch",
        "0",
    ]);
    assert!(!out.status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn runtime_reports_the_library_and_refuses_missing_providers() {
    let out = meanet(&["runtime"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("libonnxruntime"));
    let out = meanet(&["runtime", "--provider", "cuda"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("execution provider cuda is unavailable"));
    let out = Command::new(env!("CARGO_BIN_EXE_meanet"))
        .arg("runtime")
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("/nonexistent/libonnxruntime.so does not exist"));
}

fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn serve_logs_its_address_serves_v2_and_stops_on_sigint() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_meanet"))
        .args([
            "serve",
            "--model",
            fixture("cloud.onnx").to_str().unwrap(),
            "--http",
            "127.0.0.1:0",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr =
        address_after(&first, "http://").unwrap_or_else(|| panic!("no address in {first:?}"));
    let meta = http_get(&addr, "/v2/models/cloud");
    assert!(meta.starts_with("HTTP/1.1 200"), "{meta}");
    assert!(meta.contains("\"platform\":\"onnxruntime_onnx\""), "{meta}");
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l.contains("SIGINT: draining"))
            && rest.iter().any(|l| l.ends_with("drained")),
        "{rest:?}"
    );
    assert!(child.wait().unwrap().success());
}

#[test]
fn serve_refuses_a_missing_model_and_a_missing_choice() {
    let out = meanet(&[
        "serve",
        "--model",
        "/nonexistent/cloud.onnx",
        "--http",
        "127.0.0.1:0",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("/nonexistent/cloud.onnx"),
        "{}",
        text(&out.stderr)
    );
    let out = meanet(&["serve"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("nothing to serve"),
        "{}",
        text(&out.stderr)
    );
}
