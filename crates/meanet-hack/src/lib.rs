//! Build-time only: this crate has no code. Its `Cargo.toml` pins one feature set for the
//! third-party crates that several of meanet's builds share, so each compiles once (see the
//! comment there). Depend on it only from a composition root (the CLI, the examples, `tests/`).
