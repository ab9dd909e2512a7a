//! The whole user workflow on a small generated Fashion-MNIST-shaped data set, as CI can afford:
//! `meanet train` (every stage, one epoch, tiny networks, a few hundred samples) through ONNX
//! export and the ONNX Runtime comparison, then `calibrate`, `eval` (real loopback cloud server)
//! and `run`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use std::path::{Path, PathBuf};

use crate::common;
use common::{json_file, meanet, ok};

pub(crate) fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

/// Learnable synthetic images: class k is a bright horizontal band at row 2k + noise.
pub(crate) fn write_data(dir: &Path, train: u32, test: u32) {
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = meanet_core::testing::rng(12345);
    let mut next = || rng.u32(..1 << 31);
    for (prefix, n) in [("train", train), ("t10k", test)] {
        let mut pixels = Vec::with_capacity((n * 784) as usize);
        let mut labels = Vec::with_capacity(n as usize);
        for i in 0..n {
            let k = (i % 10) as usize;
            labels.push(k as u8);
            for y in 0..28 {
                for _x in 0..28 {
                    let band = y / 2 == k + 2;
                    pixels.push(if band { 200 } else { 0 } + (next() % 40) as u8);
                }
            }
        }
        std::fs::write(
            dir.join(format!("{prefix}-images-idx3-ubyte")),
            idx(&[n, 28, 28], &pixels),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{prefix}-labels-idx1-ubyte")),
            idx(&[n], &labels),
        )
        .unwrap();
    }
}

