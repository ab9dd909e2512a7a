//! Threshold calibration over cached logits.
//!
//! Run the three networks once over the validation split, keep their logits in a
//! [`CalibrationCache`], then sweep thresholds here: every point is evaluated with the very
//! policy code the pipeline uses, so what calibration promises is what routing does.

use ndarray::ArrayView2;

use crate::numerics::{Measure, NumericError, Scores};
use crate::partition::ClassPartition;
use crate::pipeline::BlockCosts;
use crate::policy::{BranchyNet, ExitPolicy, ExtensionRoute, MeaNet, Route, Thresholds};
use crate::ports::{EnergyModel, SampleCost};
use crate::units::{Bytes, Joules};

mod grid;
mod per_class;
mod target;
pub use grid::Grid;
use grid::quantile_candidates;
pub use per_class::PerClassSearch;
pub use target::{Shortfall, Target, pareto_frontier, pick, shortfall};
use target::{feasible, rank};

/// Why calibration failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CalibrationError {
    /// The cached arrays did not agree in sample count or class count.
    #[error("calibration cache mismatch: {0}")]
    Shape(String),
    /// A label was not below the class count.
    #[error("label {label} of sample {sample} is out of range for {classes} classes")]
    Label {
        /// Sample index.
        sample: usize,
        /// The label.
        label: usize,
        /// The class count.
        classes: usize,
    },
    /// Some logits were NaN or infinite.
    #[error("{block} logits of sample {sample} are unusable")]
    Logits {
        /// `main`, `extension` or `cloud`.
        block: &'static str,
        /// Sample index.
        sample: usize,
        /// What was wrong.
        #[source]
        source: NumericError,
    },
    /// No sample to calibrate on.
    #[error("no validation samples")]
    Empty,
    /// No swept point meets the target.
    #[error("no thresholds meet the target {target}; closest point: {closest}")]
    Infeasible {
        /// The target, as written.
        target: String,
        /// The point closest to it.
        closest: String,
    },
    /// A target string could not be parsed.
    #[error("invalid target {0:?}: expected offload=F, energy=JOULES or accuracy=F")]
    InvalidTarget(String),
}

/// Per-sample scores of the three networks over a validation split.
#[derive(Debug, Clone)]
pub struct CalibrationCache {
    labels: Vec<usize>,
    main: Vec<Scores>,
    extension: Vec<Scores>,
    cloud: Vec<usize>,
    partition: ClassPartition,
}

