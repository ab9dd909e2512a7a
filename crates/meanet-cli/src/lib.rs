//! The composition root of meanet. [`wiring`] is the only module that picks adapters (ONNX
//! Runtime for blocks, HTTP or QUIC for the cloud link, the ONNX-graph energy model, the data
//! readers) and wires them into `meanet-core`'s pipeline; [`cmd`] holds one module per command.
//! The `meanet` binary is a thin command-line layer over this library; end-to-end tests use it
//! too.
//!
//! Cargo features: `train` (on by default) adds `meanet train` and with it burn; an edge build
//! (`--no-default-features`) runs, serves, calibrates and evaluates without burn.

pub mod backend;
pub mod bundle;
pub mod calibrate;
pub mod cmd;
pub mod deploy;
pub mod edge;
pub mod eval;
pub mod links;
pub mod metrics;
pub mod report;
pub mod serving;
pub mod settings;
pub mod wiring;
