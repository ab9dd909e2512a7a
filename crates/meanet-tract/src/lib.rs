//! tract adapter for meanet: core's block ports run by [tract](https://github.com/sonos/tract),
//! a pure-Rust ONNX inference engine.
//!
//! [`TractMainBlock`] (`MainBlock`), [`TractExtensionBlock`] (`ExtensionBlock`) and
//! [`TractClassifier`] (`Classifier`, e.g. the cloud model) load the same bundle files as the
//! ONNX Runtime adapter and are held to the same checks: each model's signature is read from
//! the file and validated by core's [`meanet_core::signature`] rules on load, so a wrong model
//! fails at start-up with its path in the message.
//!
//! Each model becomes one optimised, typed tract plan whose batch dimension is the symbol `N`,
//! which runs batches of any size; the first few batch sizes seen also get a plan optimised
//! for that size (see [`TractModel`]). Nothing
//! here needs a C++ runtime or a shared library, which makes this the backend for boards
//! without ONNX Runtime. This crate depends on core and on no other adapter.

mod block;
mod error;
mod model;

pub use block::{TractClassifier, TractExtensionBlock, TractMainBlock};
pub use error::TractError;
pub use model::{PLANS_PER_MODEL, TractModel};

/// The tract version this adapter is built against.
pub const TRACT_VERSION: &str = "0.23";
