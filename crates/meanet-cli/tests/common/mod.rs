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

/// A child process (a `meanet serve`) that is killed when the test lets go of it, pass or fail.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The address after `marker` (`"http://"`, `"QUIC on "`) in a `meanet serve` log line, up to
/// the next `/` or blank.
pub fn address_after(line: &str, marker: &str) -> Option<String> {
    let rest = line.split(marker).nth(1)?;
    rest.split(|c: char| c == '/' || c.is_whitespace())
        .next()
        .map(str::to_string)
}

/// The stdout of a `meanet` run that must succeed (else its stderr and stdout in the panic).
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stderr: {}\nstdout: {}",
        text(&out.stderr),
        text(&out.stdout)
    );
    text(&out.stdout)
}

/// A JSON file written by a `meanet` command (`report.json`, `results.json`, ...).
pub fn json_file(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("read the JSON file");
    serde_json::from_str(&text).expect("parse the JSON file")
}
