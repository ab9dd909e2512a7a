//! ONNX Runtime adapter for meanet.
//!
//! Implements core's [`Network`](meanet_core::Network) port for ONNX files: [`OrtModel`], opened
//! with [`open`]. Core's generic blocks do the rest (the role checks, input checks and logits),
//! the same for every backend: [`OrtMainBlock`], [`OrtExtensionBlock`] and [`OrtClassifier`]
//! are those blocks over an [`OrtModel`]. [`LocalCloud`] is a `CloudLink` answered in-process,
//! off the async workers.
//!
//! ```no_run
//! use meanet_onnx::{OrtMainBlock, Runtime};
//! let rt = Runtime::with_defaults()?;
//! let main = OrtMainBlock::new(meanet_onnx::open(&rt, "bundle/main.onnx")?)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The ONNX Runtime library is loaded at run time (`ort`'s `load-dynamic`): see [`Runtime`] for
//! where it is looked for. No type of `ort` leaks into `meanet-core`'s ports; this crate depends on
//! core and on no other adapter.

mod cloud;
mod error;
mod model;
mod runtime;

pub use cloud::LocalCloud;
pub use error::OnnxError;
pub use meanet_core::signature::{ModelSignature, TensorSpec};
pub use model::OrtModel;
pub use runtime::{Provider, Runtime, RuntimeOptions, find_library};

/// The ONNX Runtime version meanet is built and tested against (`scripts/setup` fetches it).
pub const ORT_VERSION: &str = "1.32.0";

/// Core's main block over an ONNX Runtime session.
pub type OrtMainBlock = meanet_core::MainNet<OrtModel>;
/// Core's extension block over an ONNX Runtime session.
pub type OrtExtensionBlock = meanet_core::ExtensionNet<OrtModel>;
/// Core's classifier over an ONNX Runtime session (e.g. the cloud model).
pub type OrtClassifier = meanet_core::ClassifierNet<OrtModel>;

/// Opens the ONNX file at `path` as a [`Network`](meanet_core::Network) on `runtime`.
pub fn open(runtime: &Runtime, path: impl AsRef<std::path::Path>) -> Result<OrtModel, OnnxError> {
    OrtModel::load(runtime, path)
}
