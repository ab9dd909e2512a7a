//! tract adapter for meanet: core's block ports run by [tract](https://github.com/sonos/tract),
//! a pure-Rust ONNX inference engine.
//!
//! [`TractModel`] implements core's [`Network`](meanet_core::Network) port; core's generic
//! blocks do the rest, the same for every backend, so [`TractMainBlock`],
//! [`TractExtensionBlock`] and [`TractClassifier`] load the same bundle files as the ONNX
//! Runtime adapter and are held to the same checks, with the same messages.
//!
//! ```no_run
//! let cloud = meanet_tract::TractClassifier::new(meanet_tract::open("bundle/cloud.onnx")?)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Each model becomes one optimised, typed tract plan whose batch dimension is the symbol `N`,
//! which runs batches of any size; the first few batch sizes seen also get a plan optimised
//! for that size (see [`TractModel`]). Nothing
//! here needs a C++ runtime or a shared library, which makes this the backend for boards
//! without ONNX Runtime. This crate depends on core and on no other adapter.

mod error;
mod model;

pub use error::TractError;
pub use model::{PLANS_PER_MODEL, TractModel};

/// The tract version this adapter is built against.
pub const TRACT_VERSION: &str = "0.23";

/// Core's main block over a tract plan.
pub type TractMainBlock = meanet_core::MainNet<TractModel>;
/// Core's extension block over a tract plan.
pub type TractExtensionBlock = meanet_core::ExtensionNet<TractModel>;
/// Core's classifier over a tract plan (e.g. the cloud model).
pub type TractClassifier = meanet_core::ClassifierNet<TractModel>;

/// Opens the ONNX file at `path` as a [`Network`](meanet_core::Network) run by tract.
pub fn open(path: impl AsRef<std::path::Path>) -> Result<TractModel, TractError> {
    TractModel::load(path)
}
