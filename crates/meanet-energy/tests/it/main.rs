//! meanet-energy's integration tests. One test binary for the crate (`autotests = false` in
//! Cargo.toml), one module per concern, so it links once.

mod anchors;
mod common;
mod hostile_graphs;
mod pricing;
