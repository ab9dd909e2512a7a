//! `meanet data fetch`: getting a data set onto this machine.

use std::path::Path;

use anyhow::{Context, Result, bail};
use meanet_core::manifest::DatasetKind;
use meanet_data::{DataSource, locate_fashion_mnist};

use super::Output;
use crate::wiring;

/// `meanet data fetch KIND`: Fashion-MNIST is found or fetched; other kinds are checked where
/// `--data` says they are.
pub fn fetch(kind: DatasetKind, dir: Option<&Path>, cache: &Path, out: Output) -> Result<()> {
    let found = match kind {
        DatasetKind::FashionMnist => {
            Some(locate_fashion_mnist(dir, cache).context("fetching Fashion-MNIST")?)
        }
        _ if dir.is_none() => bail!(
            "{kind} cannot be fetched here (no network access to it): download it yourself and pass --data DIR to check it"
        ),
        _ => dir.map(Path::to_path_buf),
    };
    let splits = wiring::data(&DataSource::new(kind, found.clone()), cache)?;
    let dir = found.map(|p| p.display().to_string()).unwrap_or_default();
    if out.json {
        println!(
            "{}",
            serde_json::json!({"dataset": kind.name(), "dir": dir, "train": splits.train.len(), "test": splits.test.len(), "classes": splits.train.classes.len()})
        );
    } else {
        println!(
            "{kind}: {} training and {} test samples of {} classes, {:?} each, in {dir}",
            splits.train.len(),
            splits.test.len(),
            splits.train.classes.len(),
            splits.train.shape,
        );
    }
    Ok(())
}
