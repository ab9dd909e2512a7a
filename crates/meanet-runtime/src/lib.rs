//! The deployable MEANet system as a library: what `meanet run`, `meanet edge` and
//! `meanet serve` do, for programs that compose their own deployments.
//!
//! - [`options`]: typed options with defaults and checks, one struct per `meanet.toml` section.
//! - [`backend`]: the inference backend (`ort` or `tract`, cargo features) as an [`Engine`]
//!   that opens a model file as core's [`Network`](meanet_core::Network); the only place a
//!   backend is chosen.
//! - [`bundle`]: a bundle directory (`meanet.toml` and three ONNX files, or two for an edge
//!   bundle), checked as it opens.
//! - [`footprint`]: the edge's memory footprint, from its blocks' profiles and the backend.
//! - [`deploy`]: a [`Deployment`]: the bundle, its costs and energy model, its thresholds and
//!   online controller, and the per-channel normalisation of data.
//! - [`links`]: the HTTP or QUIC cloud link with retry and circuit breaker.
//! - [`serving`]: the v2 server for a cloud model, on loopback or as `meanet serve`.
//! - [`edge`]: the edge worker (overlapped offload, bounded in-flight, reorder, online
//!   controller), the edge v2 endpoint, and stdin batching.
//! - [`metrics`]: routing metrics in the Prometheus text format.
//! - [`export`]: a Triton model repository and Kubernetes manifests (KServe for the cloud,
//!   a Deployment for `meanet edge`).
//!
//! ```no_run
//! use meanet_runtime::{Deployment, options::Options};
//! let opts = Options::default();
//! let dep = Deployment::load("models/fashion-mnist".as_ref(), &opts)?;
//! let (routing, _) = dep.routing(&opts.policy)?;
//! # Ok::<(), anyhow::Error>(())
//! ```
//!
//! It depends on no command-line, configuration-file, plotting or progress-bar crate; the
//! `meanet` binary (`meanet-cli`) is one program built on it.

pub mod backend;
pub mod bundle;
pub mod deploy;
pub mod edge;
pub mod export;
pub mod footprint;
pub mod links;
pub mod metrics;
pub mod options;
pub mod serving;

pub use backend::Engine;
pub use bundle::{Bundle, EdgeNetworks, Networks};
pub use deploy::Deployment;
pub use metrics::RoutingMetrics;
pub use options::Options;

/// Training with burn (cargo feature `train`): `meanet-train`, re-exported.
#[cfg(feature = "train")]
pub use meanet_train as train;

#[cfg(not(any(feature = "ort", feature = "tract")))]
compile_error!(
    "meanet-runtime needs an inference backend: enable the `ort` or the `tract` feature"
);
