//! Small data never panics: `meanet train --preset tiny` on folder data sets of a few images
//! either writes a bundle or says what to change (more images, --validation-fraction, a larger
//! --limit-train).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::{Path, PathBuf};

use proptest::prelude::*;

use crate::common::{meanet, text};

/// A folder data set in `root`: `train[c]` images of class `c` in `train/`, `test[c]` in `val/`.
fn folder(root: &Path, train: &[usize], test: &[usize]) {
    let _ = std::fs::remove_dir_all(root);
    for (split, counts) in [("train", train), ("val", test)] {
        for (c, &n) in counts.iter().enumerate() {
            let dir = root.join(split).join(format!("class{c}"));
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..n {
                let shade = (40 * c + 7 * i) as u8;
                image::RgbImage::from_pixel(12, 12, image::Rgb([shade, 255 - shade, shade / 2]))
                    .save(dir.join(format!("{i}.png")))
                    .unwrap();
            }
        }
    }
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("meanet-small-data-{name}-{}", std::process::id()))
}

/// Trains `--preset tiny` for one epoch per stage on `data`; returns (success, stderr).
fn train(data: &Path, out: &Path, extra: &[&str]) -> (bool, String) {
    let args = [
        &[
            "train",
            "--dataset",
            "folder",
            "--data",
            data.to_str().unwrap(),
            "--image-size",
            "16",
            "--preset",
            "tiny",
            "--epochs-main",
            "1",
            "--epochs-extension",
            "1",
            "--epochs-cloud",
            "1",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ][..],
        extra,
    ]
    .concat();
    let o = meanet(&args);
    let err = text(&o.stderr);
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert!(
        o.status.code().is_some(),
        "{args:?}: killed by a signal: {err}"
    );
    (o.status.success(), err)
}

#[test]
fn ten_classes_of_four_images_get_an_error_that_says_what_to_change() {
    let root = tmp("ten-by-four");
    let data = root.join("data");
    folder(&data, &[4; 10], &[2; 10]);
    let (ok, err) = train(&data, &root.join("b"), &[]);
    assert!(!ok, "no validation sample can be held out of 4 at 0.1");
    assert!(
        err.contains("validation split is empty") && err.contains("--validation-fraction"),
        "{err}"
    );
    // Raising the fraction, as the message says, trains a bundle.
    let (ok, err) = train(&data, &root.join("b"), &["--validation-fraction", "0.25"]);
    assert!(ok, "{err}");
    assert!(root.join("b/meanet.toml").is_file());
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_limit_below_the_class_count_and_an_empty_class_are_named() {
    let root = tmp("limit");
    let data = root.join("data");
    folder(&data, &[6, 6, 6], &[1, 1, 1]);
    let (ok, err) = train(&data, &root.join("b"), &["--limit-train", "2"]);
    assert!(
        !ok && err.contains("--limit-train 2 is fewer than the 3 classes"),
        "{err}"
    );
    folder(&data, &[6, 0, 6], &[1, 1, 1]);
    let (ok, err) = train(&data, &root.join("b"), &[]);
    assert!(
        !ok && err.contains("class1") && err.contains("no training samples"),
        "{err}"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        // The same 24 data sets on every run: a failure is reproducible, never chance.
        rng_seed: proptest::test_runner::RngSeed::Fixed(20211),
        ..ProptestConfig::default()
    })]

    /// Any tiny folder data set: an error or a bundle, never a panic.
    #[test]
    fn tiny_folder_data_sets_give_an_error_or_a_bundle(
        train_counts in proptest::collection::vec(0usize..=6, 1..=5),
        test_count in 0usize..=2,
    ) {
        let root = tmp(&format!("prop-{}", train_counts.iter().map(ToString::to_string).collect::<String>()));
        let data = root.join("data");
        let test = vec![test_count; train_counts.len()];
        folder(&data, &train_counts, &test);
        let (ok, err) = train(&data, &root.join("b"), &["--validation-fraction", "0.3"]);
        if ok {
            prop_assert!(root.join("b/meanet.toml").is_file());
        } else {
            prop_assert!(err.starts_with("Error: "), "{}", err);
        }
        std::fs::remove_dir_all(&root).unwrap();
    }
}
