//! The whole workflow on each data-set format, on files generated in that format: CIFAR-100
//! binary (100 classes, 3x32x32), CIFAR-10 binary, and an image folder of PNG and JPEG files.
//! Each runs `train` (tiny preset, one epoch) -> `calibrate` -> `eval` (loopback cloud) ->
//! `run` through the CLI. Also: `calibrate --validation` reads only the set it is given.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use std::path::{Path, PathBuf};

use crate::common;
use common::{json_file, meanet, ok, text};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("meanet-formats-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

use meanet_core::testing::Rng;

/// A 3x32x32 CHW image of class `k` of `classes`: a colour per class plus noise.
fn cifar_pixels(k: usize, classes: usize, rng: &mut Rng) -> Vec<u8> {
    let hue = (k * 255 / classes) as u8;
    let mut px = Vec::with_capacity(3072);
    for c in 0..3u8 {
        for i in 0..1024usize {
            let base = match c {
                0 => hue,
                1 => 255 - hue,
                _ => ((i / 32) as u8).wrapping_mul(k as u8),
            };
            px.push(base / 2 + rng.u8(..) / 4);
        }
    }
    px
}

/// Writes CIFAR binary records: `[coarse] label pixels`.
fn cifar_records(n: usize, classes: usize, coarse: bool, rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let k = i % classes;
        if coarse {
            out.push((k / 5) as u8);
        }
        out.push(k as u8);
        out.extend(cifar_pixels(k, classes, rng));
    }
    out
}

fn write_cifar10(dir: &Path, per_batch: usize, test: usize) {
    let mut rng = meanet_core::testing::rng(10);
    for b in 1..=5 {
        std::fs::write(
            dir.join(format!("data_batch_{b}.bin")),
            cifar_records(per_batch, 10, false, &mut rng),
        )
        .unwrap();
    }
    std::fs::write(
        dir.join("test_batch.bin"),
        cifar_records(test, 10, false, &mut rng),
    )
    .unwrap();
    let names = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n";
    std::fs::write(dir.join("batches.meta.txt"), names).unwrap();
}

fn write_cifar100(dir: &Path, train: usize, test: usize) {
    let mut rng = meanet_core::testing::rng(100);
    std::fs::write(
        dir.join("train.bin"),
        cifar_records(train, 100, true, &mut rng),
    )
    .unwrap();
    std::fs::write(
        dir.join("test.bin"),
        cifar_records(test, 100, true, &mut rng),
    )
    .unwrap();
}

const FOLDER_CLASSES: [&str; 3] = ["cat", "dog", "fox"];

/// `root/<class>/NNN.png|jpg`: odd images are JPEG, sizes vary (they are resized).
fn write_folder(root: &Path, per_class: usize, seed: u64) {
    let mut rng = meanet_core::testing::rng(seed);
    for (k, class) in FOLDER_CLASSES.iter().enumerate() {
        let dir = root.join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..per_class {
            let (w, h) = (40 + (i % 3) as u32 * 4, 30 + (i % 2) as u32 * 6);
            let img = image::RgbImage::from_fn(w, h, |x, y| {
                let stripe = if k == 0 {
                    x
                } else if k == 1 {
                    y
                } else {
                    x + y
                };
                let v = if (stripe / 4) % 2 == 0 { 220 } else { 30 };
                image::Rgb([v, (k * 100) as u8, rng.u8(..) / 2])
            });
            let name = if i % 2 == 0 {
                format!("{i:03}.png")
            } else {
                format!("{i:03}.jpg")
            };
            img.save(dir.join(name)).unwrap();
        }
    }
}

/// `train` (tiny, 1 epoch) -> `calibrate` -> `eval` -> `run` on one data set. `data_flags`
/// name it; `run_flags` give `run` its input. Returns the bundle directory.
fn workflow(
    root: &Path,
    data_flags: &[&str],
    run_flags: &[&str],
    (classes, test): (usize, usize),
) -> PathBuf {
    let bundle = root.join("bundle");
    let b = bundle.to_str().unwrap();
    let start = std::time::Instant::now();
    ok(&meanet(
        &[
            &[
                "train",
                "--out",
                b,
                "--preset",
                "tiny",
                "--epochs-main",
                "1",
                "--epochs-extension",
                "1",
                "--epochs-cloud",
                "1",
                "--quiet",
            ][..],
            data_flags,
        ]
        .concat(),
    ));
    eprintln!("train took {:?}", start.elapsed());
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(bundle.join("meanet.toml")).unwrap()).unwrap();
    assert_eq!(manifest["classes"].as_array().unwrap().len(), classes);
    let results = json_file(&bundle.join("results.json"));
    assert!(results["onnx_max_abs_diff"].as_f64().unwrap() <= 1e-4);

    // calibrate and eval default to the recorded data set: no data flags.
    let out = ok(&meanet(&[
        "calibrate",
        b,
        "--target",
        "offload=0.3",
        "--json",
    ]));
    let cal: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(cal["chosen"]["cloud_share"].as_f64().unwrap() <= 0.3);
    assert!(cal["samples"].as_u64().unwrap() > 0);
    let report_dir = root.join("report");
    ok(&meanet(&[
        "eval",
        b,
        "--limit",
        "40",
        "--out",
        report_dir.to_str().unwrap(),
        "--quiet",
    ]));
    let report = json_file(&report_dir.join("report.json"));
    let cloud = &report["methods"][1];
    assert_eq!(cloud["name"], "cloud_only");
    assert_eq!(
        cloud["degraded"], 0,
        "every offload answered by the loopback cloud"
    );
    assert_eq!(cloud["samples"], test.min(40));

    let out = ok(&meanet(
        &[
            &["run", b, "--json", "--set", "cloud.transport=none"][..],
            run_flags,
        ]
        .concat(),
    ));
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!lines.is_empty());
    assert!(
        lines
            .iter()
            .all(|l| l["class"].as_u64().unwrap() < classes as u64)
    );
    bundle
}

