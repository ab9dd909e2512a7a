//! `meanet quantize` as a user runs it: `train --preset tiny -> quantize -> eval -> run`, and a
//! quantized bundle refused a second quantization.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use crate::common::{json_file, meanet, ok, text};
use crate::workflow::{tmp, write_data};

#[test]
fn train_quantize_eval_and_run() {
    let root = tmp("quantize");
    let data = root.join("data");
    write_data(&data, 300, 100);
    let (bundle, q) = (root.join("bundle"), root.join("int8"));
    let (d, b, qs) = (
        data.to_str().unwrap(),
        bundle.to_str().unwrap(),
        q.to_str().unwrap(),
    );
    ok(&meanet(&[
        "train",
        "--data",
        d,
        "--out",
        b,
        "--preset",
        "tiny",
        "--epochs-main",
        "1",
        "--epochs-extension",
        "1",
        "--epochs-cloud",
        "1",
        "--quiet",
    ]));
    let calib = root.join("calib");
    let out = ok(&meanet(&[
        "quantize",
        b,
        "--out",
        qs,
        "--data",
        d,
        "--cloud",
        "--keep-slower",
        "--samples",
        "64",
        "--write-calibration",
        calib.to_str().unwrap(),
        "--target",
        "offload=0.3",
    ]));
    // One line per block, saying which graph the bundle keeps and why.
    for block in ["main", "extension", "cloud"] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(block) && l.contains("x f32 at batch")),
            "{block} missing from:\n{out}"
        );
        // --keep-slower: the int8 graph exists whether or not the bundle uses it; ONNX
        // Runtime loaded and ran it to time it.
        assert!(q.join(format!("{block}.int8.onnx")).is_file());
    }
    assert!(calib.join("main.input.npy").is_file());
    assert!(calib.join("extension.features.npy").is_file());
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(q.join("meanet.toml")).unwrap()).unwrap();
    let rec = manifest["quantization"].as_table().unwrap();
    assert_eq!(rec["method"].as_str(), Some("minmax"));
    assert_eq!(rec["activations"].as_str(), Some("u8"));
    assert!(
        rec["data"].as_str().unwrap().contains("the first 64;"),
        "{rec:?}"
    );
    let models = manifest["models"].as_table().unwrap();
    for block in rec["blocks"].as_array().unwrap() {
        let name = block["block"].as_str().unwrap();
        let int8 = block["int8"].as_bool().unwrap();
        let (f, i) = (
            block["f32_per_s"].as_float().unwrap(),
            block["int8_per_s"].as_float().unwrap(),
        );
        // Never slower: the bundle runs int8 exactly where int8 was measured at least as fast.
        assert_eq!(int8, i >= f, "{name}: {block:?}");
        assert_eq!(block["why"].as_str().unwrap().contains("(slower)"), i < f);
        let file = models[name].as_str().unwrap();
        assert_eq!(file.ends_with(".int8.onnx"), int8, "{name} runs {file}");
    }
    // Thresholds re-calibrated on the quantized blocks.
    assert!(manifest.contains_key("thresholds"));

    // The quantized bundle evaluates and runs unchanged.
    let report_dir = root.join("report");
    ok(&meanet(&[
        "eval",
        qs,
        "--data",
        d,
        "--limit",
        "60",
        "--out",
        report_dir.to_str().unwrap(),
        "--quiet",
    ]));
    let report = json_file(&report_dir.join("report.json"));
    let meanet_row = report["methods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "meanet")
        .unwrap();
    assert_eq!(meanet_row["degraded"], 0);
    let out = ok(&meanet(&[
        "run",
        qs,
        "--input",
        data.join("t10k-images-idx3-ubyte").to_str().unwrap(),
        "--json",
        "--set",
        "cloud.transport=none",
    ]));
    assert_eq!(out.lines().count(), 100);

    // A quantized bundle is not quantized again.
    let again = meanet(&[
        "quantize",
        qs,
        "--out",
        root.join("again").to_str().unwrap(),
        "--data",
        d,
    ]);
    assert!(!again.status.success());
    let err = text(&again.stderr);
    assert!(err.contains("already quantized"), "{err}");
    std::fs::remove_dir_all(&root).unwrap();
}
