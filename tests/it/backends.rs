//! One set of cases, every backend (in the spirit of tract's `test-rt` suites): the port
//! contracts of `meanet_core::testing::contract`, agreement with ONNX Runtime's reference
//! outputs on the fixtures, and the load-time checks and their messages, run against the fakes,
//! the ONNX Runtime adapter and the tract adapter alike.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use std::path::{Path, PathBuf};

use meanet_core::manifest::Tensors;
use meanet_core::testing::{EchoClassifier, EchoMain, PickHard, contract};
use meanet_core::{Classifier, ExtensionBlock, MainBlock, ModelSignature};
use ndarray::{Array, ArrayD, Axis, IxDyn};

/// What the shared cases need from a backend: loaders, with or without a bundle's tensor names.
trait Backend {
    const NAME: &'static str;
    fn main(path: &Path, names: Option<&Tensors>) -> Result<Box<dyn MainBlock>, String>;
    fn extension(path: &Path, names: Option<&Tensors>) -> Result<Box<dyn ExtensionBlock>, String>;
    fn classifier(path: &Path) -> Result<(Box<dyn Classifier>, ModelSignature), String>;
}

struct Ort;
fn ort_rt() -> meanet_onnx::Runtime {
    meanet_onnx::Runtime::with_defaults().expect("ONNX Runtime (run scripts/setup)")
}
impl Backend for Ort {
    const NAME: &'static str = "ort";
    fn main(path: &Path, names: Option<&Tensors>) -> Result<Box<dyn MainBlock>, String> {
        let rt = ort_rt();
        let b = match names {
            Some(t) => meanet_onnx::OrtMainBlock::load_named(&rt, path, t),
            None => meanet_onnx::OrtMainBlock::load(&rt, path),
        };
        b.map(|b| Box::new(b) as _).map_err(|e| e.to_string())
    }
    fn extension(path: &Path, names: Option<&Tensors>) -> Result<Box<dyn ExtensionBlock>, String> {
        let rt = ort_rt();
        let b = match names {
            Some(t) => meanet_onnx::OrtExtensionBlock::load_named(&rt, path, t),
            None => meanet_onnx::OrtExtensionBlock::load(&rt, path),
        };
        b.map(|b| Box::new(b) as _).map_err(|e| e.to_string())
    }
    fn classifier(path: &Path) -> Result<(Box<dyn Classifier>, ModelSignature), String> {
        let b = meanet_onnx::OrtClassifier::load(&ort_rt(), path).map_err(|e| e.to_string())?;
        let sig = b.model().signature().clone();
        Ok((Box::new(b), sig))
    }
}

