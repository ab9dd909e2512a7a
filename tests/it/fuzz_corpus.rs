//! Replays the fuzz corpus: every file of `fuzz/corpus/TARGET/` and `fuzz/seeds/TARGET/` goes
//! through its target's function (the very body the AFL++ binary runs, included from
//! `fuzz/src/lib.rs`), in a normal test. An input that once passed and now panics or breaks a
//! decoder's promise fails here, without AFL++ installed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::{Path, PathBuf};

#[allow(dead_code, unreachable_pub, missing_docs)]
#[path = "../../fuzz/src/lib.rs"]
mod targets;

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

#[test]
fn every_stored_fuzz_input_replays_cleanly() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut total = 0;
    for (name, body) in targets::TARGETS {
        let mut n = 0;
        for set in ["corpus", "seeds"] {
            for f in files(&fuzz.join(set).join(name)) {
                let bytes = std::fs::read(&f).unwrap();
                let replay = std::panic::catch_unwind(|| body(&bytes));
                assert!(replay.is_ok(), "{name}: {} fails", f.display());
                n += 1;
            }
        }
        eprintln!("{name}: {n} inputs replayed");
        assert!(n > 0, "{name}: no stored inputs under {}", fuzz.display());
        total += n;
    }
    eprintln!("{total} fuzz inputs replayed");
}
