//! `meanet export edge`: an edge bundle without the cloud model. `meanet edge` serves it,
//! offloading to `meanet serve` of the full bundle, with the full bundle's answers; the
//! commands that run the cloud say they need the full bundle; a memory budget is held or
//! refused with the smallest that works.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::PathBuf;

use crate::common::{meanet, ok, temp_dir, text};
use crate::edge_server::{bundle, images, json_request, outcomes, request, start};

/// The reference bundle's edge bundle, written by the command into a fresh directory.
fn export_edge(name: &str) -> PathBuf {
    let out = temp_dir(&format!("edge-bundle-{name}")).join("edge");
    let listed = ok(&meanet(&[
        "--json",
        "export",
        "edge",
        &bundle(),
        "--out",
        out.to_str().unwrap(),
    ]));
    let files: serde_json::Value = serde_json::from_str(listed.trim()).unwrap();
    assert_eq!(files["files"].as_array().unwrap().len(), 4, "{listed}");
    assert!(out.join("main.onnx").is_file() && out.join("extension.onnx").is_file());
    assert!(
        !out.join("cloud.onnx").exists(),
        "no cloud model on the device"
    );
    out
}

#[test]
fn meanet_edge_serves_an_edge_bundle_with_the_full_bundles_answers() {
    let edge_dir = export_edge("serve");
    let (_cloud, cloud) = start(&["serve", &bundle(), "--http", "127.0.0.1:0"]);
    let url = format!("cloud.url=http://{cloud}");
    let body = json_request(&images(200));
    let mut answers = Vec::new();
    for dir in [edge_dir.to_str().unwrap(), bundle().as_str()] {
        let (_edge, addr) = start(&["edge", dir, "--http", "127.0.0.1:0", "--set", &url]);
        let r = request(&addr, "POST", "/v2/models/meanet/infer", &[], &body);
        assert_eq!(r.status, 200, "{}", text(&r.body));
        answers.push(outcomes(&r.body));
    }
    assert_eq!(
        answers[0], answers[1],
        "the edge bundle answers as the full one"
    );
    let cloud_answered = answers[0].iter().filter(|(_, e, _)| e == "cloud").count();
    assert!(cloud_answered > 10, "real offloads: {cloud_answered}");
    assert!(answers[0].iter().all(|(_, _, degraded)| !degraded));
}

#[test]
fn commands_that_run_the_cloud_say_they_need_the_full_bundle() {
    let edge_dir = export_edge("refused");
    let dir = edge_dir.to_str().unwrap();
    for args in [
        vec!["serve", dir, "--http", "127.0.0.1:0"],
        vec!["eval", dir, "--limit", "100", "--no-sweep"],
        vec!["calibrate", dir, "--target", "offload=0.2"],
        vec!["export", "triton", dir, "--out", "/nonexistent/repo"],
    ] {
        let out = meanet(&args);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            err.contains("this command runs the cloud model"),
            "{args:?}: {err}"
        );
        assert!(err.contains("meanet export edge"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn a_memory_budget_is_said_and_one_too_small_for_batch_one_is_refused() {
    let edge_dir = export_edge("budget");
    let dir = edge_dir.to_str().unwrap();
    let none = "cloud.transport=none";
    let out = meanet(&["run", dir, "--set", none, "--set", "runtime.memory_mb=1"]);
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("runtime.memory_mb = 1 is too small"), "{err}");
    assert!(
        err.contains("the smallest budget that works is runtime.memory_mb = "),
        "{err}"
    );
    let out = meanet(&[
        "--json",
        "run",
        dir,
        "--set",
        none,
        "--set",
        "runtime.memory_mb=4096",
    ]);
    let stdout = ok(&out);
    assert_eq!(stdout.lines().count(), 10_000, "every test sample answered");
    let err = text(&out.stderr);
    assert!(
        err.contains("meanet run: memory: batch 64 for runtime.memory_mb = 4096"),
        "{err}"
    );
}

#[test]
fn export_k8s_ships_the_edge_bundle_for_the_edge_image() {
    let out = temp_dir("edge-bundle-k8s");
    let listed = ok(&meanet(&[
        "export",
        "k8s",
        &bundle(),
        "--out",
        out.to_str().unwrap(),
        "--storage-uri",
        "s3://bucket/repo",
    ]));
    let edge = out.join("edge-bundle");
    assert!(listed.contains("edge-bundle/meanet.toml"), "{listed}");
    assert!(edge.join("main.onnx").is_file() && edge.join("extension.onnx").is_file());
    assert!(
        !edge.join("cloud.onnx").exists(),
        "the predictor serves the cloud"
    );
    let manifest = std::fs::read_to_string(edge.join("meanet.toml")).unwrap();
    assert!(manifest.contains("[cloud.output]"), "{manifest}");
}
