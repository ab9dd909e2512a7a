//! End to end over real ONNX models: main and extension blocks from ONNX Runtime, the cloud
//! model answered in-process on tokio's blocking pool.
//!
//! The fixture main block predicts the same class (4) for every input, so the test picks
//! partitions and thresholds from the observed entropies to exercise every exit.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use std::path::{Path, PathBuf};

use meanet_core::{
    BlockCosts, ClassPartition, CloudLink, Exit, Macs, MeaNet, Outcome, Pipeline, Scores,
    Thresholds,
};
use meanet_onnx::{LocalCloud, OrtClassifier, OrtExtensionBlock, OrtMainBlock, Runtime};
use ndarray::{Array, Array2, ArrayD, IxDyn};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/meanet-onnx/tests/fixtures")
        .join(name)
}

fn median_entropy(logits: &Array2<f32>) -> f64 {
    let mut h: Vec<f64> = logits
        .outer_iter()
        .map(|r| Scores::from_logits(&r.to_vec()).unwrap().entropy)
        .collect();
    h.sort_by(f64::total_cmp);
    h[h.len() / 2]
}

async fn route(
    rt: &Runtime,
    x: &ArrayD<f32>,
    hard: Vec<usize>,
    thresholds: Thresholds,
) -> (Vec<Outcome>, Array2<f32>) {
    let main = OrtMainBlock::new(meanet_onnx::open(rt, fixture("main.onnx")).unwrap()).unwrap();
    let ext =
        OrtExtensionBlock::new(meanet_onnx::open(rt, fixture("extension.onnx")).unwrap()).unwrap();
    let mut cloud_model =
        OrtClassifier::new(meanet_onnx::open(rt, fixture("cloud.onnx")).unwrap()).unwrap();
    let cloud_logits = cloud_model.run(x.view()).unwrap();
    let cloud = LocalCloud::new(cloud_model);
    let costs = BlockCosts {
        main: Macs(2_600),
        extension: Macs(20_000),
        cloud: Macs(40_000),
    };
    let mut p = Pipeline::new(
        Box::new(main),
        Some(Box::new(ext)),
        ClassPartition::try_new(6, hard).unwrap(),
        Box::new(MeaNet { thresholds }),
        costs,
    );
    let out = p
        .route(x.view(), Some(&cloud as &dyn CloudLink))
        .await
        .unwrap();
    (out, cloud_logits)
}

fn count(out: &[Outcome], exit: Exit) -> usize {
    out.iter().filter(|o| o.exit == exit).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meanet_routes_real_models_and_answers_every_sample() {
    let rt = Runtime::with_defaults().expect("ONNX Runtime (run scripts/setup)");
    let x: ArrayD<f32> = Array::from_shape_fn(IxDyn(&[64, 1, 8, 8]), |ix| {
        let scale = 0.5 + (ix[0] % 8) as f32;
        (((ix[0] * 37 + ix[2] * 11 + ix[3] * 5) % 23) as f32 / 7.0).sin() * scale
    });
    let mut main =
        OrtMainBlock::new(meanet_onnx::open(&rt, fixture("main.onnx")).unwrap()).unwrap();
    let m = main.run(x.view()).unwrap();
    let t_main = median_entropy(&m.logits);
    let mut ext =
        OrtExtensionBlock::new(meanet_onnx::open(&rt, fixture("extension.onnx")).unwrap()).unwrap();
    let t_ext = median_entropy(&ext.run(x.view(), m.features.view()).unwrap());

    // Class 4 hard (with 0 and 1: the extension knows three classes): everything leaves the main block; the uncertain half goes straight to the
    // cloud, the rest runs the extension, whose uncertain samples go on to the cloud.
    let hard = Thresholds {
        main: None,
        cloud_main: Some(t_main),
        extension: Some(t_ext),
        ..Thresholds::default()
    };
    let (out, cloud_logits) = route(&rt, &x, vec![0, 1, 4], hard).await;
    // Class 4 easy: the confident half exits at the main block, the rest is offloaded.
    let easy = Thresholds {
        main: Some(t_main),
        ..hard
    };
    let (out2, _) = route(&rt, &x, vec![0, 1, 2], easy).await;

    for o in out.iter().chain(&out2) {
        assert!(!o.is_degraded());
        if o.exit == Exit::Cloud {
            let want = Scores::from_logits(&cloud_logits.row(o.index).to_vec()).unwrap();
            assert_eq!(o.class, want.class, "cloud answer of sample {}", o.index);
            assert!(o.cost.bytes_sent.0 > 0);
            assert_eq!(o.cost.cloud, Some(Macs(40_000)));
        }
    }
    assert_eq!(out.len(), 64);
    assert_eq!(out2.len(), 64);
    assert_eq!(count(&out, Exit::Main), 0);
    assert!(count(&out, Exit::Extension) > 0);
    assert!(count(&out, Exit::Cloud) > 0);
    assert!(
        count(&out2, Exit::Main) >= 32,
        "median threshold keeps at least half"
    );
    assert!(count(&out2, Exit::Cloud) > 0);
    assert_eq!(count(&out2, Exit::Extension), 0);
}
