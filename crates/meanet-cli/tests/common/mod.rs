//! Helpers shared by the CLI tests.

#![allow(dead_code, unreachable_pub, clippy::expect_used)]

use std::process::{Command, Output};

/// Runs the `meanet` binary with `args` (no backtraces in its error output).
pub fn meanet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meanet"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run meanet")
}

/// Bytes as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
