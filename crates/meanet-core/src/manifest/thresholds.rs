//! `[thresholds]`: the calibrated thresholds as stored, global and per class.

use serde::{Deserialize, Serialize};

use super::ManifestError;
use crate::numerics::Measure;
use crate::partition::ClassPartition;
use crate::policy::{PerClassThresholds, RoutingThresholds, Thresholds};

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