pub(crate) fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("meanet-workflow-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn train_calibrate_eval_and_run_on_a_small_data_set() {
    let root = tmp("all");
    let data = root.join("data");
    write_data(&data, 400, 120);
    let bundle = root.join("bundle");
    let (d, b) = (data.to_str().unwrap(), bundle.to_str().unwrap());
    let start = std::time::Instant::now();
    ok(&meanet(&[
        "train",
        "--data",
        d,
        "--out",
        b,
        "--preset",
        "tiny",
        "--limit-train",
        "400",
        "--epochs-main",
        "1",
        "--epochs-extension",
        "1",
        "--epochs-cloud",
        "1",
        "--quiet",
    ]));
    eprintln!("train took {:?}", start.elapsed());
    for f in [
        "main.onnx",
        "extension.onnx",
        "cloud.onnx",
        "meanet.toml",
        "results.json",
        "train.log",
    ] {
        assert!(bundle.join(f).is_file(), "{f} missing");
    }
    let results = json_file(&bundle.join("results.json"));
    let diff = results["onnx_max_abs_diff"].as_f64().unwrap();
    assert!(diff <= 1e-4, "ONNX Runtime differs from burn by {diff}");
    assert!(
        results["macs_per_sample"]["cloud"].as_u64().unwrap()
            > results["macs_per_sample"]["main"].as_u64().unwrap()
    );
    let manifest = std::fs::read_to_string(bundle.join("meanet.toml")).unwrap();
    for key in [
        "classes",
        "hard_classes",
        "[input]",
        "shape",
        "mean",
        "std",
        "[models]",
        "main = \"main.onnx\"",
        "[macs]",
        "[split]",
    ] {
        assert!(manifest.contains(key), "manifest lacks {key}:\n{manifest}");
    }
    let log = std::fs::read_to_string(bundle.join("train.log")).unwrap();
    for stage in [
        "stage=main",
        "stage=partition",
        "stage=extension",
        "stage=cloud",
        "test:",
    ] {
        assert!(log.contains(stage), "log lacks {stage}:\n{log}");
    }

    // Calibrate for a target, then evaluate every method through a loopback cloud server.
    let out = ok(&meanet(&[
        "calibrate",
        b,
        "--data",
        d,
        "--target",
        "offload=0.3",
        "--json",
    ]));
    let cal: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(cal["chosen"]["cloud_share"].as_f64().unwrap() <= 0.3);
    // Every threshold searched, and never worse than the paper's two-threshold grid.
    assert_eq!(cal["search"], "all");
    assert!(
        cal["chosen"]["accuracy"].as_f64().unwrap()
            >= cal["two_threshold"]["accuracy"].as_f64().unwrap()
    );
    assert!(
        std::fs::read_to_string(bundle.join("meanet.toml"))
            .unwrap()
            .contains("[thresholds]")
    );
    let report_dir = root.join("report");
    ok(&meanet(&[
        "eval",
        b,
        "--data",
        d,
        "--limit",
        "60",
        "--out",
        report_dir.to_str().unwrap(),
        "--quiet",
    ]));
    let report = json_file(&report_dir.join("report.json"));
    let names: Vec<&str> = report["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "main_only",
            "cloud_only",
            "main_extension",
            "entropy_exit",
            "meanet_paper",
            "meanet"
        ]
    );
    // Paired-bootstrap intervals: every accuracy has one around it, and the three differences.
    let diffs: Vec<&str> = report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        diffs,
        [
            "meanet - entropy_exit",
            "meanet - cloud_only",
            "meanet - meanet_paper"
        ]
    );
    for d in report["differences"].as_array().unwrap() {
        let (lo, e, hi) = (
            d["low"].as_f64().unwrap(),
            d["estimate"].as_f64().unwrap(),
            d["high"].as_f64().unwrap(),
        );
        assert!(lo <= e && e <= hi, "{d}");
    }
    for m in report["methods"].as_array().unwrap() {
        let ci = m["accuracy_ci"].as_array().unwrap();
        let a = m["accuracy"].as_f64().unwrap();
        assert!(
            ci[0].as_f64().unwrap() <= a && a <= ci[1].as_f64().unwrap(),
            "{m}"
        );
        for key in [
            "accuracy",
            "exit_share",
            "edge_energy_j",
            "cloud_energy_j",
            "bytes_per_sample",
            "latency_ms_mean",
            "latency_ms_p99",
            "degraded",
            "samples",
        ] {
            assert!(m.get(key).is_some(), "{} lacks {key}", m["name"]);
        }
        assert_eq!(m["samples"], 60);
        assert_eq!(m["degraded"], 0);
    }
    let cloud = &report["methods"][1];
    assert_eq!(cloud["exit_share"]["cloud"], 1.0);
    assert!(
        cloud["bytes_per_sample"].as_f64().unwrap() > 3136.0,
        "real bytes on the wire"
    );
    for f in [
        "report.md",
        "accuracy_vs_energy.svg",
        "exits_per_class.svg",
        "main_entropy.svg",
    ] {
        assert!(report_dir.join(f).is_file(), "{f} missing");
    }
    // Both payloads priced: u8 sends at least 3.5x fewer bytes and spends less edge energy.
    let p = report["payloads"].as_array().unwrap();
    assert_eq!(p.len(), 2);
    let (f32p, u8p) = (&p[0], &p[1]);
    assert_eq!(
        (f32p["payload"].as_str(), f32p["used"].as_bool()),
        (Some("f32"), Some(true))
    );
    let ratio =
        f32p["bytes_per_offload"].as_f64().unwrap() / u8p["bytes_per_offload"].as_f64().unwrap();
    assert!(ratio >= 3.5, "u8 cuts bytes {ratio:.2}x");
    let j = |p: &serde_json::Value, k: &str| p[k].as_f64().unwrap();
    assert!(j(u8p, "radio_j_per_offload") < j(f32p, "radio_j_per_offload"));
    assert!(j(u8p, "meanet_edge_energy_j") <= j(f32p, "meanet_edge_energy_j"));
    assert!(
        std::fs::read_to_string(report_dir.join("report.md"))
            .unwrap()
            .contains("| u8 |")
    );

    // The bundle records its split: the report calibrates for several offload targets on the
    // validation split and measures each on the test split.
    let targets = report["targets"].as_array().unwrap();
    for method in ["meanet", "meanet_per_class", "entropy_exit"] {
        assert!(
            targets.iter().any(|t| t["method"] == method),
            "{method} missing from the target sweep"
        );
    }
    assert!(report_dir.join("accuracy_vs_offload.svg").is_file());

    // Per-class thresholds: written beside the global ones, they route from then on, and the
    // report sets them against the global ones with a paired interval.
    let out = ok(&meanet(&[
        "calibrate",
        b,
        "--data",
        d,
        "--target",
        "offload=0.3",
        "--per-class",
        "--json",
    ]));
    let cal: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let per = &cal["per_class"];
    assert!(per["cloud_share"].as_f64().unwrap() <= 0.3, "{per}");
    assert!(!per["main"].as_array().unwrap().is_empty());
    let manifest = std::fs::read_to_string(bundle.join("meanet.toml")).unwrap();
    assert!(manifest.contains("[thresholds.per_class]"), "{manifest}");
    let per_dir = root.join("report-per-class");
    ok(&meanet(&[
        "eval",
        b,
        "--data",
        d,
        "--limit",
        "60",
        "--out",
        per_dir.to_str().unwrap(),
        "--quiet",
    ]));
    let per_report = json_file(&per_dir.join("report.json"));
    let names: Vec<&str> = per_report["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(&names[4..], ["meanet_paper", "meanet_global", "meanet"]);
    assert!(
        per_report["differences"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["name"] == "meanet - meanet_global")
    );
    // Too few test samples for two 1,000-sample windows per half: a clear error.
    let drift = meanet(&[
        "eval",
        b,
        "--data",
        d,
        "--out",
        per_dir.to_str().unwrap(),
        "--quiet",
        "--drift",
    ]);
    assert!(!drift.status.success());
    let err = String::from_utf8_lossy(&drift.stderr);
    assert!(err.contains("--drift needs at least 1000"), "{err}");

    // The same evaluation with the cloud link switched to QUIC by configuration.
    let quic_dir = root.join("report-quic");
    ok(&meanet(&[
        "eval",
        b,
        "--data",
        d,
        "--limit",
        "30",
        "--out",
        quic_dir.to_str().unwrap(),
        "--quiet",
        "--set",
        "cloud.transport=quic",
        "--set",
        "cloud.payload=u8",
    ]));
    let report = json_file(&quic_dir.join("report.json"));
    let cloud = &report["methods"][1];
    assert_eq!(cloud["name"], "cloud_only");
    assert_eq!(
        cloud["degraded"], 0,
        "every offload answered over QUIC, as UINT8"
    );
    let bytes = cloud["bytes_per_sample"].as_f64().unwrap();
    assert!(
        (784.0..3136.0 / 3.5).contains(&bytes),
        "u8 on the wire: {bytes}"
    );

    // The edge runtime on an IDX file, with no cloud: offloads degrade, nothing is lost.
    let out = ok(&meanet(&[
        "run",
        b,
        "--input",
        data.join("t10k-images-idx3-ubyte").to_str().unwrap(),
        "--json",
        "--set",
        "cloud.transport=none",
    ]));
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 120);
    assert!(lines.iter().all(|l| l["exit"] != "cloud"));
    std::fs::remove_dir_all(&root).unwrap();
}
