//! The ImageNet presets' new operators (depthwise convolution, ReLU6 as Clip, max pooling,
//! bottleneck blocks), as exported, give burn's outputs within 1e-4 on ONNX Runtime and on
//! tract: this package builds both backends, whatever the CLI's features.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use meanet_train::export;
use meanet_train::nets::{Architecture, Preset};

/// Every new operator, as exported, gives burn's outputs within 1e-4 on both backends.
#[test]
fn exported_imagenet_blocks_agree_with_burn_on_every_backend() {
    use meanet_runtime::options::{Backend, BackendOptions};
    use ndarray::{ArrayD, IxDyn};
    let dir = std::env::temp_dir().join(format!("meanet-imagenet-ops-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let backends = [Backend::Ort, Backend::Tract];
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
                    assert_eq!(ours.len(), burn.len());
                    let d = export::max_abs_diff(ours, burn);
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
