//! The deployment bundle manifest (`meanet.toml`): what a bundle contains and how to use it.
//!
//! Pure data and validation; reading files and checking that models exist is the loader's job
//! (the `meanet` binary). The format is documented in `docs/bundle.md`.

use serde::{Deserialize, Serialize};

use crate::partition::{ClassPartition, PartitionError};

mod cloud;
mod dataset;
mod quantization;
mod thresholds;

pub use cloud::{CloudSpec, CloudTensor};
pub use dataset::{DatasetKind, DatasetSpec, Resize, SplitSpec, UnknownDataset};
pub use quantization::{QuantizationSpec, QuantizedBlock};
pub use thresholds::{PerClassSpec, ThresholdSpec};

/// The current manifest format version.
pub const FORMAT: u32 = 1;

/// `meanet.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format version (1).
    pub format: u32,
    /// A short name for the deployment.
    pub name: String,
    /// Class names, in label order.
    pub classes: Vec<String>,
    /// Hard classes (label indices), in hard-label order: `hard_classes[i]` has hard label `i`.
    pub hard_classes: Vec<usize>,
    /// The raw input.
    pub input: InputSpec,
    /// Model file names, relative to the bundle directory.
    pub models: Models,
    /// Tensor names inside the model files.
    #[serde(default)]
    pub tensors: Tensors,
    /// MACs per sample of each network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub macs: Option<MacsPerSample>,
    /// The cloud model's interface (with `macs.cloud`, all the edge needs of the cloud: an
    /// edge bundle carries no cloud file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<CloudSpec>,
    /// Calibrated thresholds, if calibration ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<ThresholdSpec>,
    /// The train/validation split the networks were trained with (calibration must use the
    /// same validation samples, never training or test ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<SplitSpec>,
    /// The data set the networks were trained on (`eval` and `calibrate` default to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<DatasetSpec>,
    /// What `meanet quantize` did: absent for an f32 bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization: Option<QuantizationSpec>,
}

/// Input shape and normalisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// `[C, H, W]` of one sample.
    pub shape: Vec<usize>,
    /// Per-channel mean, applied to pixels scaled to `[0, 1]`: `x = (p / 255 - mean) / std`.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation.
    pub std: Vec<f32>,
}

/// Model file names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Models {
    /// Main block: `input -> (logits, features)`.
    pub main: String,
    /// Adaptive + extension blocks: `(input, features) -> hard_logits`.
    pub extension: String,
    /// Cloud model: `input -> logits`.
    pub cloud: String,
}

/// Tensor names in the model files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tensors {
    /// Input of every network.
    pub input: String,
    /// Main block logits output.
    pub main_logits: String,
    /// Main block feature output, extension feature input.
    pub features: String,
    /// Extension output.
    pub extension_logits: String,
    /// Cloud output.
    pub cloud_logits: String,
}

impl Default for Tensors {
    fn default() -> Self {
        Tensors {
            input: "input".into(),
            main_logits: "logits".into(),
            features: "features".into(),
            extension_logits: "hard_logits".into(),
            cloud_logits: "logits".into(),
        }
    }
}

/// MACs per sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MacsPerSample {
    /// Main block.
    pub main: u64,
    /// Adaptive + extension blocks.
    pub extension: u64,
    /// Cloud model.
    pub cloud: u64,
}

/// Why a manifest is inconsistent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ManifestError {
    /// Unsupported format version.
    #[error("unsupported manifest format {0} (this meanet reads format {FORMAT})")]
    Format(u32),
    /// The hard classes do not form a valid partition.
    #[error("hard_classes: {0}")]
    Partition(#[from] PartitionError),
    /// The input section is inconsistent.
    #[error("input: {0}")]
    Input(String),
    /// The thresholds section is invalid.
    #[error("thresholds: {0}")]
    Thresholds(String),
    /// The split section is invalid.
    #[error("split: {0}")]
    Split(String),
    /// The `[cloud]` section does not fit the rest of the manifest.
    #[error("{0}")]
    Cloud(String),
    /// A tensor name is empty.
    #[error("tensors.{key}: a tensor name cannot be empty")]
    Tensor {
        /// The key in `[tensors]`.
        key: &'static str,
    },
    /// A model file name is empty or leaves the bundle directory.
    #[error("models.{key}: {reason}")]
    Model {
        /// `main`, `extension` or `cloud`.
        key: &'static str,
        /// Why.
        reason: String,
    },
}

impl Manifest {
    /// Checks everything that can be checked without the files.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if self.format != FORMAT {
            return Err(ManifestError::Format(self.format));
        }
        self.partition()?;
        let i = &self.input;
        if i.shape.len() != 3 || i.shape.contains(&0) {
            return Err(ManifestError::Input(format!(
                "shape must be [C, H, W] with no zero, got {:?}",
                i.shape
            )));
        }
        if i.mean.len() != i.shape[0] || i.std.len() != i.shape[0] {
            return Err(ManifestError::Input(format!(
                "mean and std need one value per channel ({}), got {} and {}",
                i.shape[0],
                i.mean.len(),
                i.std.len()
            )));
        }
        if i.std.iter().any(|s| !s.is_finite() || *s <= 0.0)
            || i.mean.iter().any(|m| !m.is_finite())
        {
            return Err(ManifestError::Input(
                "std must be finite and > 0, mean finite".into(),
            ));
        }
        for (key, file) in [
            ("main", &self.models.main),
            ("extension", &self.models.extension),
            ("cloud", &self.models.cloud),
        ] {
            if file.is_empty() || file.contains("..") || file.starts_with('/') {
                return Err(ManifestError::Model {
                    key,
                    reason: format!("{file:?} must be a file name inside the bundle"),
                });
            }
        }
        if let Some(t) = &self.thresholds {
            t.routing(&self.partition()?)?;
        }
        let t = &self.tensors;
        for (key, name) in [
            ("input", &t.input),
            ("main_logits", &t.main_logits),
            ("features", &t.features),
            ("extension_logits", &t.extension_logits),
            ("cloud_logits", &t.cloud_logits),
        ] {
            if name.is_empty() {
                return Err(ManifestError::Tensor { key });
            }
        }
        if let Some(c) = &self.cloud {
            c.validate(self)?;
        }
        if let Some(sp) = &self.split
            && !(sp.validation > 0.0 && sp.validation < 1.0)
        {
            return Err(ManifestError::Split(format!(
                "validation = {} must be in (0, 1)",
                sp.validation
            )));
        }
        Ok(())
    }

    /// The class partition.
    pub fn partition(&self) -> Result<ClassPartition, ManifestError> {
        Ok(ClassPartition::try_new(
            self.classes.len(),
            self.hard_classes.clone(),
        )?)
    }

    /// Values per sample.
    pub fn sample_len(&self) -> usize {
        self.input.shape.iter().product()
    }
}

#[cfg(test)]
mod tests;
