//! Per-class thresholds for a target: a Lagrangian on the budget, coordinate ascent per class.
//!
//! For a price `lambda` on what the target limits (an offloaded sample, or edge energy), every
//! threshold is chosen to maximise `correct answers - lambda * cost` over the validation
//! samples it decides, one threshold at a time, the others held, until none moves. A main
//! threshold decides only the samples predicted as its class; an extension threshold only
//! those the extension sees and labels with its hard class, so each step is exact and cheap.
//! Scanning `lambda` (then bisecting where the target's limit is crossed) traces the trade-off;
//! the best point for the target is kept. The spread global thresholds the scan starts from
//! are candidates too, so validation never gets worse than with them.

use super::{
    CalibrationCache, CalibrationError, CalibrationPoint, Calibrator, PointMetrics, Target,
    feasible, quantile_candidates, rank,
};
use crate::policy::{MeaNetPerClass, PerClassThresholds, Thresholds};

/// What [`Calibrator::search_per_class`] found.
#[derive(Debug, Clone)]
pub struct PerClassSearch {
    /// The chosen thresholds.
    pub chosen: PerClassThresholds,
    /// Their validation metrics.
    pub metrics: PointMetrics,
    /// The global thresholds it started from, spread per class, and their metrics.
    pub start: (PerClassThresholds, PointMetrics),
    /// Prices (`lambda`) tried.
    pub prices: usize,
    /// Every point reached, one per price: `(lambda, metrics)`.
    pub trace: Vec<(f64, PointMetrics)>,
}

/// One validation sample, reduced to what routing it needs.
struct Sample {
    class: usize,
    hard: bool,
    u: f64,
    hard_label: usize,
    v: f64,
    /// Correct at: main exit, extension exit, cloud.
    correct: [bool; 3],
}

