//! The composition root of meanet: the only crate that picks adapters (ONNX Runtime for blocks,
//! HTTP or QUIC for the cloud link, the ONNX-graph energy model) and wires them into
//! `meanet-core`'s pipeline. The `meanet` binary is a thin command-line layer over this library;
//! end-to-end tests use it too.

pub mod bundle;
pub mod calibrate;
pub mod commands;
pub mod deploy;
pub mod eval;
pub mod profile;
pub mod report;
pub mod serve;
pub mod settings;
pub mod train;
