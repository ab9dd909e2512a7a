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

/// Fashion-MNIST test images (8-bit, 28x28) in a fixed order, drawn without repeats: for each
/// segment `(count, hard_heavy)`, `count` images of which every tenth is of the minority kind,
/// the majority being the reference bundle's hard classes when `hard_heavy`, else its easy ones.
pub fn mixed_stream(segments: &[(usize, bool)]) -> Vec<u8> {
    const SAMPLE: usize = 28 * 28;
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let manifest: meanet_core::Manifest = toml::from_str(
        &std::fs::read_to_string(root.join("models/fashion-mnist/meanet.toml"))
            .expect("the reference bundle"),
    )
    .expect("its manifest");
    let partition = manifest.partition().expect("its partition");
    let (_, test) = meanet_data::fashion_mnist(None, &meanet_data::default_dataset_cache())
        .expect("Fashion-MNIST (scripts/setup)");
    let (easy, hard): (Vec<usize>, Vec<usize>) =
        (0..test.len()).partition(|&i| !partition.is_hard(usize::from(test.labels[i])));
    let (mut e, mut h) = (easy.into_iter(), hard.into_iter());
    let mut pixels = Vec::new();
    let mut k = 0usize;
    for &(count, hard_heavy) in segments {
        for _ in 0..count {
            // Every tenth sample is of the minority kind of its segment.
            let minority = k % 10 == 9;
            let i = if hard_heavy != minority {
                h.next()
            } else {
                e.next()
            }
            .expect("enough test images of each kind");
            pixels.extend_from_slice(
                &test.pixels().expect("Fashion-MNIST is in memory")[i * SAMPLE..(i + 1) * SAMPLE],
            );
            k += 1;
        }
    }
    pixels
}

/// How long a test waits for something that takes well under a second before it fails
/// instead of hanging: a hang guard, never a timing assertion.
pub const HANG_GUARD: std::time::Duration = std::time::Duration::from_secs(120);

/// Waits (yielding the thread) until `done()`, panicking with `what` after [`HANG_GUARD`].
pub fn wait_until(what: &str, done: impl Fn() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(
            started.elapsed() < HANG_GUARD,
            "hang guard: still waiting after {HANG_GUARD:?} for {what}"
        );
        std::thread::yield_now();
    }
}
