//! The port contracts, run against fakes and against the ONNX Runtime adapter.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use std::path::{Path, PathBuf};

use meanet_core::{BlockError, ExtensionBlock, MainBlock, MainOutput};
use meanet_onnx::{OrtExtensionBlock, OrtMainBlock, Runtime};
use meanet_tests::contract::{extension_block_contract, main_block_contract};
use ndarray::{Array, Array2, ArrayD, ArrayViewD, Axis, IxDyn};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/meanet-onnx/tests/fixtures")
        .join(name)
}

fn batch() -> ArrayD<f32> {
    Array::from_shape_fn(IxDyn(&[6, 1, 8, 8]), |ix| {
        ((ix[0] * 13 + ix[2] * 3 + ix[3]) % 11) as f32 / 5.0 - 1.0
    })
}

/// Fake main block: logits are per-row means of the input scaled by class index.
struct MeanMain;
impl MainBlock for MeanMain {
    fn infer(&mut self, input: ArrayViewD<'_, f32>) -> Result<MainOutput, BlockError> {
        let n = input.shape()[0];
        if n == 0 {
            return Err(BlockError::InvalidInput("empty batch".into()));
        }
        let flat = input.to_shape((n, input.len() / n)).expect("reshape");
        let means = flat.mean_axis(Axis(1)).expect("non-empty");
        let logits = Array2::from_shape_fn((n, 6), |(i, k)| means[i] * k as f32);
        Ok(MainOutput {
            logits,
            features: input.to_owned(),
        })
    }
}

/// Fake extension: three hard logits from the feature sums.
struct SumExt;
impl ExtensionBlock for SumExt {
    fn infer(
        &mut self,
        _input: ArrayViewD<'_, f32>,
        features: ArrayViewD<'_, f32>,
    ) -> Result<Array2<f32>, BlockError> {
        let n = features.shape()[0];
        let flat = features.to_shape((n, features.len() / n)).expect("reshape");
        let sums = flat.sum_axis(Axis(1));
        Ok(Array2::from_shape_fn((n, 3), |(i, h)| sums[i] - h as f32))
    }
}

#[test]
fn fake_blocks_meet_the_contracts() {
    main_block_contract(&mut MeanMain, &batch(), 1e-6);
    let features = MeanMain.infer(batch().view()).unwrap().features;
    extension_block_contract(&mut SumExt, &batch(), &features, 3, 1e-5);
}

#[test]
fn onnx_blocks_meet_the_contracts() {
    let rt = Runtime::with_defaults().expect("ONNX Runtime (run scripts/setup)");
    let mut main = OrtMainBlock::load(&rt, fixture("main.onnx")).unwrap();
    main_block_contract(&mut main, &batch(), 1e-5);
    let features = main.infer(batch().view()).unwrap().features;
    let mut ext = OrtExtensionBlock::load(&rt, fixture("extension.onnx")).unwrap();
    extension_block_contract(&mut ext, &batch(), &features, 3, 1e-5);
}
