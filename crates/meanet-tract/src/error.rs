//! The adapter's error type.

use std::path::PathBuf;

use meanet_core::BoxError;

/// Everything that can go wrong loading or running a model with tract.
#[derive(Debug, thiserror::Error)]
pub enum TractError {
    /// The file could not be read, parsed, typed or optimised (missing, corrupt, or using an
    /// operator tract does not support).
    #[error("could not load ONNX model {path} with tract")]
    Load {
        /// The model file.
        path: PathBuf,
        /// Why.
        #[source]
        source: BoxError,
    },
}