impl CalibrationCache {
    /// Builds the cache from logits of every validation sample: main `(N, C)`, extension
    /// `(N, H)` (run on every sample), cloud `(N, C)`, and the labels.
    pub fn try_new(
        main: ArrayView2<'_, f32>,
        extension: ArrayView2<'_, f32>,
        cloud: ArrayView2<'_, f32>,
        labels: &[usize],
        partition: ClassPartition,
    ) -> Result<Self, CalibrationError> {
        let n = labels.len();
        let (c, h) = (partition.classes(), partition.num_hard());
        if n == 0 {
            return Err(CalibrationError::Empty);
        }
        for (name, a, cols) in [
            ("main", &main, c),
            ("extension", &extension, h),
            ("cloud", &cloud, c),
        ] {
            if a.shape() != [n, cols] {
                return Err(CalibrationError::Shape(format!(
                    "{name} logits have shape {:?}, expected [{n}, {cols}]",
                    a.shape()
                )));
            }
        }
        if let Some((sample, &label)) = labels.iter().enumerate().find(|(_, l)| **l >= c) {
            return Err(CalibrationError::Label {
                sample,
                label,
                classes: c,
            });
        }
        let mask = partition.hard_mask();
        let score = |block: &'static str, a: &ArrayView2<'_, f32>, mask: &[bool]| {
            a.outer_iter()
                .enumerate()
                .map(|(sample, row)| {
                    Scores::from_logits_masked(&row.to_vec(), mask).map_err(|source| {
                        CalibrationError::Logits {
                            block,
                            sample,
                            source,
                        }
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(CalibrationCache {
            labels: labels.to_vec(),
            main: score("main", &main, &mask)?,
            extension: score("extension", &extension, &[])?,
            cloud: score("cloud", &cloud, &[])?
                .iter()
                .map(|s| s.class)
                .collect(),
            partition,
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the cache is empty (never true for a built cache).
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The partition the extension logits are expressed in.
    pub fn partition(&self) -> &ClassPartition {
        &self.partition
    }

    /// Main-block uncertainties of all samples under `measure`, for histograms and grids.
    pub fn main_uncertainties(&self, measure: Measure) -> Vec<f64> {
        self.main.iter().map(|s| s.uncertainty(measure)).collect()
    }

    /// Extension uncertainties of all samples under `measure`.
    pub fn extension_uncertainties(&self, measure: Measure) -> Vec<f64> {
        self.extension
            .iter()
            .map(|s| s.uncertainty(measure))
            .collect()
    }
}

/// Accuracy, energy and exit shares of one policy over the cache.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointMetrics {
    /// Overall accuracy.
    pub accuracy: f64,
    /// Mean edge energy per sample (compute, memory, radio).
    pub edge_energy: Joules,
    /// Mean cloud energy per sample.
    pub cloud_energy: Joules,
    /// Fraction of samples offloaded.
    pub cloud_share: f64,
    /// Fraction of samples answered by the extension.
    pub extension_share: f64,
}

/// One swept threshold setting and what it achieves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrationPoint {
    /// The MEANet thresholds.
    pub thresholds: Thresholds,
    /// What they achieve on the validation cache.
    pub metrics: PointMetrics,
}

/// Evaluates policies over a cache with per-route energies priced once.
#[derive(Debug, Clone, Copy)]
pub struct Calibrator {
    /// Edge energy per sample for: main exit, extension exit, offload after main, after ext.
    edge: [Joules; 4],
    cloud: Joules,
}

impl Calibrator {
    /// Prices the four route shapes with `energy`, given the block costs and the bytes one
    /// offloaded sample sends and receives.
    pub fn new(
        costs: BlockCosts,
        bytes_per_offload: (Bytes, Bytes),
        energy: &dyn EnergyModel,
    ) -> Self {
        let main = SampleCost {
            main: Some(costs.main),
            ..SampleCost::default()
        };
        let ext = SampleCost {
            extension: Some(costs.extension),
            ..main
        };
        let offload = |c: SampleCost| SampleCost {
            cloud: Some(costs.cloud),
            bytes_sent: bytes_per_offload.0,
            bytes_received: bytes_per_offload.1,
            ..c
        };
        let edge = [main, ext, offload(main), offload(ext)].map(|c| energy.price(&c).edge());
        Calibrator {
            edge,
            cloud: energy.price(&offload(main)).cloud,
        }
    }

    /// Evaluates one policy over the cache, exactly as the pipeline would route.
    pub fn evaluate(&self, cache: &CalibrationCache, policy: &dyn ExitPolicy) -> PointMetrics {
        let (mut correct, mut offloaded, mut extension) = (0usize, 0usize, 0usize);
        let mut energy = 0.0;
        for i in 0..cache.len() {
            let (class, route) = route_one(cache, i, policy);
            correct += usize::from(class == cache.labels[i]);
            offloaded += usize::from(route >= 2);
            extension += usize::from(route == 1);
            energy += self.edge[route].0;
        }
        let n = cache.len() as f64;
        PointMetrics {
            accuracy: correct as f64 / n,
            edge_energy: Joules(energy / n),
            cloud_energy: Joules(self.cloud.0 * offloaded as f64 / n),
            cloud_share: offloaded as f64 / n,
            extension_share: extension as f64 / n,
        }
    }

    /// Sweeps MEANet over every point of `grid`; the other fields of `base` stay fixed.
    pub fn sweep(
        &self,
        cache: &CalibrationCache,
        base: Thresholds,
        grid: &Grid,
    ) -> Vec<CalibrationPoint> {
        let mut points = Vec::with_capacity(grid.len());
        for &main in &grid.main {
            for &cloud_main in &grid.cloud_main {
                for &extension in &grid.extension {
                    let thresholds = Thresholds {
                        main,
                        cloud_main,
                        extension,
                        ..base
                    };
                    let metrics = self.evaluate(cache, &MeaNet { thresholds });
                    points.push(CalibrationPoint {
                        thresholds,
                        metrics,
                    });
                }
            }
        }
        points
    }

    /// Searches every threshold of `grid` together for `target`, fast: it starts from the best
    /// point of the `t_main` x `t_ext` grid (`t_cloud_main` and `hard_mass` unchecked: the
    /// paper's two-threshold sweep, [`Grid::quantiles`]), then moves one
    /// threshold at a time to its best candidate, the others held (coordinate descent), until
    /// a round changes nothing or `max_rounds` have run. Each move keeps the best point for
    /// `target` among the current one and the candidates, so the result is never worse than
    /// the two-threshold grid's. Returns the chosen point and every point evaluated.
    pub fn search(
        &self,
        cache: &CalibrationCache,
        base: Thresholds,
        grid: &Grid,
        target: Target,
        max_rounds: usize,
    ) -> Result<Search, CalibrationError> {
        let two = Grid {
            cloud_main: vec![None],
            hard_mass: vec![None],
            ..grid.clone()
        };
        let base = Thresholds {
            hard_mass: None,
            ..base
        };
        let mut points = self.sweep(cache, base, &two);
        let two_threshold = pick(&points, target)?;
        let mut best = two_threshold;
        let mut rounds = 0;
        for _ in 0..max_rounds {
            rounds += 1;
            let start = best.thresholds;
            for axis in 0..4 {
                let candidates: &[Option<f64>] = match axis {
                    0 => &grid.cloud_main,
                    1 => &grid.main,
                    2 => &grid.extension,
                    _ => &grid.hard_mass,
                };
                let mut tried = vec![best];
                for &value in candidates {
                    let mut t = best.thresholds;
                    match axis {
                        0 => t.cloud_main = value,
                        1 => t.main = value,
                        2 => t.extension = value,
                        _ => t.hard_mass = value,
                    }
                    if t == best.thresholds {
                        continue;
                    }
                    let p = CalibrationPoint {
                        thresholds: t,
                        metrics: self.evaluate(cache, &MeaNet { thresholds: t }),
                    };
                    points.push(p);
                    tried.push(p);
                }
                // Move only to a strictly better point: ties keep the current one, so the
                // descent ends instead of wandering along a plateau.
                if let Ok(candidate) = pick(&tried, target)
                    && rank(target, &candidate.metrics, &best.metrics).is_gt()
                {
                    best = candidate;
                }
            }
            if best.thresholds == start {
                break;
            }
        }
        Ok(Search {
            chosen: best,
            two_threshold,
            points,
            rounds,
        })
    }

    /// Sweeps the class-agnostic entropy exit over `values`.
    pub fn sweep_entropy_exit(
        &self,
        cache: &CalibrationCache,
        measure: Measure,
        values: &[f64],
    ) -> Vec<(f64, PointMetrics)> {
        values
            .iter()
            .map(|&threshold| {
                (
                    threshold,
                    self.evaluate(cache, &BranchyNet { measure, threshold }),
                )
            })
            .collect()
    }
}

/// What [`Calibrator::search`] found.
#[derive(Debug, Clone)]
pub struct Search {
    /// The point chosen for the target.
    pub chosen: CalibrationPoint,
    /// The two-threshold grid's pick it started from.
    pub two_threshold: CalibrationPoint,
    /// Every point evaluated (the two-threshold grid first).
    pub points: Vec<CalibrationPoint>,
    /// Rounds of coordinate descent run.
    pub rounds: usize,
}

/// The answer and route index (0 main, 1 ext, 2 offload after main, 3 after ext) of sample i.
fn route_one(cache: &CalibrationCache, i: usize, policy: &dyn ExitPolicy) -> (usize, usize) {
    let main = &cache.main[i];
    match policy.after_main(main, &cache.partition).0 {
        Route::ExitMain => (main.class, 0),
        Route::Offload => (cache.cloud[i], 2),
        Route::RunExtension => {
            let ext = &cache.extension[i];
            match policy.after_extension(ext).0 {
                ExtensionRoute::ExitExtension => (
                    cache.partition.from_hard(ext.class).unwrap_or(main.class),
                    1,
                ),
                ExtensionRoute::Offload => (cache.cloud[i], 3),
            }
        }
    }
}

#[cfg(test)]
mod tests;
