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

/// The `meanet` binary as a command to complete (no backtraces, no log level from outside).
pub fn command() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_meanet"));
    c.env_remove("RUST_BACKTRACE").env_remove("MEANET_LOG");
    c
}

/// A fresh, empty directory under the system's temporary directory.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("meanet-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create a temporary directory");
    d
}

/// Spawns `cmd` (a server) and reads its stderr up to the first line with an address after
/// `marker` (`"http://"`, `"https://"`): the process, that address and the lines read. Its
/// stderr is drained from then on, so it never blocks on a full pipe.
pub fn spawn_server(mut cmd: std::process::Command, marker: &str) -> (Killed, String, Vec<String>) {
    use std::io::BufRead;
    let mut child = cmd
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn meanet");
    let mut lines = std::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = Vec::new();
    let addr = loop {
        let Some(Ok(line)) = lines.next() else {
            panic!("meanet ended before announcing an address: {seen:?}");
        };
        let found = address_after(&line, marker);
        seen.push(line);
        if let Some(a) = found {
            break a;
        }
    };
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    (Killed(child), addr, seen)
}
