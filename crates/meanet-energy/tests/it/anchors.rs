//! Correctness anchors: total MACs within 1% of published figures.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use crate::common;

use meanet_energy::Graph;

fn macs(bytes: &[u8], name: &str) -> f64 {
    let p = Graph::parse(bytes, name).unwrap().profile(1).unwrap();
    assert!(p.is_complete(), "{name}: uncounted {:?}", p.uncounted);
    p.total_macs().0 as f64
}

fn within_one_percent(got: f64, want: f64, name: &str) {
    let err = (got - want).abs() / want;
    eprintln!(
        "{name}: {:.4} G MACs (published {:.4} G, {:+.2}%)",
        got / 1e9,
        want / 1e9,
        100.0 * (got - want) / want
    );
    assert!(err < 0.01, "{name}: {got} vs {want}");
}

#[test]
fn resnet18_is_1_814_gmacs() {
    within_one_percent(
        macs(&common::resnet(false, [2, 2, 2, 2], false), "resnet18"),
        1.814e9,
        "ResNet-18",
    );
}

#[test]
fn resnet50_is_4_09_gmacs() {
    within_one_percent(
        macs(&common::resnet(true, [3, 4, 6, 3], false), "resnet50"),
        4.09e9,
        "ResNet-50",
    );
}

#[test]
fn mobilenet_v2_is_0_300_gmacs() {
    within_one_percent(
        macs(&common::mobilenet_v2(), "mobilenetv2"),
        0.300e9,
        "MobileNetV2",
    );
}

#[test]
fn cifar_resnet32_is_69_1_mmacs() {
    within_one_percent(
        macs(&common::cifar_resnet32(), "resnet32"),
        69.1e6,
        "ResNet-32",
    );
}

#[test]
fn batch_scales_macs_linearly() {
    let bytes = common::cifar_resnet32();
    let g = Graph::parse(&bytes, "resnet32").unwrap();
    let one = g.profile(1).unwrap().total_macs().0;
    let eight = g.profile(8).unwrap();
    assert_eq!(eight.total_macs().0, 8 * one);
    assert_eq!(eight.macs_per_sample().0, one);
}

#[test]
fn full_size_resnet50_with_its_weights_profiles_25m_parameters() {
    // Its speed is a bench, not an assertion: `cargo bench -p meanet-energy --bench profile`.
    let bytes = common::resnet(true, [3, 4, 6, 3], true);
    assert!(
        bytes.len() > 90_000_000,
        "the model carries its 25 M weights ({} bytes)",
        bytes.len()
    );
    let dir = std::env::temp_dir().join(format!("meanet-energy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("resnet50.onnx");
    std::fs::write(&path, &bytes).unwrap();
    drop(bytes);
    let p = Graph::read(&path).unwrap().profile(1).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let params = p.total_params();
    assert!((25_000_000..26_000_000).contains(&params), "{params}");
}
