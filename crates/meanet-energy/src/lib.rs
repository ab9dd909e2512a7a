//! Per-layer work accounting from ONNX graphs, priced into joules.
//!
//! Count first, price separately (tract's `cost()` idea):
//!
//! 1. [`Graph::parse`] reads an ONNX model (with `onnx-rs`; no ONNX Runtime needed) and
//!    [`Graph::profile`] infers every tensor shape for a batch size and counts, per node, MACs,
//!    other FLOPs, parameters, weight bytes and activation bytes, by data type. Operators it cannot
//!    count are listed by name in [`Profile::unsupported_ops`], never counted as zero silently.
//! 2. An [`EnergyTable`] (45 nm defaults from Horowitz, ISSCC 2014; every constant overridable)
//!    with a documented [`MemoryModel`] prices a profile into joules.
//! 3. [`Link`] models the radio (WiFi and LTE from Huang et al., MobiSys 2012, or user-defined).
//! 4. [`OnnxEnergyModel`] implements `meanet_core::EnergyModel` for a deployment's three networks.
//!
//! Depends on `meanet-core` only; no ONNX Runtime, no async, no network.

mod count;
mod error;
mod graph;
mod model;
mod price;
mod radio;

pub use count::{LayerCost, Precision, Profile, supported_ops};
pub use error::EnergyError;
pub use graph::Graph;
pub use model::{BlockProfiles, OnnxEnergyModel};
pub use price::{EnergyTable, MemoryModel, PricedLayer, PricedProfile, WeightsIn};
pub use radio::{Link, LinkKind};
