//! The wiring: the only place adapters are chosen, as one facade over the modules that do it.
//! Blocks run on ONNX Runtime (`meanet-onnx`) or tract (`meanet-tract`) as `runtime.backend`
//! says ([`crate::backend`]), the cloud link is HTTP or QUIC (`meanet-transport`) as
//! `cloud.transport` says ([`crate::links`]), servers are `meanet-transport`'s
//! ([`crate::serving`]), energy comes from the ONNX graphs (`meanet-energy`) and data from
//! `meanet-data` (here). Commands ask this module for ports and never name an adapter
//! themselves.

use std::path::Path;

use anyhow::{Context, Result};
use meanet_data::{DataSource, Splits};

pub use crate::backend::{Engine, Loaded, Served};
pub use crate::links::{NoCloud, breaker_name, link, normalisation, payload, watched_link};
pub use crate::serving::{
    loopback_cloud, metrics_server, server_config, start_server, stop, stop_metrics,
};

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
