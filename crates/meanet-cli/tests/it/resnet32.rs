//! The `resnet32` preset is the paper's ResNet-32: `meanet profile` of its exported main block
//! for 100 classes counts 69.1 M MACs (the published figure) within 1%.

#![cfg(feature = "train")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use meanet_runtime::train::nets::Architecture;
use meanet_runtime::train::{Preset, export};

use crate::common;
use common::{meanet, text};

#[test]
fn profile_of_the_resnet32_main_block_matches_the_published_69_1_m_macs() {
    let arch = Architecture::new(Preset::Resnet32, [3, 32, 32], 100, 50, Some(110)).unwrap();
    let onnx = export::untrained_main_onnx(&arch, [3, 32, 32]);
    let dir = std::env::temp_dir().join(format!("meanet-resnet32-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("main.onnx");
    std::fs::write(&path, onnx).unwrap();
    let out = meanet(&["profile", path.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let p: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    let macs = p["macs_per_sample"].as_f64().unwrap();
    let published = 69.1e6;
    let off = (macs - published).abs() / published;
    eprintln!(
        "ResNet-32 main block (100 classes): {macs} MACs, {:.3}% from 69.1 M",
        off * 100.0
    );
    assert!(off < 0.01, "{macs} MACs is {:.2}% from 69.1 M", off * 100.0);
    assert!(
        p["uncounted"].as_array().is_none_or(|u| u.is_empty()),
        "{p}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
