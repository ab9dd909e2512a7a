//! What defines a training run (saved as `work/config.json`).

use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::nets::Preset;
use crate::train::Hyper;

/// The per-class measure hard classes are the worst at (MEANET.md, step 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HardBy {
    /// The main block's recall per class on the validation split.
    Recall,
    /// Its precision per class.
    Precision,
}

impl HardBy {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            HardBy::Recall => "recall",
            HardBy::Precision => "precision",
        }
    }
}

impl std::str::FromStr for HardBy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "recall" => Ok(HardBy::Recall),
            "precision" => Ok(HardBy::Precision),
            other => Err(format!("hard_by {other:?} must be recall or precision")),
        }
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
    /// Depth of the cloud ResNet of the `resnet32` preset (6n + 2; default 110).
    pub cloud_depth: usize,
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
            cloud_depth: 110,
            main: h(10, 3e-3),
            extension: h(10, 3e-3),
            cloud: h(10, 3e-3),
            limit_train: None,
            limit_test: None,
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
        assert_eq!("precision".parse::<HardBy>(), Ok(HardBy::Precision));
        assert!("f1".parse::<HardBy>().is_err());
    }
}
