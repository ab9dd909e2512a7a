//! Pipeline tests with fake blocks: the input rows *are* the main logits, so every route is
//! chosen by the test.

use super::*;
use crate::policy::{CloudOnly, EdgeOnly, MainExtension, MeaNet, Thresholds};
use crate::testing::{CloudBehaviour, EchoMain, FakeCloud, PickHard};
use futures::executor::block_on;
use ndarray::{Array2, ArrayD, IxDyn, array};
use proptest::prelude::*;
use std::sync::Mutex;

fn cloud(class: usize) -> FakeCloud {
    FakeCloud::answering(4, class)
}

fn pipeline(
    policy: Box<dyn ExitPolicy>,
    gain: f32,
) -> (Pipeline, std::sync::Arc<Mutex<Vec<usize>>>) {
    let partition = ClassPartition::try_new(4, vec![2, 3]).unwrap();
    let ext = PickHard::new(vec![2, 3], gain);
    let calls = ext.calls();
    let costs = BlockCosts {
        main: Macs(100),
        extension: Macs(50),
        cloud: Macs(10_000),
    };
    (
        Pipeline::new(
            Box::new(EchoMain),
            Some(Box::new(ext)),
            partition,
            policy,
            costs,
        ),
        calls,
    )
}

fn meanet() -> Box<dyn ExitPolicy> {
    Box::new(MeaNet {
        thresholds: Thresholds {
            main: Some(0.5),
            cloud_main: Some(1.5),
            extension: Some(0.3),
            ..Thresholds::default()
        },
    })
}

#[test]
fn routes_each_sample_to_one_exit_and_runs_only_sub_batches() {
    let (mut p, calls) = pipeline(meanet(), 4.0);
    let input = array![
        [9.0f32, 0.0, 0.0, 0.0], // easy, confident -> main
        [0.0, 0.0, 9.0, 0.0],    // hard -> extension, sharp -> extension exit
        [1.0, 0.9, 0.0, 0.0],    // easy, uncertain -> cloud
        [0.0, 0.0, 0.3, 0.29],   // hard, main entropy 1.38 < 1.5 -> extension, ext unsure -> cloud
    ]
    .into_dyn();
    let c = cloud(1);
    let out = block_on(p.route(input.view(), Some(&c))).unwrap();
    let exits: Vec<Exit> = out.iter().map(|o| o.exit).collect();
    assert_eq!(
        exits,
        [Exit::Main, Exit::Extension, Exit::Cloud, Exit::Cloud]
    );
    assert_eq!(out[0].class, 0);
    assert_eq!(out[1].class, 2, "hard label 0 maps back to class 2");
    assert_eq!(out[2].class, 1);
    assert_eq!(
        *calls.lock().unwrap(),
        vec![2],
        "extension ran on the 2 hard samples only"
    );
    assert_eq!(c.seen(), vec![2], "one offload of the 2 complex samples");
    // costs: only blocks that ran count; bytes split exactly (2*16+3 = 35 -> 18 + 17).
    assert_eq!(out[0].cost.extension, None);
    assert_eq!(out[1].cost.extension, Some(Macs(50)));
    assert_eq!(out[2].cost.extension, None);
    assert_eq!(out[3].cost.extension, Some(Macs(50)));
    assert_eq!(out[2].cost.cloud, Some(Macs(10_000)));
    assert_eq!(out[2].cost.bytes_sent.0 + out[3].cost.bytes_sent.0, 35);
    assert!(out.iter().all(|o| !o.is_degraded()));
}

