//! Errors a user can act on, one test per case: a closed pipe ends the output quietly; a
//! certificate TLS refuses is logged with rustls' reason; every way of setting
//! `server.model_name` reaches `meanet edge`; a calibration target the frontier stops short of
//! is reported and recorded; a generated QUIC certificate never lands in the working directory;
//! `meanet run` on a folder of class folders says what it reads.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::{self, Killed, text};
use crate::edge_server::{bundle, request};

use crate::common::{command as meanet, temp_dir};

fn temp(name: &str) -> PathBuf {
    temp_dir(&format!("user-errors-{name}"))
}

/// Runs `meanet ARGS` with its stdout a pipe whose reader is gone before anything is written,
/// and returns its exit status and stderr.
fn into_closed_pipe(args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut child = meanet()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away (`| head -c 0`)
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (child.wait().unwrap(), err)
}

#[test]
fn a_closed_pipe_ends_the_output_of_profile_and_runtime_without_a_panic() {
    let main = format!("{}/main.onnx", bundle());
    for args in [
        vec!["--json", "profile", main.as_str()],
        vec!["profile", main.as_str()],
        vec!["runtime"],
        vec!["--json", "runtime"],
    ] {
        let (status, err) = into_closed_pipe(&args);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        // 0 here; 141 is what a shell reports for a process that SIGPIPE killed, also fine.
        use std::os::unix::process::ExitStatusExt;
        assert!(
            status.code() == Some(0) || status.signal() == Some(13),
            "{args:?}: {status:?} {err}"
        );
    }
}