#[test]
fn cifar100_binary_train_calibrate_eval_run() {
    let root = tmp("c100");
    let data = root.join("cifar-100-binary");
    std::fs::create_dir_all(&data).unwrap();
    write_cifar100(&data, 1000, 200);
    let d = data.to_str().unwrap();
    let bundle = workflow(
        &root,
        &["--dataset", "cifar100", "--data", d],
        &[],
        (100, 200),
    );
    let manifest = std::fs::read_to_string(bundle.join("meanet.toml")).unwrap();
    assert!(manifest.contains("kind = \"cifar100\""), "{manifest}");
    assert!(
        manifest.contains("\"aquarium_fish\""),
        "CIFAR-100 fine label names"
    );
    assert!(
        manifest.contains("shape = [\n    3,\n    32,\n    32,\n]")
            || manifest.contains("shape = [3, 32, 32]"),
        "{manifest}"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn cifar10_binary_train_calibrate_eval_run() {
    let root = tmp("c10");
    let data = root.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&data).unwrap();
    write_cifar10(&data, 80, 100);
    let d = data.to_str().unwrap();
    let test_file = data.join("test_batch.bin");
    let bundle = workflow(
        &root,
        &[
            "--dataset",
            "cifar10",
            "--data",
            d,
            "--hard-fraction",
            "0.3",
            "--hard-by",
            "precision",
            "--validation-fraction",
            "0.2",
        ],
        &[
            "--dataset",
            "cifar10",
            "--input",
            test_file.to_str().unwrap(),
        ],
        (10, 100),
    );
    let manifest = std::fs::read_to_string(bundle.join("meanet.toml")).unwrap();
    assert!(manifest.contains("kind = \"cifar10\"") && manifest.contains("\"truck\""));
    let m: toml::Value = toml::from_str(&manifest).unwrap();
    assert_eq!(
        m["hard_classes"].as_array().unwrap().len(),
        3,
        "--hard-fraction 0.3 of 10"
    );
    assert_eq!(m["split"]["validation"].as_float(), Some(0.2));
    let partition = std::fs::read_to_string(bundle.join("work/partition.json")).unwrap();
    assert!(
        partition.contains("\"hard_by\": \"precision\""),
        "{partition}"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn image_folder_train_calibrate_eval_run_and_calibrate_on_a_given_validation_set() {
    let root = tmp("folder");
    let data = root.join("photos");
    write_folder(&data.join("train"), 30, 1);
    write_folder(&data.join("test"), 8, 2);
    let d = data.to_str().unwrap();
    let flat = data.join("test").join("dog");
    let bundle = workflow(
        &root,
        &["--dataset", "folder", "--data", d, "--image-size", "24"],
        &["--input", flat.to_str().unwrap()],
        (3, 24),
    );
    let manifest = std::fs::read_to_string(bundle.join("meanet.toml")).unwrap();
    assert!(manifest.contains("kind = \"folder\"") && manifest.contains("image_size = 24"));
    assert!(manifest.contains("name = \"photos\""), "{manifest}");

    // A validation set of the user's own: two of the three classes, 5 images each. The
    // training data is moved away first, so nothing but this set can be read.
    let val = root.join("my-validation");
    write_folder(&val, 5, 3);
    std::fs::remove_dir_all(val.join("fox")).unwrap();
    std::fs::rename(&data, root.join("moved")).unwrap();
    let b = bundle.to_str().unwrap();
    let out = ok(&meanet(&[
        "calibrate",
        b,
        "--validation",
        val.to_str().unwrap(),
        "--target",
        "offload=0.5",
        "--json",
    ]));
    let cal: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(cal["samples"], 10, "exactly the given validation samples");
    assert!(cal["source"].as_str().unwrap().contains("my-validation"));
    let saved = json_file(&bundle.join("calibration.json"));
    assert_eq!(saved["samples"], 10);
    // Without --validation the recorded data set is needed, and it is gone: a clear error.
    let out = meanet(&["calibrate", b]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("photos"), "{err}");
    // A validation folder with a class the bundle does not know is refused by name.
    std::fs::create_dir_all(val.join("wolf")).unwrap();
    image::RgbImage::new(8, 8)
        .save(val.join("wolf/0.png"))
        .unwrap();
    let out = meanet(&["calibrate", b, "--validation", val.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("wolf"), "{}", text(&out.stderr));
    std::fs::remove_dir_all(&root).unwrap();
}