#[test]
fn cloud_failure_degrades_to_the_best_edge_answer() {
    for (behaviour, kind) in [
        (CloudBehaviour::Timeout, CloudErrorKind::Timeout),
        (CloudBehaviour::Nan, CloudErrorKind::InvalidReply),
    ] {
        let (mut p, _) = pipeline(meanet(), 4.0);
        let input = array![[1.0f32, 0.9, 0.0, 0.0], [0.0, 0.0, 0.3, 0.29]].into_dyn();
        let c = FakeCloud::new(4, behaviour);
        let out = block_on(p.route(input.view(), Some(&c))).unwrap();
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|o| o.degraded == Some(kind)));
        assert_eq!(out[0].exit, Exit::Main);
        assert_eq!(out[0].class, 0);
        assert_eq!(
            out[1].exit,
            Exit::Extension,
            "extension ran, so its answer is used"
        );
        assert_eq!(out[1].class, 2);
        assert!(out.iter().all(|o| o.cost.cloud.is_none()));
    }
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let (mut p, _) = pipeline(Box::new(EdgeOnly), 1.0);
    let empty = ArrayD::<f32>::zeros(IxDyn(&[0, 4]));
    assert!(matches!(
        p.route_edge(empty.view()),
        Err(PipelineError::EmptyBatch)
    ));
    let nan = array![[0.0f32, f32::NAN, 0.0, 0.0]].into_dyn();
    let err = p.route_edge(nan.view()).unwrap_err();
    assert!(
        matches!(
            err,
            PipelineError::Logits {
                block: "main",
                sample: 0,
                ..
            }
        ),
        "{err}"
    );
    let wide = array![[0.0f32, 1.0, 0.0, 0.0, 5.0]].into_dyn();
    let err = p.route_edge(wide.view()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "main block returned logits of shape [1, 5], expected (1, 4)"
    );
    let mut no_ext = Pipeline::new(
        Box::new(EchoMain),
        None,
        ClassPartition::try_new(4, vec![3]).unwrap(),
        Box::new(MainExtension),
        BlockCosts::default(),
    );
    let hard = array![[0.0f32, 0.0, 0.0, 5.0]].into_dyn();
    assert!(matches!(
        no_ext.route_edge(hard.view()),
        Err(PipelineError::MissingExtension)
    ));
}

#[test]
fn no_cloud_configured_marks_offloads_degraded() {
    let (mut p, _) = pipeline(Box::new(CloudOnly), 1.0);
    let input = array![[1.0f32, 0.0, 0.0, 0.0]].into_dyn();
    let out = block_on(p.route(input.view(), None)).unwrap();
    assert_eq!(out[0].degraded, Some(CloudErrorKind::NotConfigured));
    assert_eq!(out[0].exit, Exit::Main);
}

fn batch() -> impl Strategy<Value = Array2<f32>> {
    (1usize..40).prop_flat_map(|n| {
        prop::collection::vec(-8f32..8f32, n * 4)
            .prop_map(move |v| Array2::from_shape_vec((n, 4), v).unwrap())
    })
}

fn threshold() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![Just(None), (0.0f64..1.5).prop_map(Some)]
}

proptest! {
    #[test]
    fn every_sample_gets_exactly_one_outcome(
        x in batch(), main in threshold(), cm in threshold(), ext in threshold(), fail in any::<bool>()
    ) {
        let policy = MeaNet { thresholds: Thresholds { main, cloud_main: cm, extension: ext, ..Thresholds::default() } };
        let (mut p, _) = pipeline(Box::new(policy), 2.0);
        let c = if fail { FakeCloud::new(4, CloudBehaviour::Timeout) } else { cloud(0) };
        let out = block_on(p.route(x.view().into_dyn(), Some(&c))).unwrap();
        prop_assert_eq!(out.len(), x.nrows());
        for (i, o) in out.iter().enumerate() {
            prop_assert_eq!(o.index, i);
            prop_assert!(o.class < 4);
            prop_assert_eq!(o.exit == Exit::Cloud, o.cost.cloud.is_some());
            prop_assert_eq!(o.exit == Exit::Extension, o.cost.extension.is_some() && !matches!(o.exit, Exit::Cloud) && o.extension.is_some() && o.exit != Exit::Main);
            if fail { prop_assert!(o.exit != Exit::Cloud); }
        }
    }

    #[test]
    fn infinite_thresholds_never_offload(x in batch()) {
        let policy = MeaNet { thresholds: Thresholds { main: None, cloud_main: None, extension: None, ..Thresholds::default() } };
        let (mut p, _) = pipeline(Box::new(policy), 2.0);
        let c = cloud(0);
        let out = block_on(p.route(x.view().into_dyn(), Some(&c))).unwrap();
        prop_assert!(out.iter().all(|o| o.exit != Exit::Cloud && !o.is_degraded()));
        prop_assert!(c.seen().is_empty());
    }

    #[test]
    fn zero_thresholds_never_exit_early(x in batch()) {
        let zero = Some(0.0);
        let policy = MeaNet { thresholds: Thresholds { main: zero, cloud_main: zero, extension: zero, ..Thresholds::default() } };
        let (mut p, _) = pipeline(Box::new(policy), 2.0);
        let c = cloud(0);
        let out = block_on(p.route(x.view().into_dyn(), Some(&c))).unwrap();
        prop_assert!(out.iter().all(|o| o.exit == Exit::Cloud));
    }
}
