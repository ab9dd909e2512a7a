//! The deployment bundle manifest (`meanet.toml`): what a bundle contains and how to use it.
//!
//! Pure data and validation; reading files and checking that models exist is the loader's job
//! (the `meanet` binary). The format is documented in `docs/bundle.md`.

use serde::{Deserialize, Serialize};

use crate::numerics::Measure;
use crate::partition::{ClassPartition, PartitionError};
use crate::policy::{PerClassThresholds, RoutingThresholds, Thresholds};

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
}

/// A data-set format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    /// Fashion-MNIST IDX files.
    FashionMnist,
    /// MNIST IDX files.
    Mnist,
    /// CIFAR-10, binary version.
    Cifar10,
    /// CIFAR-100, binary version, fine labels.
    Cifar100,
    /// An image-folder tree: `train/<class>/*`, `test/<class>/*` (or `val/`).
    Folder,
}

impl DatasetKind {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: [DatasetKind; 5] = [
        DatasetKind::FashionMnist,
        DatasetKind::Mnist,
        DatasetKind::Cifar10,
        DatasetKind::Cifar100,
        DatasetKind::Folder,
    ];

    /// The name used on the command line and in manifests.
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::FashionMnist => "fashion-mnist",
            DatasetKind::Mnist => "mnist",
            DatasetKind::Cifar10 => "cifar10",
            DatasetKind::Cifar100 => "cifar100",
            DatasetKind::Folder => "folder",
        }
    }
}

impl std::fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown data-set name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown data set {0:?} (expected fashion-mnist, mnist, cifar10, cifar100 or folder)")]
pub struct UnknownDataset(pub String);

impl std::str::FromStr for DatasetKind {
    type Err = UnknownDataset;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DatasetKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownDataset(s.to_string()))
    }
}

/// The `[dataset]` section: which data set, where it was read from and how images were sized.
/// Class names, input shape and the normalisation (computed on the training split) are the
/// manifest's `classes` and `[input]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// The format.
    pub kind: DatasetKind,
    /// The directory it was read from (absent: Fashion-MNIST's default location).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<std::path::PathBuf>,
    /// Side images were resized to (image folders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_size: Option<u32>,
    /// How images were resized to it (image folders; absent: [`Resize::default_for`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize: Option<Resize>,
}

/// How a folder's images of any size become `image_size x image_size` samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resize {
    /// Resize to the square, whatever the aspect ratio (small images, such as CIFAR-sized
    /// ones); training adds random 2-pixel shifts and flips.
    Stretch,
    /// The ImageNet convention: evaluation resizes the shorter side to `image_size x 256 / 224`
    /// and crops the centre square; training takes a random-resized crop (8% to 100% of the
    /// area, aspect ratio 3/4 to 4/3) and flips half the images, seeded.
    Crop,
}

impl Resize {
    /// Every way to resize.
    pub const ALL: [Resize; 2] = [Resize::Stretch, Resize::Crop];

    /// The default for images resized to `image_size`: `crop` from 128 pixels up (ImageNet
    /// sizes), `stretch` below.
    pub fn default_for(image_size: u32) -> Resize {
        if image_size >= 128 {
            Resize::Crop
        } else {
            Resize::Stretch
        }
    }

    /// The name used on the command line and in settings.
    pub fn name(self) -> &'static str {
        match self {
            Resize::Stretch => "stretch",
            Resize::Crop => "crop",
        }
    }
}

impl std::fmt::Display for Resize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Resize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Resize::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| format!("unknown resize {s:?} (stretch, crop)"))
    }
}

/// A seeded, stratified train/validation split of a training set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitSpec {
    /// Seed of the split.
    pub seed: u64,
    /// Fraction held out for validation.
    pub validation: f64,
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

/// Thresholds as stored in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdSpec {
    /// `entropy`, `normalized-entropy` or `max-prob`.
    pub measure: String,
    /// `t_main` (absent: no check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main: Option<f64>,
    /// `t_cloud_main`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_main: Option<f64>,
    /// `t_ext`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<f64>,
    /// `hard_mass`: an easy-class prediction with at least this probability on hard classes is
    /// treated as hard (absent: no check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard_mass: Option<f64>,
    /// The calibration target these were chosen for, as given (`offload=0.2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Thresholds per class (`meanet calibrate --per-class`); when present they route, and the
    /// global ones above stay for comparison.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_class: Option<PerClassSpec>,
}

/// `[thresholds.per_class]`: one main threshold per class, one extension threshold per hard
/// class, in the measure of `[thresholds]`; `inf` is "no check".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerClassSpec {
    /// Per class, in label order: for an easy class its `t_main`, for a hard class its
    /// `t_cloud_main`.
    pub main: Vec<f64>,
    /// Per hard class, in hard-label order (`hard_classes`): its `t_ext`.
    pub extension: Vec<f64>,
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

impl ThresholdSpec {
    /// Converts to policy thresholds.
    pub fn thresholds(&self) -> Result<Thresholds, ManifestError> {
        let measure = Measure::parse(&self.measure).ok_or_else(|| {
            ManifestError::Thresholds(format!(
                "unknown measure {:?} (entropy, normalized-entropy, max-prob)",
                self.measure
            ))
        })?;
        for (k, v) in [
            ("main", self.main),
            ("cloud_main", self.cloud_main),
            ("extension", self.extension),
        ] {
            if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
                return Err(ManifestError::Thresholds(format!(
                    "{k} must be finite and >= 0"
                )));
            }
        }
        if self
            .hard_mass
            .is_some_and(|m| !m.is_finite() || !(0.0..=1.0).contains(&m))
        {
            return Err(ManifestError::Thresholds(
                "hard_mass must be a probability between 0 and 1".into(),
            ));
        }
        Ok(Thresholds {
            measure,
            main: self.main,
            cloud_main: self.cloud_main,
            extension: self.extension,
            hard_mass: self.hard_mass,
        })
    }

    /// The thresholds that route: per class where the manifest has them, else the global ones.
    pub fn routing(&self, partition: &ClassPartition) -> Result<RoutingThresholds, ManifestError> {
        let global = self.thresholds()?;
        let Some(pc) = &self.per_class else {
            return Ok(RoutingThresholds::Global(global));
        };
        let from = |v: &[f64]| -> Vec<Option<f64>> {
            v.iter()
                .map(|&t| (t != f64::INFINITY).then_some(t))
                .collect()
        };
        let per = PerClassThresholds {
            measure: global.measure,
            main: from(&pc.main),
            extension: from(&pc.extension),
        };
        per.validate(partition).map_err(ManifestError::Thresholds)?;
        Ok(RoutingThresholds::PerClass(per))
    }

    /// From policy thresholds.
    pub fn from_thresholds(t: &Thresholds, target: Option<String>) -> Self {
        ThresholdSpec {
            measure: t.measure.name().to_string(),
            main: t.main,
            cloud_main: t.cloud_main,
            extension: t.extension,
            hard_mass: t.hard_mass,
            target,
            per_class: None,
        }
    }

    /// Adds per-class thresholds (in the measure of `self`).
    pub fn with_per_class(mut self, t: &PerClassThresholds) -> Self {
        let to = |v: &[Option<f64>]| v.iter().map(|t| t.unwrap_or(f64::INFINITY)).collect();
        self.per_class = Some(PerClassSpec {
            main: to(&t.main),
            extension: to(&t.extension),
        });
        self
    }
}

#[cfg(test)]
mod tests;
