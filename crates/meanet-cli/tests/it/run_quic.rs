//! `meanet run` offloads over QUIC to a running `meanet serve` that requires a token: with
//! `cloud.token` the offloads are answered by the cloud; with a wrong token every offload is
//! degraded with the cause `unauthorized`, and every sample still gets exactly one outcome.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::common;
use common::{Killed, address_after, text};

const SAMPLES: u32 = 300;

fn bundle() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/fashion-mnist")
}

/// The first `SAMPLES` Fashion-MNIST test images (generated pixels if the data set is absent:
/// the test is about the link, not accuracy).
fn input_file(dir: &Path) -> PathBuf {
    let cache = meanet_data::default_dataset_cache();
    let pixels: Vec<u8> = match meanet_data::fashion_mnist(None, &cache) {
        Ok((_, test)) => {
            test.pixels().expect("Fashion-MNIST is in memory")[..(SAMPLES as usize * 784)].to_vec()
        }
        Err(_) => (0..SAMPLES as usize * 784)
            .map(|i| (i * 31 % 251) as u8)
            .collect(),
    };
    let mut bytes = vec![0, 0, 8, 3];
    for d in [SAMPLES, 28, 28] {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes.extend_from_slice(&pixels);
    let path = dir.join("images.idx");
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn meanet_run_offloads_over_quic_with_the_token() {
    let dir = std::env::temp_dir().join(format!("meanet-run-quic-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = dir.join("quic-cert.pem");
    let mut child = Command::new(env!("CARGO_BIN_EXE_meanet"))
        .args(["serve", bundle().to_str().unwrap()])
        .args(["--http", "127.0.0.1:0", "--quic", "127.0.0.1:0"])
        .args(["--quic-cert-out", cert.to_str().unwrap()])
        .env("MEANET_SERVER__TOKEN", "s3cret")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines: Vec<String> = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .take(2)
        .map(Result::unwrap)
        .collect();
    let _server = Killed(child);
    let quic = lines
        .iter()
        .find_map(|l| address_after(l, "QUIC on "))
        .unwrap_or_else(|| panic!("no QUIC address in {lines:?}"));
    assert!(
        lines.iter().all(|l| l.contains("bearer token required")),
        "the server says it requires the token: {lines:?}"
    );
    let input = input_file(&dir);
    let run = |token: &str| -> Vec<Value> {
        let out = Command::new(env!("CARGO_BIN_EXE_meanet"))
            .args(["run", bundle().to_str().unwrap(), "--json", "--quiet"])
            .args(["--input", input.to_str().unwrap()])
            .args(["--set", "cloud.transport=quic"])
            .args(["--set", &format!("cloud.quic_addr={quic}")])
            .args(["--set", &format!("cloud.quic_cert={}", cert.display())])
            .args(["--set", &format!("cloud.token={token}")])
            .args(["--set", "cloud.deadline_ms=5000"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let good = run("s3cret");
    assert_eq!(good.len(), SAMPLES as usize, "one outcome per sample");
    let offloaded: Vec<&Value> = good.iter().filter(|o| o["exit"] == "cloud").collect();
    assert!(!offloaded.is_empty(), "some samples go to the cloud");
    for o in &offloaded {
        assert!(o["degraded"].is_null(), "answered by the cloud: {o}");
        assert!(o["bytes_sent"].as_u64().unwrap() > 0, "{o}");
    }
    let bad = run("wrong");
    assert_eq!(bad.len(), SAMPLES as usize, "one outcome per sample");
    let degraded: Vec<&Value> = bad.iter().filter(|o| !o["degraded"].is_null()).collect();
    assert_eq!(
        degraded.len(),
        offloaded.len(),
        "exactly the offloads degrade"
    );
    for o in degraded {
        assert_eq!(o["degraded"], "unauthorized", "{o}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
