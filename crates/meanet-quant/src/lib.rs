//! Static int8 quantization of ONNX graphs in the QDQ format, written in Rust over the ONNX
//! protobuf.
//!
//! The steps, each a function of this crate except running the model, which is the caller's
//! (through meanet-core's `Network` port, so either backend calibrates):
//! 1. [`Quantizer::new`] reads a float graph and decides, by the operator [`TABLE`], which
//!    nodes are quantized, which `Relu`/`Clip` fold into the node before them, and which
//!    tensors get a `QuantizeLinear -> DequantizeLinear` pair. A graph that is already
//!    quantized is refused.
//! 2. [`Quantizer::augmented`] writes the graph with those tensors as extra outputs; the
//!    caller runs calibration batches through it and hands each output to a [`Collector`]
//!    (a second pass for the histogram methods).
//! 3. [`Quantizer::quantize`] writes the QDQ graph: per-channel symmetric s8 weights, int32
//!    biases, u8 or s8 activations with asymmetric per-tensor ranges. ONNX Runtime fuses it
//!    into its int8 kernels (`QLinearConv`, `QGemm`, ...).
//!
//! Scales, zero points and the three calibration methods follow ONNX Runtime's quantizer, so
//! that the two can be compared model for model (`scripts/quantize-peer`).
#![forbid(unsafe_code)]

mod error;
mod graph;
mod params;
mod range;
mod rewrite;
mod table;
#[cfg(feature = "testing")]
pub mod testing;

use std::collections::HashMap;

use ndarray::ArrayViewD;

pub use error::QuantError;
pub use graph::{Analysis, KeptF32};
pub use params::{
    Activations, QParams, activation_params, quantize, quantize_bias, quantize_weights,
};
pub use range::{Collector, ENTROPY_BINS, ENTROPY_QUANTIZED_BINS, Method, PERCENTILE_BINS, Range};
pub use table::{QUANTIZED_OPS, TABLE, Treatment, treatment};

/// One float graph on its way to int8.
#[derive(Debug, Clone)]
pub struct Quantizer {
    bytes: Vec<u8>,
    analysis: Analysis,
}

impl Quantizer {
    /// Reads and analyses a float ONNX graph. `origin` names it in errors (a file or block).
    pub fn new(bytes: Vec<u8>, origin: impl Into<String>) -> Result<Self, QuantError> {
        let origin = origin.into();
        let model = rewrite::parse(&bytes, &origin)?;
        let analysis = Analysis::new(&model, &origin)?;
        Ok(Self { bytes, analysis })
    }

    /// What is quantized, what stays f32 and why.
    pub fn analysis(&self) -> &Analysis {
        &self.analysis
    }

    /// The graph with every tensor calibration measures added as an output, except the graph's
    /// inputs, which the caller observes from what it feeds.
    pub fn augmented(&self) -> Result<Vec<u8>, QuantError> {
        rewrite::augmented(
            &self.bytes,
            &self.analysis.origin,
            &self.analysis.calibrated(),
        )
    }

    /// Records one calibration batch into `collector`: `fed`, what the caller fed the augmented
    /// graph (by input name), and `outputs`, what it answered (by output name). Every tensor
    /// calibration measures is taken from whichever holds it; the rest are ignored.
    pub fn observe(
        &self,
        collector: &mut Collector,
        fed: &[(&str, ArrayViewD<'_, f32>)],
        outputs: &[(&str, ArrayViewD<'_, f32>)],
    ) -> Result<(), QuantError> {
        let wanted = self.analysis.calibrated();
        let outputs = outputs
            .iter()
            .filter(|(name, _)| !fed.iter().any(|(n, _)| n == name));
        for (name, x) in fed.iter().chain(outputs) {
            if wanted.contains(name) {
                collector.observe(name, x.view())?;
            }
        }
        Ok(())
    }

    /// The QDQ graph, with the ranges `collector` measured.
    pub fn quantize(&self, collector: &Collector, ty: Activations) -> Result<Vec<u8>, QuantError> {
        let mut ranges = HashMap::new();
        for t in self.analysis.calibrated() {
            let r = collector
                .range(t)?
                .ok_or_else(|| QuantError::NoCalibrationData {
                    origin: self.analysis.origin.clone(),
                    tensor: t.into(),
                })?;
            ranges.insert(t.to_string(), r);
        }
        rewrite::quantized(&self.bytes, &self.analysis, &ranges, ty)
    }
}
