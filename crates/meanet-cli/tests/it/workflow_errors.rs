//! The workflow's stages run alone and say what is missing; bad inputs are clear errors.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use crate::common;
use std::path::Path;

use crate::workflow::{idx, tmp, write_data};
use common::{meanet, ok, text};

#[test]
fn stages_run_alone_and_say_what_is_missing() {
    let root = tmp("stages");
    let data = root.join("data");
    write_data(&data, 200, 50);
    let b = root.join("b");
    let (d, bs) = (data.to_str().unwrap(), b.to_str().unwrap());
    let common = ["--data", d, "--out", bs, "--preset", "tiny", "--quiet"];
    let out = meanet(&[&["train", "--stage", "export"][..], &common].concat());
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("main.bpk") && err.contains("run the earlier stages first"),
        "{err}"
    );
    ok(&meanet(
        &[
            &["train", "--stage", "main", "--epochs-main", "1"][..],
            &common,
        ]
        .concat(),
    ));
    assert!(b.join("work/main.bpk").is_file());
    ok(&meanet(
        &[&["train", "--stage", "partition"][..], &common].concat(),
    ));
    assert!(b.join("work/partition.json").is_file());
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn bad_inputs_are_clear_errors() {
    let root = tmp("bad");
    let data = root.join("data");
    write_data(&data, 20, 10);
    std::fs::write(
        data.join("t10k-images-idx3-ubyte"),
        idx(&[10, 28, 28], &[0; 100]),
    )
    .unwrap();
    let out = meanet(&[
        "data",
        "fetch",
        "fashion-mnist",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("t10k-images-idx3-ubyte") && err.contains("truncated"),
        "{err}"
    );
    let out = meanet(&[
        "eval",
        root.join("nope").to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("meanet.toml"));
    // `meanet run` on inputs that do not fit the reference bundle.
    let bundle = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/fashion-mnist");
    let scalar = root.join("scalar.idx");
    std::fs::write(&scalar, idx(&[], &[7])).unwrap();
    let wrong = root.join("wrong.idx");
    std::fs::write(&wrong, idx(&[2, 5, 5], &[0; 50])).unwrap();
    for (input, want) in [
        (&scalar, "scalar.idx: samples are []"),
        (&wrong, "wrong.idx: samples are [5, 5]"),
    ] {
        let out = meanet(&[
            "run",
            bundle.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--set",
            "cloud.transport=none",
        ]);
        assert!(!out.status.success());
        let err = text(&out.stderr);
        assert!(err.contains(want) && !err.contains("panicked"), "{err}");
    }
    let out = meanet(&["data", "fetch", "cifar-100"]);
    assert!(text(&out.stderr).contains("unknown data set"));
    std::fs::remove_dir_all(&root).unwrap();
}
