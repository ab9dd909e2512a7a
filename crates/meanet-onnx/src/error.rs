//! The adapter's error type.

use std::path::PathBuf;

/// Everything that can go wrong loading or running an ONNX model.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// The ONNX Runtime shared library was not found anywhere meanet looks.
    #[error(
        "ONNX Runtime library not found (looked in: {}); run `scripts/setup` from the meanet checkout, \
         or set ORT_DYLIB_PATH to a libonnxruntime.so of version {}",
        .tried.join(", "), crate::ORT_VERSION
    )]
    LibraryNotFound {
        /// Every place that was tried.
        tried: Vec<String>,
    },
    /// `ORT_DYLIB_PATH` (or the configured path) names a file that does not exist.
    #[error("ONNX Runtime library {0} does not exist")]
    LibraryMissing(PathBuf),
    /// The library exists but could not be loaded.
    #[error("could not load the ONNX Runtime library {path}")]
    LoadLibrary {
        /// The library file.
        path: PathBuf,
        /// Why.
        #[source]
        source: ort::LoadDynamicError,
    },
    /// The ONNX Runtime environment could not be created.
    #[error("could not create the ONNX Runtime environment")]
    Environment(#[source] ort::Error),
    /// A requested execution provider cannot be used.
    #[error("execution provider {provider} is unavailable: {reason}")]
    ProviderUnavailable {
        /// The provider's name.
        provider: &'static str,
        /// Why.
        reason: String,
    },
    /// Session options could not be applied.
    #[error("invalid session options for {path}")]
    Options {
        /// The model file.
        path: PathBuf,
        /// Why.
        #[source]
        source: ort::Error,
    },
    /// The model file could not be loaded (missing, corrupt, unsupported).
    #[error("could not load ONNX model {path}")]
    Load {
        /// The model file.
        path: PathBuf,
        /// Why.
        #[source]
        source: ort::Error,
    },
    /// The blocking worker running the model panicked or was cancelled.
    #[error("inference worker for {0} stopped")]
    Worker(PathBuf),
}
