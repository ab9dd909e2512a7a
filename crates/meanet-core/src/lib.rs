//! The pure domain of MEANet: complexity-aware edge-cloud inference.
//!
//! This crate owns everything that decides *what happens to a sample*, and nothing that
//! touches the outside world:
//!
//! - [`batching`]: when a micro-batch closes (full, or its first item has waited long enough).
//! - [`numerics`]: stable softmax, entropy (nats and normalised), max-probability, top-k.
//! - [`stats`]: confusion matrices, per-class recall and precision.
//! - [`partition`]: the easy/hard [`ClassPartition`] and the [`HardClassSelector`] strategies.
//! - [`policy`]: the [`ExitPolicy`] strategies (MEANet, MEANet per class, BranchyNet-style entropy exit, edge-only,
//!   cloud-only, main + extension).
//! - [`ports`]: the capabilities adapters implement: [`MainBlock`], [`ExtensionBlock`],
//!   [`Classifier`], [`CloudLink`] (async) and [`EnergyModel`].
//! - [`link`]: the link as the edge measures it (latency, goodput, outages), the latency,
//!   energy and uplink budgets held against it, and link traces.
//! - [`online`]: the online controller that holds the offload share at its target as the input
//!   mix changes, and the running estimate of the edge's accuracy per class.
//! - [`pipeline`]: routes a batch through the blocks, giving every sample exactly one [`Outcome`].
//! - [`metrics`]: accuracy, exit shares, hard-class detection, energy and traffic over outcomes.
//! - [`calibration`]: threshold sweeps over cached logits, the Pareto frontier and target picking.
//! - `testing` (feature `testing`): fakes for every port and the contract suite adapters are
//!   held to.
//! - [`units`]: MACs, bytes, joules and seconds as types.
//! - [`network`]: the [`Network`] port every inference backend implements (one model file:
//!   path, signature, run), and the generic main, extension and classifier blocks over it.
//! - [`normalisation`]: the per-channel normalisation of 8-bit pixels, from `u8` and back.
//! - [`signature`]: what a model file declares, and the checks every inference backend applies
//!   before a network may serve as a block.
//! - [`manifest`]: the deployment bundle manifest (`meanet.toml`) and its validation.
//! - [`memory`]: the edge's memory footprint, its default batch size and the batch a memory
//!   budget allows.
//! - [`cache`]: the rule that says where fetched data sets and libraries are kept (pure: the
//!   caller reads the environment and the file system).
//! - [`training`]: the choices that define training (hard-class measure, network preset,
//!   device), as names.
//!
//! It must not depend on anything that performs I/O: no tokio, no ONNX Runtime, no HTTP or QUIC
//! stacks, no clocks, threads, files, environment variables or global random state. Adapters
//! (`meanet-onnx`, `meanet-transport`, `meanet-energy`) implement the ports; the `meanet` binary
//! composes them. CI checks that `cargo tree -p meanet-core` stays free of I/O crates.

pub mod batching;
pub mod bootstrap;
pub mod cache;
pub mod calibration;
pub mod link;
pub mod manifest;
pub mod memory;
pub mod metrics;
pub mod network;
pub mod normalisation;
pub mod numerics;
pub mod online;
pub mod partition;
pub mod pipeline;
pub mod policy;
pub mod ports;
pub mod signature;
pub mod stats;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod training;
pub mod units;

pub use calibration::{
    CalibrationCache, CalibrationError, CalibrationPoint, Calibrator, Grid, PointMetrics, Target,
};
pub use manifest::{Manifest, ManifestError};
pub use metrics::{ExitStats, MetricsError, Summary};
pub use network::{ClassifierNet, ExtensionNet, MainNet, Network, NetworkError};
pub use normalisation::Normalisation;
pub use numerics::{Measure, NumericError, Scores};
pub use partition::{
    BelowAccuracy, ClassPartition, HardClassSelector, PartitionError, WorstByPrecision,
    WorstByRecall,
};
pub use pipeline::{BlockCosts, EdgePass, Exit, Outcome, Pipeline, PipelineError};
pub use policy::{
    BranchyNet, CloudOnly, EdgeOnly, ExitPolicy, ExtensionRoute, MainExtension, MeaNet,
    MeaNetPerClass, PerClassThresholds, Route, RouteReason, RoutingThresholds, Thresholds,
};
pub use ports::{
    BlockError, BoxError, Classifier, CloudError, CloudErrorKind, CloudLink, CloudReply,
    EnergyBreakdown, EnergyModel, ExtensionBlock, MainBlock, MainOutput, RadioBurst, SampleCost,
};
pub use signature::{ModelSignature, Role, TensorSpec};
pub use stats::{ClassStats, ConfusionMatrix};
pub use units::{Bytes, Joules, Macs, Seconds};
