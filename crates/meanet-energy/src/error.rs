//! The energy crate's error type.

use std::path::PathBuf;

/// What can go wrong reading a model for accounting.
#[derive(Debug, thiserror::Error)]
pub enum EnergyError {
    /// The file could not be read.
    #[error("could not read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a valid ONNX protobuf (corrupt or truncated).
    #[error("{origin} is not a valid ONNX model")]
    Parse {
        /// The file, or `<bytes>`.
        origin: String,
        /// The decoder's error, with the byte offset.
        #[source]
        source: onnx_rs::Error,
    },
    /// The protobuf decoded but holds no usable graph (empty or truncated file).
    #[error("{origin} holds no ONNX graph: {reason}")]
    NoGraph {
        /// The file, or `<bytes>`.
        origin: String,
        /// What is missing.
        reason: String,
    },
    /// A graph input has a shape the profiler cannot fix for a batch size.
    #[error("graph input {input:?} has an unusable shape: {reason}")]
    InputShape {
        /// The input's name.
        input: String,
        /// Why.
        reason: String,
    },
    /// The batch size was zero.
    #[error("batch size must be at least 1")]
    ZeroBatch,
}
