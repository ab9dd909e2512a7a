//! Workspace-level end-to-end tests for meanet (see `tests/`): they combine adapters the way the
//! `meanet` binary does, which no single crate may.
//!
//! This library holds the shared port contract suites, run against both fakes and real adapters.

// A test-support library: a failed expectation here is a failed test, as in any #[test].
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

pub mod contract;
pub mod load;
