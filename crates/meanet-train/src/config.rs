//! What defines a training run (saved as `work/config.json`).

use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::train::Hyper;
pub use meanet_core::training::{HardBy, Preset, TrainDevice};

/// The burn device for `kind`, or an error saying which cargo feature is missing or that no
/// such device answers.
pub fn burn_device(kind: TrainDevice) -> Result<burn::tensor::Device, TrainError> {
    match kind {
        TrainDevice::Flex => Ok(burn::tensor::Device::flex()),
        #[cfg(feature = "wgpu")]
        TrainDevice::Wgpu => probe(
            kind,
            burn::tensor::Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
        ),
        #[cfg(feature = "cuda")]
        TrainDevice::Cuda => probe(kind, burn::tensor::Device::cuda(0)),
        #[allow(unreachable_patterns)] // every GPU feature on: nothing left to refuse
        other => Err(TrainError::Config(format!(
            "--device {0}: this meanet was built without the `{0}` cargo feature (cargo build -p meanet-cli --features {0})",
            other.name()
        ))),
    }
}

/// Makes one tensor on `device`: GPU backends panic when no adapter answers, and that becomes
/// an error naming the device.
#[allow(dead_code)] // used only when a GPU feature is on
fn probe(
    kind: TrainDevice,
    device: burn::tensor::Device,
) -> Result<burn::tensor::Device, TrainError> {
    let d = device.clone();
    let made = std::panic::catch_unwind(move || {
        burn::tensor::Tensor::<1>::zeros([1], &d).into_data();
    });
    match made {
        Ok(()) => Ok(device),
        Err(_) => Err(TrainError::Config(format!(
            "--device {}: no such device answered (is a GPU and its driver present?)",
            kind.name()
        ))),
    }
}

/// Everything that defines a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Seed for the split, shuffling, augmentation and initialisation.
    pub seed: u64,
    /// Fraction of the training set held out for validation.
    pub validation: f64,
    /// Fraction of classes that are hard (default 0.5: H = C / 2).
    pub hard_fraction: f64,
    /// The measure hard classes are the worst at.
    pub hard_by: HardBy,
    /// Network sizes.
    pub preset: Preset,
    /// Depth of the cloud ResNet: 6n + 2 for `resnet32` (default 110); 18, 34, 50, 101 or 152
    /// for `mobilenetv2` and `resnet18` (default 50); none for the other presets.
    #[serde(default)]
    pub cloud_depth: Option<usize>,
    /// Main block training.
    pub main: Hyper,
    /// Adaptive + extension training.
    pub extension: Hyper,
    /// Cloud model training.
    pub cloud: Hyper,
    /// Use only this many training samples (smoke tests).
    pub limit_train: Option<usize>,
    /// Use only this many test samples.
    pub limit_test: Option<usize>,
    /// Where training runs.
    #[serde(default)]
    pub device: TrainDevice,
}

impl Default for TrainConfig {
    fn default() -> Self {
        let h = |epochs, lr| Hyper {
            epochs,
            batch_size: 128,
            lr,
            weight_decay: 1e-4,
            augment: true,
        };
        TrainConfig {
            seed: 20211,
            validation: 0.1,
            hard_fraction: 0.5,
            hard_by: HardBy::Recall,
            preset: Preset::Small,
            cloud_depth: None,
            main: h(10, 3e-3),
            extension: h(10, 3e-3),
            cloud: h(10, 3e-3),
            limit_train: None,
            limit_test: None,
            device: TrainDevice::Flex,
        }
    }
}

impl TrainConfig {
    /// Checks the ranges, naming the setting at fault.
    pub fn validate(&self) -> Result<(), TrainError> {
        if !(self.validation > 0.0 && self.validation < 1.0) {
            return Err(TrainError::Config(format!(
                "validation = {} must be in (0, 1)",
                self.validation
            )));
        }
        if !(self.hard_fraction > 0.0 && self.hard_fraction < 1.0) {
            return Err(TrainError::Config(format!(
                "hard_fraction = {} must be in (0, 1)",
                self.hard_fraction
            )));
        }
        for (name, h) in [
            ("main", &self.main),
            ("extension", &self.extension),
            ("cloud", &self.cloud),
        ] {
            if h.batch_size == 0 {
                return Err(TrainError::Config(format!(
                    "{name}.batch_size must be at least 1"
                )));
            }
            if !(h.lr.is_finite() && h.lr > 0.0) {
                return Err(TrainError::Config(format!(
                    "{name}.lr = {} must be finite and > 0",
                    h.lr
                )));
            }
        }
        Ok(())
    }

    /// The number of hard classes H for `classes` classes: `round(C * hard_fraction)`, kept
    /// in `1..C`.
    pub fn hard_count(&self, classes: usize) -> usize {
        ((classes as f64 * self.hard_fraction).round() as usize).clamp(1, classes.max(2) - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Edit = fn(&mut TrainConfig);

    #[test]
    fn ranges_are_checked_by_name() {
        let table: [(Edit, &str); 4] = [
            (|c| c.validation = 1.0, "validation = 1"),
            (|c| c.hard_fraction = 0.0, "hard_fraction = 0"),
            (|c| c.cloud.batch_size = 0, "cloud.batch_size"),
            (|c| c.main.lr = f64::NAN, "main.lr = NaN"),
        ];
        TrainConfig::default().validate().unwrap();
        for (edit, want) in table {
            let mut c = TrainConfig::default();
            edit(&mut c);
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(want), "{e} should name {want}");
        }
    }

    #[test]
    fn hard_count_rounds_and_stays_a_proper_subset() {
        let c = TrainConfig {
            hard_fraction: 0.3,
            ..TrainConfig::default()
        };
        assert_eq!(c.hard_count(10), 3);
        assert_eq!(c.hard_count(100), 30);
        assert_eq!(c.hard_count(2), 1);
        let c = TrainConfig {
            hard_fraction: 0.99,
            ..TrainConfig::default()
        };
        assert_eq!(c.hard_count(10), 9);
    }

    #[test]
    fn a_gpu_device_not_compiled_in_is_a_clear_error() {
        burn_device(TrainDevice::Flex).unwrap();
        if !cfg!(feature = "wgpu") {
            let e = burn_device(TrainDevice::Wgpu).unwrap_err().to_string();
            assert!(e.contains("--features wgpu"), "{e}");
        }
        if !cfg!(feature = "cuda") {
            let e = burn_device(TrainDevice::Cuda).unwrap_err().to_string();
            assert!(e.contains("`cuda` cargo feature"), "{e}");
        }
    }
}
