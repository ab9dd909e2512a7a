//! The quantizer's error type: every variant names the graph, node or tensor at fault.

/// What can go wrong quantizing a graph.
#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    /// The bytes are not a valid ONNX protobuf.
    #[error("{origin} is not a valid ONNX model")]
    Parse {
        /// The file or block.
        origin: String,
        /// The decoder's error.
        #[source]
        source: onnx_rs::Error,
    },
    /// The protobuf holds no graph.
    #[error("{origin} holds no ONNX graph")]
    NoGraph {
        /// The file or block.
        origin: String,
    },
    /// The graph already holds quantized operators.
    #[error(
        "{origin} is already quantized (node {node:?} is a {op}): quantize the f32 bundle it came from"
    )]
    AlreadyQuantized {
        /// The file or block.
        origin: String,
        /// The first quantized node found.
        node: String,
        /// Its operator.
        op: String,
    },
    /// The default-domain opset is too old for per-channel DequantizeLinear.
    #[error(
        "{origin} imports ONNX opset {opset}; per-channel QuantizeLinear/DequantizeLinear need opset 13 or newer (re-export the model with a newer opset)"
    )]
    Opset {
        /// The file or block.
        origin: String,
        /// The opset it imports.
        opset: i64,
    },
    /// No calibration data was observed for a tensor that is to be quantized.
    #[error(
        "no calibration data for tensor {tensor:?} of {origin}: run the calibration set through the augmented graph first (at least one batch)"
    )]
    NoCalibrationData {
        /// The file or block.
        origin: String,
        /// The tensor.
        tensor: String,
    },
    /// Too few values to estimate the percentile asked for.
    #[error(
        "the calibration set is too small for --percentile {percentile}: tensor {tensor:?} saw {values} values, and that percentile needs at least {needed} (use more calibration samples, or a lower --percentile)"
    )]
    TooFewForPercentile {
        /// The tensor.
        tensor: String,
        /// The percentile asked for.
        percentile: f64,
        /// Values observed.
        values: u64,
        /// Values needed.
        needed: u64,
    },
    /// A percentile outside (0, 100].
    #[error("--percentile must be in (0, 100], got {0}")]
    Percentile(f64),
    /// A calibration batch held a non-finite value.
    #[error("tensor {tensor:?} held a non-finite value ({value}) during calibration")]
    NonFinite {
        /// The tensor.
        tensor: String,
        /// The value.
        value: f32,
    },
    /// An initializer's declared shape does not match its data, or its data type is unusable.
    #[error("initializer {name:?} of {origin}: {problem}")]
    Initializer {
        /// The file or block.
        origin: String,
        /// The initializer.
        name: String,
        /// What is wrong.
        problem: String,
    },
}
