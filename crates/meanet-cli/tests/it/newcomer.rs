//! A newcomer's path: defaults that never destroy (train needs --out, and --force to replace a
//! bundle), eval found from anywhere, one token variable.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::{Path, PathBuf};

use crate::common::text;
use crate::edge_server::{bundle, request};

use crate::common::{command as meanet, temp_dir};

fn temp(name: &str) -> PathBuf {
    temp_dir(&format!("newcomer-{name}"))
}

/// Every file of `dir` (not recursive) with its bytes.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn train_without_out_is_refused_and_a_bundle_is_replaced_only_with_force() {
    let reference = PathBuf::from(bundle());
    let before = snapshot(&reference);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = meanet()
        .current_dir(&root)
        .args(["train", "--preset", "tiny", "--epochs-main", "1", "--quiet"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--out"), "{}", text(&out.stderr));
    assert!(
        !reference.join("work").exists(),
        "no checkpoint written into the reference"
    );
    assert_eq!(
        snapshot(&reference),
        before,
        "the reference bundle is byte-identical"
    );

    // Into a directory that holds a bundle: refused without --force, before anything is written.
    let dir = temp("force");
    for (name, bytes) in &before {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let out = meanet()
        .args(["train", "--preset", "tiny", "--epochs-main", "1", "--quiet"])
        .args(["--out", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("already holds a bundle") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(snapshot(&dir), before, "untouched");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn eval_finds_the_reference_bundle_from_another_directory() {
    let dir = temp("eval-anywhere");
    let out = meanet()
        .current_dir(&dir)
        .args(["--quiet", "eval", "--limit", "200", "--no-sweep", "--out"])
        .arg(dir.join("report"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.join("report/report.json").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(feature = "eval")]
#[test]
fn eval_without_a_bundle_names_the_argument_when_none_is_found() {
    let dir = temp("eval-none");
    let err = format!(
        "{:#}",
        meanet_cli::cmd::eval::reference_bundle(Some(&dir), None).unwrap_err()
    );
    assert!(
        err.contains("give the bundle directory as the first argument"),
        "{err}"
    );
    assert!(
        err.contains(&dir.display().to_string()),
        "says where it looked: {err}"
    );
    let found = meanet_cli::cmd::eval::reference_bundle(
        Some(&dir),
        Some(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")),
    )
    .unwrap();
    assert!(found.join("meanet.toml").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_old_token_variable_still_works_and_names_the_new_one() {
    let mut cmd = meanet();
    cmd.args(["edge", &bundle(), "--http", "127.0.0.1:0"])
        .env("MEANET_SERVE_TOKEN", "old-secret")
        .env_remove("MEANET_SERVER__TOKEN");
    let (_edge, addr, seen) = crate::common::spawn_server(cmd, "http://");
    let log = seen.join("\n");
    assert!(
        log.contains("MEANET_SERVE_TOKEN is deprecated") && log.contains("MEANET_SERVER__TOKEN"),
        "{log}"
    );
    assert!(log.contains("bearer token required"), "{log}");
    let path = "/v2/models/meanet/infer";
    let body = br#"{"inputs":[]}"#;
    assert_eq!(request(&addr, "POST", path, &[], body).status, 401);
    let auth = [("Authorization", "Bearer old-secret".to_string())];
    assert_ne!(request(&addr, "POST", path, &auth, body).status, 401);
}
