//! The plain data an evaluation produces: what `report.json` holds (stable keys), with no
//! rendering. The renderers in [`crate::report`] consume it; nothing here depends on them.

use meanet_core::Outcome;
use serde::{Deserialize, Serialize};

/// `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The bundle evaluated.
    pub bundle: String,
    /// Test samples.
    pub samples: usize,
    /// Class names.
    pub classes: Vec<String>,
    /// Hard classes (label indices).
    pub hard_classes: Vec<usize>,
    /// The MEANet thresholds used.
    pub thresholds: Thresholds,
    /// The link model.
    pub link: String,
    /// The inference backend that ran the networks (`runtime.backend`: `ort` or `tract`).
    #[serde(default)]
    pub backend: String,
    /// One entry per method.
    pub methods: Vec<MethodReport>,
    /// 95% paired-bootstrap intervals of accuracy differences (MEANet against the entropy exit,
    /// cloud-only and the paper's thresholds), in accuracy points (0.01 = 1 pp).
    #[serde(default)]
    pub differences: Vec<Difference>,
    /// What an offload costs with each `cloud.payload`, and MEANet's edge energy with it.
    #[serde(default)]
    pub payloads: Vec<PayloadCost>,
    /// The drift evaluation (`meanet eval --drift`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<DriftReport>,
    /// Each method calibrated for several offload targets on the validation split, measured
    /// on the test split.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetPoint>,
}

/// Thresholds, for the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Measure.
    pub measure: String,
    /// `t_main`.
    pub main: Option<f64>,
    /// `t_cloud_main`.
    pub cloud_main: Option<f64>,
    /// `t_ext`.
    pub extension: Option<f64>,
    /// Entropy-exit threshold.
    pub entropy_exit: f64,
    /// Calibration target, if the thresholds were calibrated.
    pub target: Option<String>,
}

/// One method's results on the test samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodReport {
    /// `meanet`, `main_only`, `cloud_only`, `main_extension` or `entropy_exit`.
    pub name: String,
    /// Accuracy.
    pub accuracy: f64,
    /// Its 95% paired-bootstrap interval `[low, high]` (absent in older reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_ci: Option<[f64; 2]>,
    /// Share of samples answered at each exit.
    pub exit_share: ExitShare,
    /// Edge energy (compute, memory, radio) per sample, joules.
    pub edge_energy_j: f64,
    /// Cloud compute energy per sample, joules.
    pub cloud_energy_j: f64,
    /// Bytes sent to the cloud per sample.
    pub bytes_per_sample: f64,
    /// Mean latency per sample (the wall time of the batch it was routed in), ms.
    pub latency_ms_mean: f64,
    /// 99th percentile latency, ms.
    pub latency_ms_p99: f64,
    /// Samples answered on the edge because the cloud failed.
    pub degraded: usize,
    /// Samples.
    pub samples: usize,
    /// Of the samples leaving the main block, the fraction with a hard label.
    pub hard_detection_precision: f64,
    /// Of the hard-label samples, the fraction leaving the main block.
    pub hard_detection_recall: f64,
}

/// Exit shares.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ExitShare {
    /// Main block.
    pub main: f64,
    /// Extension block.
    pub extension: f64,
    /// Cloud.
    pub cloud: f64,
}

/// Outcomes of one method, kept for plots.
#[derive(Debug, Clone)]
pub struct MethodRun {
    /// Summary figures.
    pub report: MethodReport,
    /// Every outcome, in test order.
    pub outcomes: Vec<Outcome>,
    /// The true label of each outcome.
    pub labels: Vec<usize>,
}

/// An accuracy difference between two methods on the same samples, with its interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    /// `a - b`.
    pub name: String,
    /// As measured.
    pub estimate: f64,
    /// 95% interval, lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

/// One `cloud.payload` choice, priced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PayloadCost {
    /// `f32` or `u8`.
    pub payload: String,
    /// Whether the evaluated runs used it.
    pub used: bool,
    /// Measured from a run of MEANet over a link carrying it (else estimated: each offload
    /// priced as one sample sent alone in a binary v2 request).
    pub measured: bool,
    /// Bytes sent per offloaded sample.
    pub bytes_per_offload: f64,
    /// Radio energy of one such offload (send and receive), joules.
    pub radio_j_per_offload: f64,
    /// MEANet's edge energy per sample with every offload of the run priced at this payload.
    pub meanet_edge_energy_j: f64,
}

/// The drift evaluation: one stream whose class mix shifts halfway, routed with the static
/// calibrated thresholds and with the online controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    /// The offload share the controller holds.
    pub target: f64,
    /// Samples per window.
    pub window: usize,
    /// Samples in the stream.
    pub samples: usize,
    /// Share of hard-class samples in the first half and in the second.
    pub hard_share: [f64; 2],
    /// Offload share per window, static thresholds.
    pub static_share: Vec<f64>,
    /// Offload share per window, online controller.
    pub online_share: Vec<f64>,
    /// Accuracy over the stream, static.
    pub static_accuracy: f64,
    /// Accuracy over the stream, online.
    pub online_accuracy: f64,
    /// Largest distance from the target of any window after the first, percentage points.
    pub static_max_deviation_pp: f64,
    /// The same, online.
    pub online_max_deviation_pp: f64,
    /// The controller's final threshold scale.
    pub final_scale: f64,
}

/// One method calibrated on the validation split for one offload target, measured on the test
/// split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetPoint {
    /// `meanet` (global thresholds), `meanet_per_class` or `entropy_exit`.
    pub method: String,
    /// The offload target calibrated for.
    pub target: f64,
    /// Validation accuracy.
    pub validation_accuracy: f64,
    /// Validation offload share.
    pub validation_offload: f64,
    /// Test accuracy.
    pub test_accuracy: f64,
    /// Test offload share.
    pub test_offload: f64,
}
