//! The ImageNet presets are the published networks: `meanet profile` of their exported main
//! blocks at 224x224 with 1,000 classes counts the published MACs and parameters within 1%
//! (MobileNetV2 1.0: 300 M and 3.5 M; ResNet-18: 1.81 G and 11.7 M; the ResNet-50 cloud: 4.1 G
//! and 25.6 M), and the adaptive + extension blocks cost at most about half the main block.

#![cfg(feature = "train")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use std::path::Path;

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

/// The largest `|a - b|` (NaN if either has one).
fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(p, q)| (p - q).abs())
        .fold(0f32, |m, d| {
            if d.is_nan() || m.is_nan() {
                f32::NAN
            } else {
                m.max(d)
            }
        })
}

/// Every new operator (depthwise convolution, ReLU6 as Clip, max pooling, bottlenecks), as
/// exported, gives burn's outputs within 1e-4 on every inference backend this build has.
#[test]
fn exported_imagenet_blocks_agree_with_burn_on_every_backend() {
    use meanet_runtime::options::{Backend, BackendOptions};
    use ndarray::{ArrayD, IxDyn};
    let dir = std::env::temp_dir().join(format!("meanet-imagenet-ops-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let backends: Vec<Backend> = [
        cfg!(feature = "ort").then_some(Backend::Ort),
        cfg!(feature = "tract").then_some(Backend::Tract),
    ]
    .into_iter()
    .flatten()
    .collect();
    for (preset, cloud) in [(Preset::Mobilenetv2, 50), (Preset::Resnet18, 18)] {
        let arch = Architecture::new(preset, [3, 40, 40], 6, 3, Some(cloud)).unwrap();
        let r = export::untrained_reference(&arch, [3, 40, 40], 2, 7);
        for (name, bytes) in [
            ("main", &r.main),
            ("extension", &r.extension),
            ("cloud", &r.cloud),
        ] {
            std::fs::write(dir.join(format!("{preset}-{name}.onnx")), bytes).unwrap();
        }
        let x = ArrayD::from_shape_vec(IxDyn(&r.input_shape), r.input.clone()).unwrap();
        let f = ArrayD::from_shape_vec(IxDyn(&r.features_shape), r.features.clone()).unwrap();
        for &backend in &backends {
            let engine = meanet_runtime::Engine::new(&BackendOptions {
                backend,
                ..BackendOptions::default()
            })
            .unwrap();
            let open = |name: &str| {
                engine
                    .open(&dir.join(format!("{preset}-{name}.onnx")))
                    .unwrap()
            };
            let out = open("main").run(&[x.view()]).unwrap();
            let ext = open("extension").run(&[x.view(), f.view()]).unwrap();
            let cl = open("cloud").run(&[x.view()]).unwrap();
            let flat = |a: &ArrayD<f32>| a.iter().copied().collect::<Vec<f32>>();
            let pairs = [
                (flat(&out[0]), &r.logits),
                (flat(&out[1]), &r.features),
                (flat(&ext[0]), &r.hard_logits),
                (flat(&cl[0]), &r.cloud_logits),
            ];
            // Untrained MobileNetV2 features are tiny (running statistics at their initial
            // values), so the difference is also checked relative to the largest value.
            let scale = |v: &[f32]| v.iter().fold(0f32, |m, x| m.max(x.abs()));
            let diffs: Vec<(f32, f32)> = pairs
                .iter()
                .map(|(ours, burn)| {
                    let d = max_diff(ours, burn);
                    (d, d / scale(burn).max(f32::MIN_POSITIVE))
                })
                .collect();
            eprintln!(
                "{preset} (cloud ResNet-{cloud}) on {backend:?}: (max |diff|, relative) {diffs:?}"
            );
            assert!(
                diffs.iter().all(|(d, rel)| *d <= 1e-4 && *rel <= 1e-4),
                "{preset} on {backend:?}: {diffs:?} over 1e-4"
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
