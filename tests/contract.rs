//! Port contract suites: the same checks run against a fake and a real adapter.

use meanet_core::{ExtensionBlock, MainBlock};
use ndarray::{ArrayD, Axis};

/// The main-block contract: one logits row and one feature row per sample, finite logits, and
/// per-sample results independent of the batch they came in (within `tol`).
pub fn main_block_contract(block: &mut dyn MainBlock, batch: &ArrayD<f32>, tol: f32) {
    let n = batch.shape()[0];
    let out = block.infer(batch.view()).expect("main block runs");
    assert_eq!(out.logits.nrows(), n, "one logits row per sample");
    assert_eq!(out.features.shape()[0], n, "one feature map per sample");
    assert!(out.logits.iter().all(|v| v.is_finite()), "finite logits");
    for i in 0..n {
        let one = batch.slice_axis(Axis(0), (i..=i).into());
        let single = block.infer(one).expect("batch of one");
        let diff = single
            .logits
            .row(0)
            .iter()
            .zip(out.logits.row(i))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(diff <= tol, "sample {i} depends on its batch: {diff}");
    }
    assert!(
        block
            .infer(batch.slice_axis(Axis(0), (0..0).into()))
            .is_err(),
        "an empty batch is an error"
    );
}

/// The extension contract: one row per sample over the hard classes, batch independence.
pub fn extension_block_contract(
    block: &mut dyn ExtensionBlock,
    batch: &ArrayD<f32>,
    features: &ArrayD<f32>,
    hard: usize,
    tol: f32,
) {
    let n = batch.shape()[0];
    let out = block
        .infer(batch.view(), features.view())
        .expect("extension runs");
    assert_eq!(out.shape(), [n, hard]);
    for i in 0..n {
        let one = block
            .infer(
                batch.slice_axis(Axis(0), (i..=i).into()),
                features.slice_axis(Axis(0), (i..=i).into()),
            )
            .expect("batch of one");
        let diff = one
            .row(0)
            .iter()
            .zip(out.row(i))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(diff <= tol, "sample {i} depends on its batch: {diff}");
    }
}
