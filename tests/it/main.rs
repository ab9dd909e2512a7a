//! Workspace-level end-to-end tests. One test binary for the package (`autotests = false` in
//! Cargo.toml), one module per concern, so it links once.

mod backends;
mod cloud_faults;
mod e2e;
mod edge_bundle;
mod fuzz_corpus;
mod hostile_cloud;
mod imagenet_ops;
mod load;
mod pipeline_onnx;
mod quantize;
