//! The `meanet` binary's integration tests, run as processes. One test binary for the crate
//! (`autotests = false` in Cargo.toml), one module per concern, so it links once.

mod cli;
mod common;
mod drain;
mod edge_bundle;
mod edge_server;
mod edge_stream;
mod formats;
mod hostile_serve;
mod imagenet;
mod link_lab;
mod newcomer;
mod online;
mod quantize;
mod resnet32;
mod run_quic;
mod small_data;
mod tract_backend;
mod user_errors;
mod workflow;
mod workflow_errors;