struct Tract;
impl Backend for Tract {
    const NAME: &'static str = "tract";
    fn main(path: &Path, names: Option<&Tensors>) -> Result<Box<dyn MainBlock>, String> {
        let b = match names {
            Some(t) => meanet_tract::TractMainBlock::load_named(path, t),
            None => meanet_tract::TractMainBlock::load(path),
        };
        b.map(|b| Box::new(b) as _).map_err(|e| e.to_string())
    }
    fn extension(path: &Path, names: Option<&Tensors>) -> Result<Box<dyn ExtensionBlock>, String> {
        let b = match names {
            Some(t) => meanet_tract::TractExtensionBlock::load_named(path, t),
            None => meanet_tract::TractExtensionBlock::load(path),
        };
        b.map(|b| Box::new(b) as _).map_err(|e| e.to_string())
    }
    fn classifier(path: &Path) -> Result<(Box<dyn Classifier>, ModelSignature), String> {
        let b = meanet_tract::TractClassifier::load(path).map_err(|e| e.to_string())?;
        let sig = b.model().signature().clone();
        Ok((Box::new(b), sig))
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/meanet-onnx/tests/fixtures")
        .join(name)
}

fn reference_bundle(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models/fashion-mnist")
        .join(name)
}

/// ONNX Runtime 1.32.0's outputs on the fixtures, recorded when they were generated.
fn expected(key: &str) -> ArrayD<f32> {
    let text = std::fs::read_to_string(fixture("expected.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let shape: Vec<usize> = serde_json::from_value(v[key]["shape"].clone()).unwrap();
    let data: Vec<f32> = serde_json::from_value(v[key]["data"].clone()).unwrap();
    ArrayD::from_shape_vec(IxDyn(&shape), data).unwrap()
}

fn max_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max)
}

/// The agreement the issue asks of every backend against ONNX Runtime.
const AGREE: f32 = 1e-4;

fn meets_the_contracts<B: Backend>() {
    let x = expected("input");
    let wrong = ArrayD::<f32>::zeros(IxDyn(&[2, 1, 9, 9]));
    let mut main = B::main(&fixture("main.onnx"), None).unwrap();
    contract::main_block(main.as_mut(), &x, Some(&wrong), 1e-5);
    let features = main.infer(x.view()).unwrap().features;
    let mut ext = B::extension(&fixture("extension.onnx"), None).unwrap();
    contract::extension_block(ext.as_mut(), &x, &features, 3, 1e-5);
    let (mut cloud, sig) = B::classifier(&fixture("cloud.onnx")).unwrap();
    contract::classifier(
        cloud.as_mut(),
        &x,
        sig.classes(0).unwrap(),
        Some(&wrong),
        1e-5,
    );
}

fn agrees_with_onnx_runtime_on_the_fixtures<B: Backend>() {
    let x = expected("input");
    let mut main = B::main(&fixture("main.onnx"), Some(&Tensors::default())).unwrap();
    let out = main.infer(x.view()).unwrap();
    let d = max_diff(&out.logits.clone().into_dyn(), &expected("main_logits"));
    assert!(d <= AGREE, "{}: main logits differ by {d}", B::NAME);
    let d = max_diff(&out.features, &expected("main_features"));
    assert!(d <= AGREE, "{}: main features differ by {d}", B::NAME);
    let mut ext = B::extension(&fixture("extension.onnx"), Some(&Tensors::default())).unwrap();
    let hard = ext.infer(x.view(), out.features.view()).unwrap();
    let d = max_diff(&hard.into_dyn(), &expected("extension_logits"));
    assert!(d <= AGREE, "{}: extension logits differ by {d}", B::NAME);
    let (mut cloud, _) = B::classifier(&fixture("cloud.onnx")).unwrap();
    let logits = cloud.classify(x.view()).unwrap();
    let d = max_diff(&logits.into_dyn(), &expected("cloud_logits"));
    assert!(d <= AGREE, "{}: cloud logits differ by {d}", B::NAME);
}

/// Bad files and misfit models are refused on load with the same messages on every backend.
fn refuses_bad_models_with_the_same_messages<B: Backend>() {
    let fail = |r: Result<Box<dyn MainBlock>, String>| r.err().expect("refused");
    let e = fail(B::main(&fixture("one_output.onnx"), None));
    assert_eq!(
        e,
        format!(
            "model {} cannot serve as main block: expected 2 output(s), the model has 1",
            fixture("one_output.onnx").display()
        ),
        "{}",
        B::NAME
    );
    let e = B::extension(&fixture("main.onnx"), None).err().unwrap();
    assert!(e.contains("expected 2 input(s), the model has 1"), "{e}");
    let e = B::classifier(&fixture("main.onnx")).err().unwrap();
    assert!(e.contains("expected 1 output(s), the model has 2"), "{e}");
    let names = Tensors {
        features: "feat".into(),
        ..Tensors::default()
    };
    let e = fail(B::main(&fixture("main.onnx"), Some(&names)));
    assert!(
        e.contains("tensors.features = \"feat\" is not one of its outputs"),
        "{}: {e}",
        B::NAME
    );

    let dir = std::env::temp_dir().join(format!(
        "meanet-backends-{}-{}",
        B::NAME,
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let bytes = std::fs::read(fixture("main.onnx")).unwrap();
    let truncated = dir.join("truncated.onnx");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let garbage = dir.join("garbage.onnx");
    std::fs::write(&garbage, b"this is not a protobuf at all \xff\xfe").unwrap();
    for path in [truncated, garbage, dir.join("missing.onnx")] {
        let e = fail(B::main(&path, None));
        assert!(
            e.contains(&path.display().to_string()),
            "{}: {e} names no file",
            B::NAME
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The reference bundle's three networks, run by `B`, on deterministic inputs of `n` samples.
fn reference_logits<B: Backend>(x: &ArrayD<f32>) -> [ArrayD<f32>; 3] {
    let t = Tensors::default();
    let mut main = B::main(&reference_bundle("main.onnx"), Some(&t)).unwrap();
    let out = main.infer(x.view()).unwrap();
    let mut ext = B::extension(&reference_bundle("extension.onnx"), Some(&t)).unwrap();
    let hard = ext.infer(x.view(), out.features.view()).unwrap();
    let (mut cloud, _) = B::classifier(&reference_bundle("cloud.onnx")).unwrap();
    let logits = cloud.classify(x.view()).unwrap();
    [out.logits.into_dyn(), hard.into_dyn(), logits.into_dyn()]
}

macro_rules! backend_suite {
    ($module:ident, $backend:ty) => {
        mod $module {
            use super::*;

            #[test]
            fn meets_the_port_contracts() {
                meets_the_contracts::<$backend>();
            }

            #[test]
            fn agrees_with_onnx_runtime_reference_outputs() {
                agrees_with_onnx_runtime_on_the_fixtures::<$backend>();
            }

            #[test]
            fn refuses_bad_models_naming_the_file_and_key() {
                refuses_bad_models_with_the_same_messages::<$backend>();
            }
        }
    };
}

backend_suite!(ort, Ort);
backend_suite!(tract, Tract);

#[test]
fn fakes_meet_the_port_contracts() {
    let batch = Array::from_shape_fn(IxDyn(&[6, 5]), |ix| ((ix[0] * 13 + ix[1]) % 7) as f32);
    let wrong = ArrayD::<f32>::zeros(IxDyn(&[2, 1, 3]));
    contract::main_block(&mut EchoMain, &batch, Some(&wrong), 0.0);
    contract::extension_block(&mut PickHard::new(vec![0, 4], 3.0), &batch, &batch, 2, 0.0);
    contract::classifier(&mut EchoClassifier, &batch, 5, Some(&wrong), 0.0);
}

#[test]
fn tract_agrees_with_ort_on_the_reference_bundle() {
    let x = Array::from_shape_fn(IxDyn(&[32, 1, 28, 28]), |ix| {
        (((ix[0] * 31 + ix[2] * 7 + ix[3] * 3) % 23) as f32 / 11.0) - 1.0
    });
    let ort = reference_logits::<Ort>(&x);
    let tract = reference_logits::<Tract>(&x);
    for (name, (a, b)) in ["main", "extension", "cloud"]
        .iter()
        .zip(ort.iter().zip(&tract))
    {
        let d = max_diff(a, b);
        assert!(d <= AGREE, "{name} logits: tract and ort differ by {d}");
    }
    // Every batch size gives the same answers, whether it runs a plan of its own (the first
    // PLANS_PER_MODEL sizes) or the symbolic one (the rest).
    let mut main = meanet_tract::TractMainBlock::load_named(
        reference_bundle("main.onnx"),
        &Tensors::default(),
    )
    .unwrap();
    for n in 1..=12 {
        let part = x.slice_axis(Axis(0), (0..n).into());
        let got = main.infer(part).unwrap().logits.into_dyn();
        let want = ort[0].slice_axis(Axis(0), (0..n).into()).to_owned();
        let d = max_diff(&got, &want);
        assert!(d <= AGREE, "batch of {n}: tract and ort differ by {d}");
    }
    let planned = main.model().planned_batch_sizes();
    assert_eq!(
        planned,
        (1..=meanet_tract::PLANS_PER_MODEL).collect::<Vec<_>>()
    );
}
