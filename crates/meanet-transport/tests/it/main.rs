//! meanet-transport's integration tests, on loopback. One test binary for the crate
//! (`autotests = false` in Cargo.toml), one module per concern, so it links once.

mod common;
mod hostile;
mod limits;
mod loopback;
mod loopback_faults;
