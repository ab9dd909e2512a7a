//! The port contracts: what every implementation of a block port must do, whatever runs it.
//!
//! Each function panics with a message naming the broken rule, so it can be called from a
//! `#[test]` against any adapter. The workspace runs them on the fakes, ONNX Runtime and tract;
//! run them on your own backend the same way.

use ndarray::{Array2, ArrayD, ArrayViewD, Axis};

use crate::ports::{Classifier, ExtensionBlock, MainBlock};

fn max_diff<'a>(a: impl IntoIterator<Item = &'a f32>, b: impl IntoIterator<Item = &'a f32>) -> f32 {
    a.into_iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max)
}

fn one(batch: &ArrayD<f32>, i: usize) -> ArrayViewD<'_, f32> {
    batch.slice_axis(Axis(0), (i..=i).into())
}

fn empty(batch: &ArrayD<f32>) -> ArrayViewD<'_, f32> {
    batch.slice_axis(Axis(0), (0..0).into())
}

/// Logits must be one finite row per sample, and a sample's row must not depend on the batch
/// it came in (within `tol`): returns the largest difference seen.
fn rows_agree(
    what: &str,
    whole: &Array2<f32>,
    n: usize,
    mut single: impl FnMut(usize) -> Array2<f32>,
    tol: f32,
) -> f32 {
    assert_eq!(whole.nrows(), n, "{what}: one logits row per sample");
    assert!(whole.iter().all(|v| v.is_finite()), "{what}: finite logits");
    let mut worst = 0.0f32;
    for i in 0..n {
        let s = single(i);
        assert_eq!(s.nrows(), 1, "{what}: a batch of one gives one row");
        let d = max_diff(s.row(0), whole.row(i));
        assert!(
            d <= tol,
            "{what}: sample {i} depends on its batch ({d} > {tol})"
        );
        worst = worst.max(d);
    }
    worst
}

/// The main-block contract on `batch` `(N, ...)`: one logits row and one feature map per
/// sample, finite logits, per-sample results independent of the batch (within `tol`), and an
/// error (not a panic, not an empty answer) for an empty batch and for `wrong` (an input of the
/// wrong shape), when given.
pub fn main_block(
    block: &mut dyn MainBlock,
    batch: &ArrayD<f32>,
    wrong: Option<&ArrayD<f32>>,
    tol: f32,
) {
    let n = batch.shape()[0];
    let out = block.infer(batch.view()).expect("main block runs a batch");
    assert_eq!(
        out.features.shape()[0],
        n,
        "main: one feature map per sample"
    );
    rows_agree(
        "main",
        &out.logits,
        n,
        |i| {
            block
                .infer(one(batch, i))
                .expect("main block runs a batch of one")
                .logits
        },
        tol,
    );
    assert!(
        block.infer(empty(batch)).is_err(),
        "main: an empty batch is an error"
    );
    if let Some(w) = wrong {
        assert!(
            block.infer(w.view()).is_err(),
            "main: a wrong shape is an error"
        );
    }
}

/// The extension contract: one row over the `hard` classes per sample, finite, batch
/// independence (within `tol`), errors for an empty batch and for features whose batch size
/// differs from the input's.
pub fn extension_block(
    block: &mut dyn ExtensionBlock,
    batch: &ArrayD<f32>,
    features: &ArrayD<f32>,
    hard: usize,
    tol: f32,
) {
    let n = batch.shape()[0];
    let out = block
        .infer(batch.view(), features.view())
        .expect("extension runs a batch");
    assert_eq!(out.shape(), [n, hard], "extension: (N, hard classes)");
    rows_agree(
        "extension",
        &out,
        n,
        |i| {
            block
                .infer(one(batch, i), one(features, i))
                .expect("extension runs a batch of one")
        },
        tol,
    );
    assert!(
        block.infer(empty(batch), empty(features)).is_err(),
        "extension: an empty batch is an error"
    );
    if n > 1 {
        assert!(
            block.infer(batch.view(), one(features, 0)).is_err(),
            "extension: input and features of different batch sizes are an error"
        );
    }
}

/// The classifier contract: one finite row over `classes` per sample, batch independence
/// (within `tol`), errors for an empty batch and for `wrong`, when given.
pub fn classifier(
    model: &mut dyn Classifier,
    batch: &ArrayD<f32>,
    classes: usize,
    wrong: Option<&ArrayD<f32>>,
    tol: f32,
) {
    let n = batch.shape()[0];
    let out = model
        .classify(batch.view())
        .expect("classifier runs a batch");
    assert_eq!(out.ncols(), classes, "classifier: one column per class");
    rows_agree(
        "classifier",
        &out,
        n,
        |i| {
            model
                .classify(one(batch, i))
                .expect("classifier runs a batch of one")
        },
        tol,
    );
    assert!(
        model.classify(empty(batch)).is_err(),
        "classifier: an empty batch is an error"
    );
    if let Some(w) = wrong {
        assert!(
            model.classify(w.view()).is_err(),
            "classifier: a wrong shape is an error"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{EchoClassifier, EchoMain, PickHard};
    use ndarray::{Array, IxDyn};

    #[test]
    fn the_fakes_meet_the_contracts() {
        let batch = Array::from_shape_fn(IxDyn(&[5, 4]), |ix| (ix[0] * 3 + ix[1]) as f32 / 7.0);
        let wrong = ArrayD::<f32>::zeros(IxDyn(&[2, 2, 2]));
        main_block(&mut EchoMain, &batch, Some(&wrong), 0.0);
        let features = EchoMain.infer(batch.view()).unwrap().features;
        extension_block(
            &mut PickHard::new(vec![1, 3], 2.0),
            &batch,
            &features,
            2,
            0.0,
        );
        classifier(&mut EchoClassifier, &batch, 4, Some(&wrong), 0.0);
    }

    /// A block whose answer depends on the batch it came in breaks the contract.
    struct BatchMean;
    impl Classifier for BatchMean {
        fn classify(
            &mut self,
            input: ArrayViewD<'_, f32>,
        ) -> Result<Array2<f32>, crate::BlockError> {
            let m = input.mean().unwrap_or(0.0);
            Ok(Array2::from_elem((input.shape()[0], 2), m))
        }
    }

    #[test]
    #[should_panic(expected = "depends on its batch")]
    fn a_batch_dependent_block_breaks_the_contract() {
        let batch = Array::from_shape_fn(IxDyn(&[3, 2]), |ix| ix[0] as f32);
        classifier(&mut BatchMean, &batch, 2, None, 1e-6);
    }
}
