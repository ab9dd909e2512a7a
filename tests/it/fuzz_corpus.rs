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

/// The files `fuzz/manifest.toml` records for `set` (`corpus` or `seeds`) and `target`.
fn recorded(manifest: &toml::Table, set: &str, target: &str) -> Option<usize> {
    let n = manifest.get(set)?.get(target)?.as_integer()?;
    usize::try_from(n).ok()
}

#[test]
fn every_stored_fuzz_input_replays_cleanly() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(fuzz.join("manifest.toml")).unwrap()).unwrap();
    let mut total = 0;
    let (mut found, mut mismatches) = (String::new(), Vec::new());
    for set in ["corpus", "seeds"] {
        found.push_str(&format!("[{set}]\n"));
        for (name, body) in targets::TARGETS {
            let stored = files(&fuzz.join(set).join(name));
            for f in &stored {
                let bytes = std::fs::read(f).unwrap();
                let replay = std::panic::catch_unwind(|| body(&bytes));
                assert!(replay.is_ok(), "{name}: {} fails", f.display());
            }
            found.push_str(&format!("{name} = {}\n", stored.len()));
            if recorded(&manifest, set, name) != Some(stored.len()) {
                mismatches.push(format!(
                    "{set}/{name}: {} files, the manifest records {:?}",
                    stored.len(),
                    recorded(&manifest, set, name)
                ));
            }
            total += stored.len();
        }
    }
    assert!(
        mismatches.is_empty(),
        "the stored fuzz inputs differ from fuzz/manifest.toml:\n{}\nfound:\n{found}",
        mismatches.join("\n")
    );
    eprintln!("{total} fuzz inputs replayed");
}
