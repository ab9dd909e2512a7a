//! The `meanet` binary as a library: argument parsing helpers, the layered [`settings`] and
//! one module per command ([`cmd`]). Everything a command does is in `meanet-runtime` (the
//! deployable system) and `meanet-eval` (calibration, evaluation and reports); this crate
//! parses, prints and draws progress bars. Programs that compose their own deployments depend
//! on `meanet-runtime`, never on this crate.
//!
//! Cargo features: `ort` and `tract` (the inference backends) and `train` (on by default: adds
//! `meanet train` and with it burn); an edge build (`--no-default-features --features ort`)
//! runs, serves, calibrates and evaluates without burn.

#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod cmd;
pub mod logging;
pub mod memory;
pub mod settings;
pub mod stdout;
pub mod wiring;
