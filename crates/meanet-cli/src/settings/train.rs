//! `[train]`: the trainer's defaults.

use meanet_core::training::{HardBy, Preset, TrainDevice};
use serde::{Deserialize, Serialize};

/// Training settings (`meanet train`; each has a flag of the same name that overrides it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainSettings {
    /// Network sizes: small, resnet32, tiny, mobilenetv2 or resnet18.
    pub preset: Preset,
    /// Depth of the cloud ResNet: resnet32 takes 6n + 2 (default 110), mobilenetv2 and
    /// resnet18 take 18, 34, 50, 101 or 152 (default 50); unset: the preset's default.
    pub cloud_depth: Option<usize>,
    /// Fraction of the classes that are hard: H = round(C x hard_fraction).
    pub hard_fraction: f64,
    /// What hard classes are the worst at: recall or precision.
    pub hard_by: HardBy,
    /// Fraction of the training set held out for validation.
    pub validation_fraction: f64,
    /// Seed of the split, shuffling, augmentation and initialisation.
    pub seed: u64,
    /// Where training runs: flex (CPU), wgpu or cuda (cargo features).
    pub device: TrainDevice,
    /// Epochs of the main block.
    pub epochs_main: usize,
    /// Epochs of the adaptive + extension blocks.
    pub epochs_extension: usize,
    /// Epochs of the cloud model.
    pub epochs_cloud: usize,
    /// Samples per training step.
    pub batch_size: usize,
    /// Random crops and flips.
    pub augment: bool,
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings {
            preset: Preset::Small,
            cloud_depth: None,
            hard_fraction: 0.5,
            hard_by: HardBy::Recall,
            validation_fraction: 0.1,
            seed: 20211,
            device: TrainDevice::Flex,
            epochs_main: 10,
            epochs_extension: 10,
            epochs_cloud: 10,
            batch_size: 128,
            augment: true,
        }
    }
}
