//! `[quantization]`: what `meanet quantize` did to a bundle, how, and on which data.

use serde::{Deserialize, Serialize};

/// The record of a quantization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantizationSpec {
    /// The activation-range method (`minmax`, `percentile 99.99`, `entropy`).
    pub method: String,
    /// The activations' type (`u8` or `s8`); weights are s8, symmetric, per channel.
    pub activations: String,
    /// The calibration samples and where they came from.
    pub data: String,
    /// One record per block that was considered.
    #[serde(default)]
    pub blocks: Vec<QuantizedBlock>,
}

/// What happened to one block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantizedBlock {
    /// `main`, `extension` or `cloud`.
    pub block: String,
    /// Whether the bundle runs the int8 graph (else the f32 one stays).
    pub int8: bool,
    /// Samples per second of the f32 graph at the timing batch.
    pub f32_per_s: f64,
    /// Samples per second of the int8 graph at the timing batch.
    pub int8_per_s: f64,
    /// The timing batch.
    pub batch: usize,
    /// Quantized operators and their counts (`Conv 9, Add 3, ...`).
    pub ops: String,
    /// Why the block is int8 or f32.
    pub why: String,
}

impl QuantizationSpec {
    /// The record of `block`, if any.
    pub fn block(&self, block: &str) -> Option<&QuantizedBlock> {
        self.blocks.iter().find(|b| b.block == block)
    }
}