impl Calibrator {
    /// Chooses per-class thresholds for `target` on `cache`, starting from `start` (the global
    /// thresholds calibration chose; `hard_mass` is not used per class), with `steps` quantile
    /// candidates per threshold. A threshold moves only when that gains at least `min_gain`
    /// in the objective (in validation samples answered right, less the priced cost): with
    /// ten thresholds and more, each fitted on a few hundred samples, smaller gains are mostly
    /// noise that does not carry to new samples.
    pub fn search_per_class(
        &self,
        cache: &CalibrationCache,
        start: &Thresholds,
        steps: usize,
        min_gain: f64,
        target: Target,
    ) -> Result<PerClassSearch, CalibrationError> {
        let min_gain = if min_gain.is_finite() {
            min_gain.max(1e-9)
        } else {
            1e-9
        };
        let p = &cache.partition;
        let measure = start.measure;
        let samples: Vec<Sample> = (0..cache.len())
            .map(|i| {
                let (m, x, label) = (&cache.main[i], &cache.extension[i], cache.labels[i]);
                Sample {
                    class: m.class,
                    hard: p.is_hard(m.class),
                    u: m.uncertainty(measure),
                    hard_label: x.class,
                    v: x.uncertainty(measure),
                    correct: [
                        m.class == label,
                        p.from_hard(x.class).unwrap_or(m.class) == label,
                        cache.cloud[i] == label,
                    ],
                }
            })
            .collect();
        let (c, h) = (p.classes(), p.num_hard());
        // The samples each threshold decides, grouped once: a main threshold those predicted
        // as its class, an extension threshold the hard ones the extension labels with its
        // class. Each step then reads its own samples, not all of them (1,000 classes).
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); c];
        let mut by_hard: Vec<Vec<usize>> = vec![Vec::new(); h];
        for (i, s) in samples.iter().enumerate() {
            if let Some(g) = by_class.get_mut(s.class) {
                g.push(i);
            }
            if s.hard
                && let Some(g) = by_hard.get_mut(s.hard_label)
            {
                g.push(i);
            }
        }
        let main_candidates: Vec<Vec<Option<f64>>> = by_class
            .iter()
            .map(|g| quantile_candidates(g.iter().map(|&i| samples[i].u).collect(), steps))
            .collect();
        let ext_candidates: Vec<Vec<Option<f64>>> = by_hard
            .iter()
            .map(|g| quantile_candidates(g.iter().map(|&i| samples[i].v).collect(), steps))
            .collect();
        // What one sample costs on each route (0 main, 1 extension, 2 offload after main,
        // 3 after the extension), in the unit the target limits, scaled to at most 1.
        let cost: [f64; 4] = match target {
            Target::MaxOffload(_) => [0.0, 0.0, 1.0, 1.0],
            Target::MaxEnergy(_) | Target::MinAccuracy(_) => {
                let top = self.edge.iter().map(|j| j.0).fold(0.0, f64::max);
                self.edge.map(|j| if top > 0.0 { j.0 / top } else { 0.0 })
            }
        };
        let spread = PerClassThresholds::from_global(start, p);
        let evaluate = |t: &PerClassThresholds| {
            self.evaluate(
                cache,
                &MeaNetPerClass {
                    thresholds: t.clone(),
                },
            )
        };
        let start_point = (spread.clone(), evaluate(&spread));
        let ascend = |lambda: f64| {
            let mut t = spread.clone();
            let value =
                |route: usize, correct: bool| f64::from(u8::from(correct)) - lambda * cost[route];
            for _ in 0..12 {
                let mut moved = false;
                for (k, candidates) in main_candidates.iter().enumerate() {
                    // The value of each sample of class k if kept at the edge, and if offloaded.
                    let decided: Vec<(f64, f64, f64)> = by_class[k]
                        .iter()
                        .map(|&i| &samples[i])
                        .map(|s| {
                            let kept = if !s.hard {
                                value(0, s.correct[0])
                            } else if within(s.v, t.extension.get(s.hard_label).copied().flatten())
                            {
                                value(1, s.correct[1])
                            } else {
                                value(3, s.correct[2])
                            };
                            (s.u, kept, value(2, s.correct[2]))
                        })
                        .collect();
                    let total = |limit: Option<f64>| -> f64 {
                        decided
                            .iter()
                            .map(|&(u, kept, off)| if within(u, limit) { kept } else { off })
                            .sum()
                    };
                    moved |= best_of(candidates, &mut t.main[k], min_gain, total);
                }
                for (k, candidates) in ext_candidates.iter().enumerate() {
                    let decided: Vec<(f64, f64, f64)> = by_hard[k]
                        .iter()
                        .map(|&i| &samples[i])
                        .filter(|s| within(s.u, t.main.get(s.class).copied().flatten()))
                        .map(|s| (s.v, value(1, s.correct[1]), value(3, s.correct[2])))
                        .collect();
                    let total = |limit: Option<f64>| -> f64 {
                        decided
                            .iter()
                            .map(|&(v, kept, off)| if within(v, limit) { kept } else { off })
                            .sum()
                    };
                    moved |= best_of(candidates, &mut t.extension[k], min_gain, total);
                }
                if !moved {
                    break;
                }
            }
            let m = evaluate(&t);
            (t, m)
        };
        // A scan of prices from free to dear, then bisection where the target's limit is crossed.
        let mut prices: Vec<f64> = vec![0.0];
        prices.extend((0..48).map(|k| 1e-3 * 1.2f64.powi(k)));
        let mut tried: Vec<(f64, PerClassThresholds, PointMetrics)> = prices
            .iter()
            .map(|&l| {
                let (t, m) = ascend(l);
                (l, t, m)
            })
            .collect();
        if let Some(k) = (1..tried.len())
            .find(|&k| feasible(target, &tried[k - 1].2) != feasible(target, &tried[k].2))
        {
            let (mut lo, mut hi) = (tried[k - 1].0, tried[k].0);
            let lo_feasible = feasible(target, &tried[k - 1].2);
            for _ in 0..14 {
                let mid = 0.5 * (lo + hi);
                let (t, m) = ascend(mid);
                if feasible(target, &m) == lo_feasible {
                    lo = mid;
                } else {
                    hi = mid;
                }
                tried.push((mid, t, m));
            }
        }
        let trace: Vec<(f64, PointMetrics)> = tried.iter().map(|(l, _, m)| (*l, *m)).collect();
        let best = tried
            .into_iter()
            .map(|(_, t, m)| (t, m))
            .chain(std::iter::once(start_point.clone()))
            .filter(|(_, m)| feasible(target, m))
            .max_by(|a, b| rank(target, &a.1, &b.1));
        let Some((chosen, metrics)) = best else {
            // Nothing meets the target: report the closest as the global search does.
            let points: Vec<CalibrationPoint> = trace
                .iter()
                .map(|(_, m)| CalibrationPoint {
                    thresholds: *start,
                    metrics: *m,
                })
                .collect();
            return Err(super::pick(&points, target)
                .err()
                .unwrap_or(CalibrationError::Empty));
        };
        Ok(PerClassSearch {
            chosen,
            metrics,
            start: start_point,
            prices: trace.len(),
            trace,
        })
    }
}

fn within(u: f64, t: Option<f64>) -> bool {
    t.is_none_or(|t| u <= t)
}

/// Moves `slot` to the candidate with the highest `total`, only if it beats where it is by at
/// least `min_gain`; returns whether it moved.
fn best_of(
    candidates: &[Option<f64>],
    slot: &mut Option<f64>,
    min_gain: f64,
    total: impl Fn(Option<f64>) -> f64,
) -> bool {
    let here = total(*slot);
    let mut best = (here, *slot);
    for &cand in candidates {
        let v = total(cand);
        if v > best.0 + 1e-9 && v >= here + min_gain {
            best = (v, cand);
        }
    }
    let moved = best.1 != *slot;
    *slot = best.1;
    moved
}
