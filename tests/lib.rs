//! Workspace-level end-to-end tests for meanet (see `tests/`): they combine adapters the way the
//! `meanet` binary does, which no single crate may.
//!
//! The port contract suite itself is `meanet_core::testing::contract` (feature `testing`), run
//! here against the fakes, ONNX Runtime and tract (`tests/backends.rs`).

// A test-support library: a failed expectation here is a failed test, as in any #[test].
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

pub mod load;
