//! Per-layer work accounting from ONNX graphs, priced into joules.
//!
//! This crate will count MACs and bytes per node of an ONNX graph and implement
//! `meanet_core::EnergyModel` with a cited technology table. It depends on `meanet-core` and
//! never on another adapter. Work in progress: see the energy issue.
