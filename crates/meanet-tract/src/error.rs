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
    /// The model's inputs or outputs do not fit the role it was loaded for.
    #[error("model {path} cannot serve as {role}: {problem}")]
    Signature {
        /// The model file.
        path: PathBuf,
        /// `main block`, `extension block` or `classifier`.
        role: &'static str,
        /// What does not fit.
        problem: String,
    },
    /// An input array did not match the model's declared shape.
    #[error("input {input:?} of {path} expects shape {expected}, got {got:?}")]
    InputShape {
        /// The model file.
        path: PathBuf,
        /// Input name.
        input: String,
        /// The declared shape (`N` for dynamic dimensions).
        expected: String,
        /// The array's shape.
        got: Vec<usize>,
    },
    /// Inference failed inside tract.
    #[error("inference failed in {path}")]
    Run {
        /// The model file.
        path: PathBuf,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// An output could not be read as an f32 tensor of the expected rank.
    #[error("output {output:?} of {path} is unusable: {problem}")]
    Output {
        /// The model file.
        path: PathBuf,
        /// Output name.
        output: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl From<TractError> for meanet_core::BlockError {
    fn from(e: TractError) -> Self {
        match e {
            TractError::InputShape { .. } => meanet_core::BlockError::InvalidInput(e.to_string()),
            TractError::Output { .. } => meanet_core::BlockError::InvalidOutput(e.to_string()),
            other => meanet_core::BlockError::Backend(Box::new(other)),
        }
    }
}
