//! The link laboratory in CI (docs/link.md): `meanet serve` and `meanet run --input -` in two
//! network namespaces, over the emulated link, through a short trace with a step down and an
//! outage. It runs as root in namespaces it creates, and fails (never skips) where it cannot.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use std::io::Write;

use crate::common::{json_file, temp_dir, text};

/// Writes the first `n` Fashion-MNIST test images and labels as IDX files in `dir`.
fn idx_files(dir: &std::path::Path, n: usize) -> (std::path::PathBuf, std::path::PathBuf) {
    let (_, test) = meanet_data::fashion_mnist(None, &meanet_data::default_dataset_cache())
        .expect("Fashion-MNIST (scripts/setup)");
    let pixels = test.pixels().expect("Fashion-MNIST is in memory");
    let (images, labels) = (dir.join("images.idx"), dir.join("labels.idx"));
    let mut f = std::fs::File::create(&images).expect("images.idx");
    f.write_all(&[0, 0, 8, 3]).expect("write");
    for d in [n as u32, 28, 28] {
        f.write_all(&d.to_be_bytes()).expect("write");
    }
    f.write_all(&pixels[..n * 784]).expect("write");
    let mut f = std::fs::File::create(&labels).expect("labels.idx");
    f.write_all(&[0, 0, 8, 1]).expect("write");
    f.write_all(&(n as u32).to_be_bytes()).expect("write");
    let l: Vec<u8> = test.labels[..n].iter().map(|&l| l as u8).collect();
    f.write_all(&l).expect("write");
    (images, labels)
}

#[test]
fn the_link_lab_holds_the_budget_through_a_step_down_and_an_outage() {
    let uid = std::process::Command::new("id")
        .arg("-u")
        .output()
        .expect("id -u");
    assert_eq!(
        text(&uid.stdout).trim(),
        "0",
        "the link laboratory needs root: it creates network namespaces and TUN devices (run the tests as root, as CI does)"
    );
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = temp_dir("link-lab");
    let (images, labels) = idx_files(&dir, 1000);
    let out = dir.join("out");
    // 20 Mbit/s, a step down to 1 Mbit/s, a 3 s outage, 20 Mbit/s again; RTT 40 ms; 50 samples
    // a second; a 300 ms budget (room for a debug build on a busy CI machine).
    let run = std::process::Command::new("python3")
        .arg(root.join("scripts/py/link_experiment.py"))
        .args(["run", "--meanet", env!("CARGO_BIN_EXE_meanet")])
        .args(["--emu", env!("CARGO_BIN_EXE_meanet-link-emu")])
        .arg("--bundle")
        .arg(root.join("models/fashion-mnist"))
        .arg("--images")
        .arg(&images)
        .arg("--labels")
        .arg(&labels)
        .arg("--out")
        .arg(&out)
        .args(["--modes", "aware", "--phases", "4:20,4:1,3:0,4:20"])
        .args(["--rate", "50", "--budget-ms", "300", "--rtt-ms", "40"])
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run the link experiment");
    assert!(
        run.status.success(),
        "the link laboratory failed (it needs root, network namespaces, veth and TUN):\nstderr: {}\nstdout: {}",
        text(&run.stderr),
        text(&run.stdout)
    );
    let results = json_file(&out.join("results.json"));
    let aware = &results["aware"];
    assert_eq!(aware["lost"], 0, "{aware}");
    assert_eq!(aware["exit"], 0, "meanet run failed: {aware}");
    let rows = aware["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 4);
    for row in rows {
        assert_eq!(row["lost"], 0, "{row}");
        let within = row["within"].as_f64().expect("within");
        assert!(within >= 0.99, "fewer than 99% within the budget: {row}");
    }
    // The 20 Mbit/s phases offload, the outage is answered at the edge (withheld), and the
    // link is used again after it.
    for k in [0, 3] {
        assert!(
            rows[k]["offload"].as_f64().expect("offload") > 0.1,
            "{}",
            rows[k]
        );
    }
    assert!(
        rows[2]["withheld"].as_u64().expect("withheld") > 0,
        "{}",
        rows[2]
    );
    std::fs::remove_dir_all(&dir).ok();
}
