//! Adapter tests on the checked-in fixtures (see tests/fixtures/make_fixtures.py). Expected
//! values were computed by ONNX Runtime 1.32.0 when the fixtures were generated.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use std::path::{Path, PathBuf};

use meanet_core::network::{NetworkError, run_checked};
use meanet_core::{
    BlockCosts, ClassPartition, CloudLink, EdgeOnly, MainBlock, Pipeline, PipelineError,
};
use meanet_onnx::{
    LocalCloud, OnnxError, OrtClassifier, OrtExtensionBlock, OrtMainBlock, OrtModel, Provider,
    Runtime, RuntimeOptions,
};
use ndarray::{ArrayD, IxDyn};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn runtime() -> Runtime {
    Runtime::with_defaults().expect("ONNX Runtime (run scripts/setup)")
}

fn expected(key: &str) -> ArrayD<f32> {
    let text = std::fs::read_to_string(fixture("expected.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let shape: Vec<usize> = serde_json::from_value(v[key]["shape"].clone()).unwrap();
    let data: Vec<f32> = serde_json::from_value(v[key]["data"].clone()).unwrap();
    ArrayD::from_shape_vec(IxDyn(&shape), data).unwrap()
}

fn assert_close(got: &ArrayD<f32>, want: &ArrayD<f32>, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let max = got
        .iter()
        .zip(want.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(max <= 1e-5, "{what}: max abs difference {max}");
}

#[test]
fn blocks_match_onnx_runtime_reference_outputs() {
    let rt = runtime();
    let x = expected("input");
    let mut main =
        OrtMainBlock::new(meanet_onnx::open(&rt, fixture("main.onnx")).unwrap()).unwrap();
    assert_eq!(main.num_classes(), Some(6));
    let out = main.infer(x.view()).unwrap();
    assert_close(
        &out.logits.clone().into_dyn(),
        &expected("main_logits"),
        "main logits",
    );
    assert_close(&out.features, &expected("main_features"), "main features");

    let mut ext =
        OrtExtensionBlock::new(meanet_onnx::open(&rt, fixture("extension.onnx")).unwrap()).unwrap();
    assert_eq!(ext.num_hard_classes(), Some(3));
    let hard = ext.run(x.view(), out.features.view()).unwrap();
    assert_close(
        &hard.into_dyn(),
        &expected("extension_logits"),
        "extension logits",
    );

    let mut cloud =
        OrtClassifier::new(meanet_onnx::open(&rt, fixture("cloud.onnx")).unwrap()).unwrap();
    let logits = cloud.run(x.view()).unwrap();
    assert_close(
        &logits.into_dyn(),
        &expected("cloud_logits"),
        "cloud logits",
    );
}

#[test]
fn batches_of_one_agree_with_the_whole_batch() {
    let rt = runtime();
    let x = expected("input");
    let mut main =
        OrtMainBlock::new(meanet_onnx::open(&rt, fixture("main.onnx")).unwrap()).unwrap();
    let whole = main.run(x.view()).unwrap();
    for i in 0..x.shape()[0] {
        let one = x.slice_axis(ndarray::Axis(0), (i..=i).into());
        let single = main.run(one).unwrap();
        let want = whole
            .logits
            .row(i)
            .to_owned()
            .insert_axis(ndarray::Axis(0))
            .into_dyn();
        assert_close(&single.logits.into_dyn(), &want, "batch of one");
    }
}

// Corrupt, missing and misfit model files are refused with the same messages by every
// backend: those cases run on ONNX Runtime and tract alike in tests/it/backends.rs.

#[test]
fn wrong_input_shapes_and_empty_batches_are_errors() {
    let rt = runtime();
    let mut model = OrtModel::load(&rt, fixture("main.onnx")).unwrap();
    let wrong = ArrayD::<f32>::zeros(IxDyn(&[2, 1, 9, 9]));
    let err = run_checked(&mut model, &[wrong.view()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "input \"input\" of {} expects shape [N, 1, 8, 8], got [2, 1, 9, 9]",
            fixture("main.onnx").display()
        )
    );
    let empty = ArrayD::<f32>::zeros(IxDyn(&[0, 1, 8, 8]));
    assert!(matches!(
        run_checked(&mut model, &[empty.view()]),
        Err(NetworkError::InputShape { .. })
    ));

    let main = OrtMainBlock::new(meanet_onnx::open(&rt, fixture("main.onnx")).unwrap()).unwrap();
    let mut p = Pipeline::new(
        Box::new(main),
        None,
        ClassPartition::try_new(6, vec![0]).unwrap(),
        Box::new(EdgeOnly),
        BlockCosts::default(),
    );
    assert!(matches!(
        p.route_edge(empty.view()),
        Err(PipelineError::EmptyBatch)
    ));
}

#[test]
fn nan_logits_are_a_clear_pipeline_error() {
    let rt = runtime();
    let main = OrtMainBlock::new(meanet_onnx::open(&rt, fixture("nan.onnx")).unwrap()).unwrap();
    let mut p = Pipeline::new(
        Box::new(main),
        None,
        ClassPartition::try_new(6, vec![0]).unwrap(),
        Box::new(EdgeOnly),
        BlockCosts::default(),
    );
    let err = p.route_edge(expected("input").view()).unwrap_err();
    assert!(
        matches!(
            err,
            PipelineError::Logits {
                block: "main",
                sample: 0,
                ..
            }
        ),
        "{err:?}"
    );
    let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(chain.contains("non-finite logit NaN"), "{chain}");
}

#[test]
fn unavailable_providers_fail_loudly() {
    for provider in [
        Provider::Cuda,
        Provider::TensorRt,
        Provider::CoreMl,
        Provider::OpenVino,
    ] {
        let err = Runtime::new(RuntimeOptions {
            provider,
            ..RuntimeOptions::default()
        })
        .unwrap_err();
        assert!(
            matches!(err, OnnxError::ProviderUnavailable { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains(provider.name()), "{err}");
    }
    assert_eq!(Provider::parse("CUDA"), Some(Provider::Cuda));
    assert_eq!(Provider::parse("tpu"), None);
}

#[test]
fn local_cloud_runs_off_the_async_workers() {
    let rt = runtime();
    let cloud = LocalCloud::new(
        OrtClassifier::new(meanet_onnx::open(&rt, fixture("cloud.onnx")).unwrap()).unwrap(),
    );
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let x = expected("input");
    let reply = tokio_rt.block_on(cloud.classify(x.clone())).unwrap();
    assert_close(
        &reply.logits.into_dyn(),
        &expected("cloud_logits"),
        "local cloud",
    );
    assert_eq!(reply.bytes_sent.0, (x.len() * 4) as u64);
    let bad = ArrayD::<f32>::zeros(IxDyn(&[1, 3]));
    let err = tokio_rt.block_on(cloud.classify(bad)).unwrap_err();
    assert!(
        matches!(err, meanet_core::CloudError::InvalidReply(_)),
        "{err:?}"
    );
}

#[test]
fn manifest_tensor_names_are_honoured_and_a_wrong_one_is_named() {
    use meanet_core::manifest::Tensors;
    let rt = runtime();
    let x = expected("input");
    let names = Tensors::default();
    let mut main = OrtMainBlock::named(
        meanet_onnx::open(&rt, fixture("main.onnx")).unwrap(),
        &names,
    )
    .unwrap();
    let out = main.run(x.view()).unwrap();
    assert_close(
        &out.logits.clone().into_dyn(),
        &expected("main_logits"),
        "main logits by name",
    );
    let mut ext = OrtExtensionBlock::named(
        meanet_onnx::open(&rt, fixture("extension.onnx")).unwrap(),
        &names,
    )
    .unwrap();
    assert_close(
        &ext.run(x.view(), out.features.view()).unwrap().into_dyn(),
        &expected("extension_logits"),
        "extension logits by name",
    );
    OrtClassifier::named(
        meanet_onnx::open(&rt, fixture("cloud.onnx")).unwrap(),
        "input",
        "logits",
    )
    .unwrap();

    // Swapping the two main outputs' names is followed, so the "logits" are now the feature
    // map, which is refused for its shape.
    let swapped = Tensors {
        main_logits: "features".into(),
        features: "logits".into(),
        ..Tensors::default()
    };
    let e = OrtMainBlock::named(
        meanet_onnx::open(&rt, fixture("main.onnx")).unwrap(),
        &swapped,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("logits output \"features\""), "{e}");
    let cases: [(Tensors, &str); 3] = [
        (
            Tensors {
                features: "feat".into(),
                ..Tensors::default()
            },
            "tensors.features = \"feat\" is not one of its outputs",
        ),
        (
            Tensors {
                input: "x".into(),
                ..Tensors::default()
            },
            "tensors.input = \"x\" is not one of its inputs",
        ),
        (
            Tensors {
                features: "logits".into(),
                ..Tensors::default()
            },
            "name the same output",
        ),
    ];
    for (t, want) in cases {
        let e = OrtMainBlock::named(meanet_onnx::open(&rt, fixture("main.onnx")).unwrap(), &t)
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{e} should say {want}");
    }
    let e = OrtExtensionBlock::named(
        meanet_onnx::open(&rt, fixture("extension.onnx")).unwrap(),
        &Tensors {
            extension_logits: "out".into(),
            ..Tensors::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("tensors.extension_logits = \"out\""), "{e}");
    let e = OrtClassifier::named(
        meanet_onnx::open(&rt, fixture("cloud.onnx")).unwrap(),
        "input",
        "probs",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("tensors.cloud_logits = \"probs\""), "{e}");
}
