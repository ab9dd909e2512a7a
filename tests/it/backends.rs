//! One set of cases, every backend (in the spirit of tract's `test-rt` suites): the port
//! contracts of `meanet_core::testing::contract`, agreement with ONNX Runtime's reference
//! outputs on the fixtures, and the load-time checks and their messages, run against the fakes,
//! the ONNX Runtime adapter and the tract adapter alike.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use std::path::{Path, PathBuf};

use meanet_core::manifest::Tensors;
use meanet_core::testing::FakeNetwork;
use meanet_core::testing::{EchoClassifier, EchoMain, PickHard, contract};
use meanet_core::{
    Classifier, ClassifierNet, ExtensionBlock, ExtensionNet, MainBlock, MainNet, ModelSignature,
    Network,
};
use ndarray::{Array, ArrayD, Axis, IxDyn};

/// A backend, as the runtime sees one: a name and a way to open a file as a [`Network`]. The
/// blocks are core's generic ones over it; nothing here is per backend.
#[derive(Clone, Copy)]
struct Backend {
    name: &'static str,
    open: fn(&Path) -> Result<Box<dyn Network>, String>,
}

fn ort_rt() -> meanet_onnx::Runtime {
    meanet_onnx::Runtime::with_defaults().expect("ONNX Runtime (run scripts/setup)")
}

const ORT: Backend = Backend {
    name: "ort",
    open: |p| {
        meanet_onnx::open(&ort_rt(), p)
            .map(|n| Box::new(n) as Box<dyn Network>)
            .map_err(|e| e.to_string())
    },
};

const TRACT: Backend = Backend {
    name: "tract",
    open: |p| {
        meanet_tract::open(p)
            .map(|n| Box::new(n) as Box<dyn Network>)
            .map_err(|e| e.to_string())
    },
};

impl Backend {
    fn main(self, path: &Path, names: Option<&Tensors>) -> Result<Box<dyn MainBlock>, String> {
        let net = (self.open)(path)?;
        let b = match names {
            Some(t) => MainNet::named(net, t),
            None => MainNet::new(net),
        };
        b.map(|b| Box::new(b) as _).map_err(|e| e.to_string())
    }

    fn extension(
        self,
        path: &Path,
        names: Option<&Tensors>,
    ) -> Result<Box<dyn ExtensionBlock>, String> {
        let net = (self.open)(path)?;
        let b = match names {
            Some(t) => ExtensionNet::named(net, t),
            None => ExtensionNet::new(net),
        };
        b.map(|b| Box::new(b) as _).map_err(|e| e.to_string())
    }

