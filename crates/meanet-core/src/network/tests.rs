use super::*;
use crate::testing::FakeNetwork;
use ndarray::IxDyn;

fn boxed(n: FakeNetwork) -> Box<dyn Network> {
    Box::new(n)
}

#[test]
fn blocks_check_roles_inputs_and_outputs_and_name_the_file() {
    let mut main = MainNet::new(boxed(FakeNetwork::main(&[1, 4, 4], 5, &[2, 2, 2]))).unwrap();
    assert_eq!(main.num_classes(), Some(5));
    let out = main
        .run(ArrayD::zeros(IxDyn(&[3, 1, 4, 4])).view())
        .unwrap();
    assert_eq!(
        (out.logits.dim(), out.features.shape()),
        ((3, 5), &[3, 2, 2, 2][..])
    );
    let e = main
        .run(ArrayD::zeros(IxDyn(&[3, 1, 5, 4])).view())
        .unwrap_err();
    assert!(
        matches!(e, NetworkError::InputShape { ref input, .. } if input == "input"),
        "{e}"
    );
    assert!(e.to_string().contains("fake.onnx"), "{e}");
    assert!(matches!(BlockError::from(e), BlockError::InvalidInput(_)));
    // A classifier is not a main block: the role check says so, naming the file.
    let e = MainNet::new(boxed(FakeNetwork::classifier(&[1, 4, 4], 5))).unwrap_err();
    assert!(
        matches!(
            e,
            NetworkError::Signature {
                role: "main block",
                ..
            }
        ),
        "{e}"
    );
    let mut ext =
        ExtensionNet::new(boxed(FakeNetwork::extension(&[1, 4, 4], &[2, 2, 2], 2))).unwrap();
    assert_eq!(ext.num_hard_classes(), Some(2));
    let l = ext
        .run(
            ArrayD::zeros(IxDyn(&[2, 1, 4, 4])).view(),
            ArrayD::zeros(IxDyn(&[2, 2, 2, 2])).view(),
        )
        .unwrap();
    assert_eq!(l.dim(), (2, 2));
    // Batch sizes must agree across inputs.
    assert!(
        ext.run(
            ArrayD::zeros(IxDyn(&[2, 1, 4, 4])).view(),
            ArrayD::zeros(IxDyn(&[3, 2, 2, 2])).view(),
        )
        .is_err()
    );
}

#[test]
fn a_backend_that_misbehaves_is_an_error_not_a_panic() {
    let mut bad = FakeNetwork::classifier(&[1, 4, 4], 3);
    bad.outputs_returned = Some(0);
    let mut c = ClassifierNet::new(boxed(bad)).unwrap();
    let e = c
        .run(ArrayD::zeros(IxDyn(&[1, 1, 4, 4])).view())
        .unwrap_err();
    assert!(matches!(e, NetworkError::Output { .. }), "{e}");
    let mut failing = FakeNetwork::classifier(&[1, 4, 4], 3);
    failing.fail = true;
    let mut c = ClassifierNet::new(boxed(failing)).unwrap();
    let e = c
        .run(ArrayD::zeros(IxDyn(&[1, 1, 4, 4])).view())
        .unwrap_err();
    assert!(matches!(e, NetworkError::Run { .. }), "{e}");
    assert!(matches!(BlockError::from(e), BlockError::Backend(_)));
}

#[test]
fn named_inputs_are_put_in_graph_order() {
    let mut n = FakeNetwork::extension(&[1, 4, 4], &[2, 2, 2], 2);
    let x = ArrayD::zeros(IxDyn(&[2, 1, 4, 4]));
    let f = ArrayD::zeros(IxDyn(&[2, 2, 2, 2]));
    let out = run_named(&mut n, &[("features", f.view()), ("input", x.view())]).unwrap();
    assert_eq!(out[0].shape(), &[2, 2]);
    let e = run_named(&mut n, &[("input", x.view())]).unwrap_err();
    assert!(e.to_string().contains("features"), "{e}");
    let e = run_named(
        &mut n,
        &[
            ("input", x.view()),
            ("features", f.view()),
            ("extra", f.view()),
        ],
    )
    .unwrap_err();
    assert!(e.to_string().contains("extra"), "{e}");
}
