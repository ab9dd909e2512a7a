//! The ImageNet presets are the published networks: `meanet profile` of their exported main
//! blocks at 224x224 with 1,000 classes counts the published MACs and parameters within 1%
//! (MobileNetV2 1.0: 300 M and 3.5 M; ResNet-18: 1.81 G and 11.7 M; the ResNet-50 cloud: 4.1 G
//! and 25.6 M), and the adaptive + extension blocks cost at most about half the main block.

#![cfg(feature = "train")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use std::path::Path;

use meanet_data::synthetic::{SyntheticFolder, write_image_folder};
use meanet_runtime::train::nets::Architecture;
use meanet_runtime::train::{Preset, export};

use crate::common;
use common::{meanet, text};

/// `(MACs per sample, parameters)` that `meanet profile --json` counts in `onnx`.
fn profile(dir: &Path, name: &str, onnx: &[u8]) -> (f64, f64) {
    let path = dir.join(name);
    std::fs::write(&path, onnx).unwrap();
    let out = meanet(&["profile", path.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let p: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert!(
        p["uncounted"].as_array().is_none_or(|u| u.is_empty()),
        "{name}: {}",
        p["uncounted"]
    );
    std::fs::remove_file(&path).unwrap();
    (
        p["macs_per_sample"].as_f64().unwrap(),
        p["total_params"].as_f64().unwrap(),
    )
}

fn within_1_percent(what: &str, counted: f64, published: f64) {
    let off = (counted - published).abs() / published;
    eprintln!(
        "{what}: {counted:.0}, {:.2}% from the published {published:.3e}",
        off * 100.0
    );
    assert!(
        off < 0.01,
        "{what}: {counted} is {:.2}% from {published}",
        off * 100.0
    );
}

#[test]
fn profile_of_the_imagenet_presets_matches_the_published_macs_and_parameters() {
    let dir = std::env::temp_dir().join(format!("meanet-imagenet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = [3, 224, 224];
    let mobilenet = Architecture::new(Preset::Mobilenetv2, input, 1000, 500, None).unwrap();
    let (main, extension, cloud) = export::untrained_onnx(&mobilenet, input);
    let (macs, params) = profile(&dir, "mobilenetv2.onnx", &main);
    within_1_percent("MobileNetV2 MACs", macs, 300e6);
    within_1_percent("MobileNetV2 parameters", params, 3.5e6);
    let (ax, _) = profile(&dir, "mobilenetv2-extension.onnx", &extension);
    eprintln!("MobileNetV2 A + X: {ax:.0} MACs, {:.2} of M", ax / macs);
    assert!(
        ax <= 0.55 * macs,
        "A + X cost {ax}, over half of M's {macs}"
    );
    let (cmacs, cparams) = profile(&dir, "resnet50.onnx", &cloud);
    within_1_percent("ResNet-50 MACs", cmacs, 4.1e9);
    within_1_percent("ResNet-50 parameters", cparams, 25.6e6);

    let resnet = Architecture::new(Preset::Resnet18, input, 1000, 500, None).unwrap();
    let (main, extension, _) = export::untrained_onnx(&resnet, input);
    let (macs, params) = profile(&dir, "resnet18.onnx", &main);
    within_1_percent("ResNet-18 MACs", macs, 1.81e9);
    within_1_percent("ResNet-18 parameters", params, 11.7e6);
    let (ax, _) = profile(&dir, "resnet18-extension.onnx", &extension);
    eprintln!("ResNet-18 A + X: {ax:.0} MACs, {:.2} of M", ax / macs);
    assert!(
        ax <= 0.55 * macs,
        "A + X cost {ax}, over half of M's {macs}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The paper's ImageNet workflow, as a user runs it on a class-folder copy of ImageNet:
/// `train --preset mobilenetv2` (a few batches, at 64x64 to stay fast) -> `calibrate` ->
/// `eval` -> `run`, on generated JPEG folders of mixed sizes, read as a stream with the
/// ImageNet crops.
#[test]
fn imagenet_style_folder_train_mobilenetv2_calibrate_eval_run() {
    let root = std::env::temp_dir().join(format!("meanet-imagenet-flow-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let data = root.join("imagenet");
    let spec = SyntheticFolder {
        classes: 4,
        train: 16,
        val: 6,
        sizes: SyntheticFolder::small_sizes(),
        seed: 1,
    };
    write_image_folder(&data, &spec).unwrap();
    let (d, bundle) = (data.to_str().unwrap(), root.join("bundle"));
    let b = bundle.to_str().unwrap();
    let out = meanet(&[
        "train",
        "--dataset",
        "folder",
        "--data",
        d,
        "--image-size",
        "64",
        "--resize",
        "crop",
        "--preset",
        "mobilenetv2",
        "--cloud",
        "resnet18",
        "--limit-train",
        "48",
        "--batch-size",
        "8",
        "--epochs-main",
        "1",
        "--epochs-extension",
        "1",
        "--epochs-cloud",
        "1",
        "--out",
        b,
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let manifest = std::fs::read_to_string(bundle.join("meanet.toml")).unwrap();
    assert!(manifest.contains("resize = \"crop\""), "{manifest}");
    let results = common::json_file(&bundle.join("results.json"));
    assert!(
        results["onnx_max_scaled_diff"].as_f64().unwrap() <= 1e-4,
        "{results}"
    );
    let log = std::fs::read_to_string(bundle.join("train.log")).unwrap();
    assert!(log.contains("preset mobilenetv2"), "{log}");

    let out = common::ok(&meanet(&[
        "calibrate",
        b,
        "--target",
        "offload=0.3",
        "--json",
    ]));
    let cal: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(cal["samples"].as_u64().unwrap() > 0, "{cal}");

    let report = root.join("report");
    // The loopback cloud answers; how fast depends on what else the two cores run (CI runs the
    // tract tests beside this one), so the deadline is out of the way: a timeout here would be
    // the machine's load, not a lost or degraded sample.
    common::ok(&meanet(&[
        "eval",
        b,
        "--out",
        report.to_str().unwrap(),
        "--no-sweep",
        "--quiet",
        "--set",
        "cloud.deadline_ms=60000",
    ]));
    let r = common::json_file(&report.join("report.json"));
    assert_eq!(r["samples"], 24, "every val image, once");
    assert_eq!(r["methods"][1]["degraded"], 0, "{}", r["methods"][1]);

    let val = data.join("val/n00000002");
    let out = common::ok(&meanet(&[
        "run",
        b,
        "--json",
        "--input",
        val.to_str().unwrap(),
        "--set",
        "cloud.transport=none",
    ]));
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6, "one outcome per image of the folder");
    assert!(lines.iter().all(|l| l["class"].as_u64().unwrap() < 4));
    std::fs::remove_dir_all(&root).unwrap();
}