/// The first `n` Fashion-MNIST test images as an IDX file in `dir`.
fn idx(dir: &Path, n: usize) -> PathBuf {
    let pixels = crate::edge_server::images(n);
    let mut bytes = vec![0, 0, 8, 3];
    for d in [n as u32, 28, 28] {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes.extend_from_slice(&pixels);
    let path = dir.join("images.idx");
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Starts `meanet serve` of the reference bundle over HTTPS with `cert`/`key`; returns it and
/// its address.
fn https_server(cert: &Path, key: &Path) -> (Killed, String) {
    let mut cmd = meanet();
    cmd.args(["serve", &bundle(), "--http", "127.0.0.1:0"])
        .args([
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ]);
    let (server, addr, _) = crate::common::spawn_server(cmd, "https://");
    (server, addr)
}

/// `meanet run` of 200 samples offloading to `url`, trusting `ca`: (outcomes, stderr).
fn run_against(url: &str, ca: &Path, input: &Path) -> (Vec<serde_json::Value>, String) {
    let out = meanet()
        .args(["run", &bundle(), "--json", "--quiet"])
        .args(["--input", input.to_str().unwrap()])
        .args(["--set", &format!("cloud.url={url}")])
        .args(["--set", &format!("cloud.ca_cert={}", ca.display())])
        .args(["--set", "cloud.deadline_ms=5000"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let outcomes = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (outcomes, text(&out.stderr))
}

#[test]
fn a_ca_certificate_served_as_the_servers_own_is_a_logged_tls_error_and_ca_plus_leaf_works() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let dir = temp("tls");
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let write = |name: &str, pem: String| {
        let p = dir.join(name);
        std::fs::write(&p, pem).unwrap();
        p
    };
    // What `openssl req -x509 -addext subjectAltName=...` makes: a self-signed CA:TRUE
    // certificate for the server's own names.
    let mut ca_params = CertificateParams::new(names.clone()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let ca_pem = write("ca.pem", ca.pem());
    let ca_key_pem = write("ca.key", ca_key.serialize_pem());
    let input = idx(&dir, 200);

    let (_server, addr) = https_server(&ca_pem, &ca_key_pem);
    let port = addr.rsplit(':').next().unwrap();
    let url = format!("https://localhost:{port}");
    let (outcomes, err) = run_against(&url, &ca_pem, &input);
    assert_eq!(outcomes.len(), 200, "one outcome per sample");
    let offloads: Vec<_> = outcomes
        .iter()
        .filter(|o| !o["degraded"].is_null())
        .collect();
    assert!(!offloads.is_empty(), "some samples are offloaded");
    // The first offloads fail the handshake (`tls`); once the breaker opens, the rest are
    // refused at once (`circuit_open`). None reaches the cloud.
    assert!(
        outcomes.iter().all(|o| o["exit"] != "cloud"),
        "no offload is answered by the cloud"
    );
    assert!(
        offloads.iter().any(|o| o["degraded"] == "tls"),
        "the cause is tls"
    );
    assert!(
        offloads
            .iter()
            .all(|o| o["degraded"] == "tls" || o["degraded"] == "circuit_open"),
        "no other cause"
    );
    assert!(err.contains("WARN"), "logged at warn level: {err}");
    assert!(err.contains("TLS handshake with the cloud failed"), "{err}");
    assert!(
        err.contains("CaUsedAsEndEntity"),
        "rustls' own reason: {err}"
    );
    assert!(err.contains("CA:TRUE"), "what to do: {err}");
    assert_eq!(
        err.matches("TLS handshake with the cloud failed").count(),
        1,
        "once per cause: {err}"
    );
    assert!(
        err.contains("samples degraded") && err.contains("tls "),
        "the summary by cause: {err}"
    );

    // A CA and a leaf certificate signed by it: the same run is answered by the cloud.
    let mut leaf_params = CertificateParams::new(names).unwrap();
    leaf_params.is_ca = IsCa::ExplicitNoCa;
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap();
    let leaf_pem = write("cert.pem", leaf.pem());
    let leaf_key_pem = write("key.pem", leaf_key.serialize_pem());
    let (_server, addr) = https_server(&leaf_pem, &leaf_key_pem);
    let port = addr.rsplit(':').next().unwrap();
    let (outcomes, err) = run_against(&format!("https://localhost:{port}"), &ca_pem, &input);
    assert_eq!(outcomes.len(), 200);
    assert!(outcomes.iter().all(|o| o["degraded"].is_null()), "{err}");
    assert!(outcomes.iter().any(|o| o["exit"] == "cloud"), "{err}");
    assert!(!err.contains("WARN"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn server_model_name_set_by_file_environment_or_set_is_what_meanet_edge_serves() {
    let dir = temp("model-name");
    let config = dir.join("meanet.toml");
    std::fs::write(&config, "[server]\nmodel_name = \"from-file\"\n").unwrap();
    let b = bundle();
    let cases: [(&str, Vec<&str>, Option<&str>); 4] = [
        (
            "from-file",
            vec!["--config", config.to_str().unwrap()],
            None,
        ),
        ("from-env", vec![], Some("from-env")),
        (
            "from-set",
            vec!["--set", "server.model_name=from-set"],
            None,
        ),
        ("meanet", vec![], None),
    ];
    for (name, extra, env) in cases {
        let mut cmd = meanet();
        cmd.args(["edge", &b, "--http", "127.0.0.1:0"]).args(&extra);
        if let Some(v) = env {
            cmd.env("MEANET_SERVER__MODEL_NAME", v);
        }
        let (_edge, addr, lines) = crate::common::spawn_server(cmd, "http://");
        let first = lines.last().unwrap();
        assert!(
            first.contains(&format!("/v2/models/{name}/infer")),
            "{name}: {first}"
        );
        let ready = request(&addr, "GET", &format!("/v2/models/{name}/ready"), &[], b"");
        assert_eq!(ready.status, 200, "{name}: /v2/models/{name}/ready");
        if name != "meanet" {
            let default = request(&addr, "GET", "/v2/models/meanet/ready", &[], b"");
            assert_eq!(
                default.status, 404,
                "{name}: the default name is not served too"
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn copy_bundle(dir: &Path) -> PathBuf {
    let to = dir.join("bundle");
    std::fs::create_dir_all(&to).unwrap();
    for e in std::fs::read_dir(bundle()).unwrap() {
        let e = e.unwrap();
        if e.path().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
    to
}

#[test]
fn a_calibration_target_the_frontier_stops_short_of_is_reported_and_recorded() {
    let dir = temp("calibrate");
    let b = copy_bundle(&dir);
    let out = meanet()
        .args([
            "calibrate",
            b.to_str().unwrap(),
            "--target",
            "offload=0.4",
            "--quiet",
        ])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("target offload=0.4 not reached"), "{err}");
    assert!(err.contains("does not raise validation accuracy"), "{err}");
    let report = common::json_file(&b.join("calibration.json"));
    let missed = &report["missed_target"];
    assert_eq!(missed["measure"], "offload", "{report}");
    let (reached, step) = (
        missed["reached"].as_f64().unwrap(),
        missed["step"].as_f64().unwrap(),
    );
    assert!(0.4 - reached > step, "{missed}");
    assert!(
        (report["chosen"]["cloud_share"].as_f64().unwrap() - reached).abs() < 1e-12,
        "the recorded figure is the chosen point's: {report}"
    );
    // A target that is met is not reported.
    let out = meanet()
        .args([
            "calibrate",
            b.to_str().unwrap(),
            "--target",
            "offload=0.2",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("not reached"),
        "{}",
        text(&out.stderr)
    );
    assert!(common::json_file(&b.join("calibration.json"))["missed_target"].is_null());
    std::fs::remove_dir_all(&dir).unwrap();
}

fn git_status(root: &Path) -> Option<String> {
    let out = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=all"])
        .current_dir(root)
        .output()
        .ok()?;
    out.status.success().then(|| text(&out.stdout))
}

#[test]
fn serve_quic_run_from_the_checkout_writes_its_certificate_in_the_cache_not_the_tree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap();
    let cache = temp("quic-cache");
    let before = git_status(&root);
    let mut child = meanet()
        .current_dir(&root)
        .env("MEANET_CACHE", &cache)
        .args([
            "serve",
            "models/fashion-mnist",
            "--http",
            "127.0.0.1:0",
            "--quic",
            "127.0.0.1:0",
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let lines: Vec<String> = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .take(2)
        .map(Result::unwrap)
        .collect();
    drop(Killed(child));
    let cert = cache.join("meanet-quic-cert.pem");
    assert!(cert.is_file(), "the certificate is in the cache: {lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&cert.display().to_string())),
        "{lines:?}"
    );
    assert!(
        !root.join("meanet-quic-cert.pem").exists(),
        "nothing in the working directory"
    );
    assert_eq!(git_status(&root), before, "git status is unchanged");
    std::fs::remove_dir_all(&cache).unwrap();
}

#[test]
fn run_on_a_folder_of_class_folders_says_where_images_must_be() {
    let dir = temp("class-folders");
    for class in ["cat", "dog"] {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        image::GrayImage::from_pixel(28, 28, image::Luma([90]))
            .save(dir.join(class).join("0.png"))
            .unwrap();
    }
    let out = meanet()
        .args(["run", &bundle(), "--input", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("not in its subfolders") && err.contains("2 folders (cat, dog)"),
        "{err}"
    );
    assert!(err.contains("--dataset folder --data"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn json_is_honoured_by_export() {
    let dir = temp("export-json");
    let out = meanet()
        .args([
            "--json",
            "export",
            "triton",
            &bundle(),
            "--out",
            dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    let files = v["files"].as_array().unwrap();
    assert!(
        files.len() == 2
            && files
                .iter()
                .all(|f| Path::new(f.as_str().unwrap()).is_file()),
        "{v}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_server_whose_stderr_reader_goes_away_keeps_serving_and_drains() {
    use std::os::unix::process::ExitStatusExt;
    let mut child = meanet()
        .args([
            "edge",
            &bundle(),
            "--http",
            "127.0.0.1:0",
            "--set",
            "cloud.transport=none",
        ])
        .args(["--set", "server.unready_ms=0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let first = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap(); // the reader is dropped here: stderr is closed from now on
    let addr = crate::common::address_after(&first, "http://").unwrap();
    let mut edge = Killed(child);
    for _ in 0..20 {
        let ready = request(&addr, "GET", "/v2/health/ready", &[], b"");
        assert_eq!(ready.status, 200, "still serving with its stderr closed");
    }
    // The drain writes to stderr too: it must still end in exit 0, not a panic.
    let term = Command::new("kill")
        .args(["-TERM", &edge.0.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = edge.0.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "{status:?} (signal {:?})",
        status.signal()
    );
}
