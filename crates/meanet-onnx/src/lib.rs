//! ONNX Runtime adapter for meanet.
//!
//! Implements core's block ports from ONNX files: [`OrtMainBlock`] (`MainBlock`),
//! [`OrtExtensionBlock`] (`ExtensionBlock`), [`OrtClassifier`] (a whole-model classifier, e.g. the
//! cloud model) and [`LocalCloud`] (`CloudLink` answered in-process, off the async workers).
//! Each model's inputs and outputs are read from the file and validated on load, so a wrong model
//! fails at start-up with its path in the message, not in the middle of a run.
//!
//! The ONNX Runtime library is loaded at run time (`ort`'s `load-dynamic`): see [`Runtime`] for
//! where it is looked for. No type of `ort` leaks into `meanet-core`'s ports; this crate depends on
//! core and on no other adapter.

mod block;
mod cloud;
mod error;
mod model;
mod runtime;

pub use block::{OrtClassifier, OrtExtensionBlock, OrtMainBlock};
pub use cloud::LocalCloud;
pub use error::OnnxError;
pub use meanet_core::signature::{ModelSignature, TensorSpec};
pub use model::OrtModel;
pub use runtime::{ORT_VERSION, Provider, Runtime, RuntimeOptions, find_library};