    fn classifier(self, path: &Path) -> Result<(Box<dyn Classifier>, ModelSignature), String> {
        let b = ClassifierNet::new((self.open)(path)?).map_err(|e| e.to_string())?;
        let sig = b.network().signature().clone();
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

fn meets_the_contracts(b: Backend) {
    let x = expected("input");
    let wrong = ArrayD::<f32>::zeros(IxDyn(&[2, 1, 9, 9]));
    let mut main = b.main(&fixture("main.onnx"), None).unwrap();
    contract::main_block(main.as_mut(), &x, Some(&wrong), 1e-5);
    let features = main.infer(x.view()).unwrap().features;
    let mut ext = b.extension(&fixture("extension.onnx"), None).unwrap();
    contract::extension_block(ext.as_mut(), &x, &features, 3, 1e-5);
    let (mut cloud, sig) = b.classifier(&fixture("cloud.onnx")).unwrap();
    contract::classifier(
        cloud.as_mut(),
        &x,
        sig.classes(0).unwrap(),
        Some(&wrong),
        1e-5,
    );
}

fn agrees_with_onnx_runtime_on_the_fixtures(b: Backend) {
    let x = expected("input");
    let mut main = b
        .main(&fixture("main.onnx"), Some(&Tensors::default()))
        .unwrap();
    let out = main.infer(x.view()).unwrap();
    let d = max_diff(&out.logits.clone().into_dyn(), &expected("main_logits"));
    assert!(d <= AGREE, "{}: main logits differ by {d}", b.name);
    let d = max_diff(&out.features, &expected("main_features"));
    assert!(d <= AGREE, "{}: main features differ by {d}", b.name);
    let mut ext = b
        .extension(&fixture("extension.onnx"), Some(&Tensors::default()))
        .unwrap();
    let hard = ext.infer(x.view(), out.features.view()).unwrap();
    let d = max_diff(&hard.into_dyn(), &expected("extension_logits"));
    assert!(d <= AGREE, "{}: extension logits differ by {d}", b.name);
    let (mut cloud, _) = b.classifier(&fixture("cloud.onnx")).unwrap();
    let logits = cloud.classify(x.view()).unwrap();
    let d = max_diff(&logits.into_dyn(), &expected("cloud_logits"));
    assert!(d <= AGREE, "{}: cloud logits differ by {d}", b.name);
}

/// Bad files and misfit models are refused on load with the same messages on every backend.
fn refuses_bad_models_with_the_same_messages(b: Backend) {
    let fail = |r: Result<Box<dyn MainBlock>, String>| r.err().expect("refused");
    let e = fail(b.main(&fixture("one_output.onnx"), None));
    assert_eq!(
        e,
        format!(
            "model {} cannot serve as main block: expected 2 output(s), the model has 1",
            fixture("one_output.onnx").display()
        ),
        "{}",
        b.name
    );
    let e = b.extension(&fixture("main.onnx"), None).err().unwrap();
    assert!(e.contains("expected 2 input(s), the model has 1"), "{e}");
    let e = b.classifier(&fixture("main.onnx")).err().unwrap();
    assert!(e.contains("expected 1 output(s), the model has 2"), "{e}");
    let names = Tensors {
        features: "feat".into(),
        ..Tensors::default()
    };
    let e = fail(b.main(&fixture("main.onnx"), Some(&names)));
    assert!(
        e.contains("tensors.features = \"feat\" is not one of its outputs"),
        "{}: {e}",
        b.name
    );

    let dir =
        std::env::temp_dir().join(format!("meanet-backends-{}-{}", b.name, std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bytes = std::fs::read(fixture("main.onnx")).unwrap();
    let truncated = dir.join("truncated.onnx");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let garbage = dir.join("garbage.onnx");
    std::fs::write(&garbage, b"this is not a protobuf at all \xff\xfe").unwrap();
    for path in [truncated, garbage, dir.join("missing.onnx")] {
        let e = fail(b.main(&path, None));
        assert!(
            e.contains(&path.display().to_string()),
            "{}: {e} names no file",
            b.name
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The reference bundle's three networks, run by `B`, on deterministic inputs of `n` samples.
fn reference_logits(b: Backend, x: &ArrayD<f32>) -> [ArrayD<f32>; 3] {
    let t = Tensors::default();
    let mut main = b.main(&reference_bundle("main.onnx"), Some(&t)).unwrap();
    let out = main.infer(x.view()).unwrap();
    let mut ext = b
        .extension(&reference_bundle("extension.onnx"), Some(&t))
        .unwrap();
    let hard = ext.infer(x.view(), out.features.view()).unwrap();
    let (mut cloud, _) = b.classifier(&reference_bundle("cloud.onnx")).unwrap();
    let logits = cloud.classify(x.view()).unwrap();
    [out.logits.into_dyn(), hard.into_dyn(), logits.into_dyn()]
}

macro_rules! backend_suite {
    ($module:ident, $backend:expr) => {
        mod $module {
            use super::*;

            #[test]
            fn meets_the_port_contracts() {
                meets_the_contracts($backend);
            }

            #[test]
            fn agrees_with_onnx_runtime_reference_outputs() {
                agrees_with_onnx_runtime_on_the_fixtures($backend);
            }

            #[test]
            fn refuses_bad_models_naming_the_file_and_key() {
                refuses_bad_models_with_the_same_messages($backend);
            }
        }
    };
}

backend_suite!(ort, ORT);
backend_suite!(tract, TRACT);

#[test]
fn fakes_meet_the_port_contracts() {
    let batch = Array::from_shape_fn(IxDyn(&[6, 5]), |ix| ((ix[0] * 13 + ix[1]) % 7) as f32);
    let wrong = ArrayD::<f32>::zeros(IxDyn(&[2, 1, 3]));
    contract::main_block(&mut EchoMain, &batch, Some(&wrong), 0.0);
    contract::extension_block(&mut PickHard::new(vec![0, 4], 3.0), &batch, &batch, 2, 0.0);
    contract::classifier(&mut EchoClassifier, &batch, 5, Some(&wrong), 0.0);
}

/// The generic blocks over a fake network meet the same contracts as over ort and tract.
#[test]
fn generic_blocks_over_a_fake_network_meet_the_port_contracts() {
    let fake = Backend {
        name: "fake",
        open: |p| {
            let n = match p.file_name().and_then(|f| f.to_str()) {
                Some("main") => FakeNetwork::main(&[1, 3, 3], 5, &[2, 2, 2]),
                Some("extension") => FakeNetwork::extension(&[1, 3, 3], &[2, 2, 2], 2),
                _ => FakeNetwork::classifier(&[1, 3, 3], 5),
            };
            Ok(Box::new(n))
        },
    };
    let x = Array::from_shape_fn(IxDyn(&[4, 1, 3, 3]), |ix| (ix[0] + ix[3]) as f32 / 7.0);
    let wrong = ArrayD::<f32>::zeros(IxDyn(&[2, 1, 4, 4]));
    let mut main = fake.main(Path::new("main"), None).unwrap();
    contract::main_block(main.as_mut(), &x, Some(&wrong), 0.0);
    let features = main.infer(x.view()).unwrap().features;
    let mut ext = fake.extension(Path::new("extension"), None).unwrap();
    contract::extension_block(ext.as_mut(), &x, &features, 2, 0.0);
    let (mut cloud, sig) = fake.classifier(Path::new("cloud")).unwrap();
    contract::classifier(
        cloud.as_mut(),
        &x,
        sig.classes(0).unwrap(),
        Some(&wrong),
        0.0,
    );
}

#[test]
fn tract_agrees_with_ort_on_the_reference_bundle() {
    let x = Array::from_shape_fn(IxDyn(&[32, 1, 28, 28]), |ix| {
        (((ix[0] * 31 + ix[2] * 7 + ix[3] * 3) % 23) as f32 / 11.0) - 1.0
    });
    let ort = reference_logits(ORT, &x);
    let tract = reference_logits(TRACT, &x);
    for (name, (a, b)) in ["main", "extension", "cloud"]
        .iter()
        .zip(ort.iter().zip(&tract))
    {
        let d = max_diff(a, b);
        assert!(d <= AGREE, "{name} logits: tract and ort differ by {d}");
    }
    // Every batch size gives the same answers, whether it runs a plan of its own (the first
    // PLANS_PER_MODEL sizes) or the symbolic one (the rest).
    let mut main = meanet_tract::TractMainBlock::named(
        meanet_tract::open(reference_bundle("main.onnx")).unwrap(),
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
    let planned = main.network().planned_batch_sizes();
    assert_eq!(
        planned,
        (1..=meanet_tract::PLANS_PER_MODEL).collect::<Vec<_>>()
    );
}
