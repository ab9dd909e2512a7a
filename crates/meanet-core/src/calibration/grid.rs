//! The candidate thresholds a calibration sweeps: quantiles of the cached uncertainties.

use super::CalibrationCache;
use crate::numerics::Measure;

/// The candidate values of each threshold; `None` is "no check".
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Candidates for `t_main`.
    pub main: Vec<Option<f64>>,
    /// Candidates for `t_cloud_main`.
    pub cloud_main: Vec<Option<f64>>,
    /// Candidates for `t_ext`.
    pub extension: Vec<Option<f64>>,
    /// Candidates for `hard_mass` (only [`Calibrator::search`](super::Calibrator::search) reads them; `[None]`: the check
    /// stays off).
    pub hard_mass: Vec<Option<f64>>,
}

impl Grid {
    /// `steps` quantiles of the observed main and extension uncertainties (plus "no check")
    /// for `t_main` and `t_ext`; `t_cloud_main` left unchecked: the paper's two-threshold
    /// sweep.
    pub fn quantiles(cache: &CalibrationCache, measure: Measure, steps: usize) -> Self {
        Grid {
            main: quantile_candidates(cache.main_uncertainties(measure), steps),
            cloud_main: vec![None],
            extension: quantile_candidates(cache.extension_uncertainties(measure), steps),
            hard_mass: vec![None],
        }
    }

    /// Candidates for every threshold: `steps` quantiles of the main uncertainties for `t_main`
    /// and `t_cloud_main` (the latter over hard-class predictions), of the extension
    /// uncertainties for `t_ext`, and with `hard_mass`, of the hard-class probability mass of
    /// easy-class predictions; each with "no check".
    pub fn all(cache: &CalibrationCache, measure: Measure, steps: usize, hard_mass: bool) -> Self {
        let p = &cache.partition;
        let hard_main: Vec<f64> = cache
            .main
            .iter()
            .filter(|s| p.is_hard(s.class))
            .map(|s| s.uncertainty(measure))
            .collect();
        let masses: Vec<f64> = cache
            .main
            .iter()
            .filter(|s| !p.is_hard(s.class))
            .map(|s| s.masked_mass)
            .collect();
        Grid {
            main: quantile_candidates(cache.main_uncertainties(measure), steps),
            cloud_main: quantile_candidates(hard_main, steps),
            extension: quantile_candidates(cache.extension_uncertainties(measure), steps),
            hard_mass: if hard_mass {
                // Mass 0 would send every sample to the extension: start above it.
                quantile_candidates(masses, steps)
                    .into_iter()
                    .filter(|m| m.is_none_or(|m| m > 0.0))
                    .collect()
            } else {
                vec![None]
            },
        }
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.main.len() * self.cloud_main.len() * self.extension.len()
    }

    /// Whether the grid has no point.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub(super) fn quantile_candidates(mut values: Vec<f64>, steps: usize) -> Vec<Option<f64>> {
    values.sort_by(f64::total_cmp);
    let mut out = vec![Some(0.0)];
    if let Some(&last) = values.last() {
        let steps = steps.max(2);
        for k in 1..steps.saturating_sub(1) {
            let idx = k * (values.len() - 1) / (steps - 1);
            out.push(Some(values[idx]));
        }
        out.push(Some(last));
    }
    out.push(None);
    out.dedup();
    out
}
