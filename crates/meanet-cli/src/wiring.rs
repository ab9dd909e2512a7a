//! Data for the commands: a data set's splits read with `meanet-data`, with errors that say
//! which set and where. Backends, links and servers are `meanet-runtime`'s.

use std::path::Path;

use anyhow::{Context, Result};
use meanet_data::{DataSource, Splits};

/// Reads the training and test splits of `source` (Fashion-MNIST is fetched into `cache`).
pub fn data(source: &DataSource, cache: &Path) -> Result<Splits> {
    source.load(cache).with_context(|| {
        format!(
            "loading the {} data set{}",
            source.kind,
            source
                .path
                .as_ref()
                .map_or(String::new(), |p| format!(" from {}", p.display()))
        )
    })
}

/// Reads the test split of `source` alone (the training files are not read).
pub fn test_data(source: &DataSource, cache: &Path) -> Result<meanet_data::Dataset> {
    source.load_test(cache).with_context(|| {
        format!(
            "loading the {} test split{}",
            source.kind,
            source
                .path
                .as_ref()
                .map_or(String::new(), |p| format!(" from {}", p.display()))
        )
    })
}
