//! Why training could not proceed.

use std::path::{Path, PathBuf};

/// Why training could not proceed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A file in the work or bundle directory could not be written or read.
    #[error("{what} {path}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint could not be saved or loaded.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The checkpoint.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A stage needs an earlier stage's output.
    #[error("stage {stage} needs {missing}; run the earlier stages first (or --stage all)")]
    Missing {
        /// The stage.
        stage: &'static str,
        /// What is missing.
        missing: String,
    },
    /// The configuration is invalid.
    #[error("invalid training configuration: {0}")]
    Config(String),
    /// The data could not be read (an image that does not decode, a file gone).
    #[error(transparent)]
    Data(#[from] meanet_data::DataError),
}

/// Maps an I/O error on `path` while doing `what`.
pub(crate) fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> TrainError {
    let path = path.to_path_buf();
    move |source| TrainError::Io { what, path, source }
}
