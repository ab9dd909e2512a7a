//! What calibration aims at ([`Target`]), and choosing among the swept points: the Pareto
//! frontier and the point that meets a target best.

use super::{CalibrationError, CalibrationPoint, PointMetrics};
use crate::units::Joules;

/// What calibration should achieve. In settings files it is the string [`Target::parse`]
/// reads (`offload=0.2`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Target {
    /// Best accuracy with at most this fraction of samples offloaded.
    MaxOffload(f64),
    /// Best accuracy with at most this edge energy per sample.
    MaxEnergy(Joules),
    /// Least edge energy with at least this accuracy.
    MinAccuracy(f64),
}

impl Target {
    /// Parses `offload=0.2`, `energy=1.5e-5` (joules per sample) or `accuracy=0.9`.
    pub fn parse(s: &str) -> Result<Self, CalibrationError> {
        let bad = || CalibrationError::InvalidTarget(s.to_string());
        let (key, value) = s.split_once('=').ok_or_else(bad)?;
        let v: f64 = value.trim().parse().map_err(|_| bad())?;
        if !v.is_finite() || v < 0.0 {
            return Err(bad());
        }
        match key.trim() {
            "offload" if v <= 1.0 => Ok(Target::MaxOffload(v)),
            "energy" => Ok(Target::MaxEnergy(Joules(v))),
            "accuracy" if v <= 1.0 => Ok(Target::MinAccuracy(v)),
            _ => Err(bad()),
        }
    }
}

impl std::str::FromStr for Target {
    type Err = CalibrationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Target::parse(s)
    }
}

impl TryFrom<String> for Target {
    type Error = CalibrationError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Target::parse(&s)
    }
}

impl From<Target> for String {
    fn from(t: Target) -> String {
        t.to_string()
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::MaxOffload(v) => write!(f, "offload={v}"),
            Target::MaxEnergy(j) => write!(f, "energy={}", j.0),
            Target::MinAccuracy(a) => write!(f, "accuracy={a}"),
        }
    }
}

/// The points not dominated in (higher accuracy, lower edge energy, lower cloud share),
/// sorted by edge energy.
pub fn pareto_frontier(points: &[CalibrationPoint]) -> Vec<CalibrationPoint> {
    let dominates = |a: &PointMetrics, b: &PointMetrics| {
        a.accuracy >= b.accuracy
            && a.edge_energy.0 <= b.edge_energy.0
            && a.cloud_share <= b.cloud_share
            && (a.accuracy > b.accuracy
                || a.edge_energy.0 < b.edge_energy.0
                || a.cloud_share < b.cloud_share)
    };
    let mut front: Vec<CalibrationPoint> = Vec::new();
    for p in points {
        if points.iter().any(|q| dominates(&q.metrics, &p.metrics)) {
            continue;
        }
        if !front.iter().any(|f| f.metrics == p.metrics) {
            front.push(*p);
        }
    }
    front.sort_by(|a, b| a.metrics.edge_energy.0.total_cmp(&b.metrics.edge_energy.0));
    front
}

/// Whether `m` meets `target`.
pub(super) fn feasible(target: Target, m: &PointMetrics) -> bool {
    match target {
        Target::MaxOffload(f) => m.cloud_share <= f + 1e-12,
        Target::MaxEnergy(e) => m.edge_energy.0 <= e.0,
        Target::MinAccuracy(a) => m.accuracy >= a - 1e-12,
    }
}

/// How `a` compares with `b` for `target` (greater is better): accuracy first (least energy
/// first for an accuracy target), then lower energy, then lower cloud share.
pub(super) fn rank(target: Target, a: &PointMetrics, b: &PointMetrics) -> std::cmp::Ordering {
    let primary = match target {
        Target::MinAccuracy(_) => b.edge_energy.0.total_cmp(&a.edge_energy.0),
        _ => a.accuracy.total_cmp(&b.accuracy),
    };
    primary
        .then(b.edge_energy.0.total_cmp(&a.edge_energy.0))
        .then(b.cloud_share.total_cmp(&a.cloud_share))
}

/// Picks the best point for `target` (ties: lower energy, then lower cloud share).
pub fn pick(
    points: &[CalibrationPoint],
    target: Target,
) -> Result<CalibrationPoint, CalibrationError> {
    let feasible = |m: &PointMetrics| feasible(target, m);
    let better = |a: &PointMetrics, b: &PointMetrics| rank(target, a, b);
    points
        .iter()
        .filter(|p| feasible(&p.metrics))
        .max_by(|a, b| better(&a.metrics, &b.metrics))
        .copied()
        .ok_or_else(|| {
            let distance = |m: &PointMetrics| match target {
                Target::MaxOffload(f) => m.cloud_share - f,
                Target::MaxEnergy(e) => m.edge_energy.0 - e.0,
                Target::MinAccuracy(a) => a - m.accuracy,
            };
            let closest = points
                .iter()
                .min_by(|a, b| distance(&a.metrics).total_cmp(&distance(&b.metrics)))
                .map(|p| {
                    let m = p.metrics;
                    format!(
                        "accuracy {:.4}, edge energy {}, offload {:.3}",
                        m.accuracy, m.edge_energy, m.cloud_share
                    )
                })
                .unwrap_or_else(|| "none (no points)".to_string());
            CalibrationError::Infeasible {
                target: target.to_string(),
                closest,
            }
        })
}

/// A target the chosen point does not come near: what was asked, what was reached, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Shortfall {
    /// The target, as given (`offload=0.4`).
    pub target: String,
    /// The measure the target is on: `offload`, `energy` (joules per sample) or `accuracy`.
    pub measure: &'static str,
    /// The value the target asks for.
    pub wanted: f64,
    /// The chosen point's value of the same measure.
    pub reached: f64,
    /// The grid's step in that measure: the spread of the candidates over their number.
    pub step: f64,
    /// Why no point comes nearer, in words.
    pub why: String,
}

/// Whether the point `chosen` for `target` lies further from it than one step of the grid
/// (`steps` steps over the spread of `points`), and if so what to tell the user. A target
/// is a bound (at most this offload or energy, at least this accuracy): the best point under
/// it may stop short, because going further buys nothing on the validation split. Saying so
/// keeps a user from believing they got the share they asked for.
pub fn shortfall(
    target: Target,
    chosen: &PointMetrics,
    points: &[CalibrationPoint],
    steps: usize,
) -> Option<Shortfall> {
    let (measure, wanted, value): (&'static str, f64, fn(&PointMetrics) -> f64) = match target {
        Target::MaxOffload(f) => ("offload", f, |m| m.cloud_share),
        Target::MaxEnergy(e) => ("energy", e.0, |m| m.edge_energy.0),
        Target::MinAccuracy(a) => ("accuracy", a, |m| m.accuracy),
    };
    let (lo, hi) = points
        .iter()
        .map(|p| value(&p.metrics))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !(lo.is_finite() && hi.is_finite()) {
        return None;
    }
    let step = (hi - lo) / steps.max(1) as f64;
    let reached = value(chosen);
    if (reached - wanted).abs() <= step {
        return None;
    }
    let why = match target {
        Target::MaxOffload(_) | Target::MaxEnergy(_) => {
            // Points nearer the bound exist (or the bound is past every point); none of
            // them is more accurate than the one chosen.
            let nearest = points
                .iter()
                .map(|p| value(&p.metrics))
                .filter(|v| *v <= wanted)
                .fold(f64::NEG_INFINITY, f64::max);
            let more = if measure == "offload" {
                "offloading more"
            } else {
                "spending more edge energy"
            };
            if nearest > reached + step {
                format!(
                    "{more} does not raise validation accuracy: points up to {measure} {} exist within the target, none is more accurate than {:.4}, so the frontier ends at {measure} {}",
                    fmt(measure, nearest),
                    chosen.accuracy,
                    fmt(measure, reached)
                )
            } else {
                format!(
                    "no threshold reaches {measure} {}: the most any point reaches is {}",
                    fmt(measure, wanted),
                    fmt(measure, hi)
                )
            }
        }
        Target::MinAccuracy(_) if reached > wanted => format!(
            "no point with accuracy between {wanted:.4} and {reached:.4} exists: the least edge energy that reaches the target already gives {reached:.4}"
        ),
        Target::MinAccuracy(_) => {
            format!("no point reaches accuracy {wanted:.4}: the most accurate reaches {hi:.4}")
        }
    };
    Some(Shortfall {
        target: target.to_string(),
        measure,
        wanted,
        reached,
        step,
        why,
    })
}

fn fmt(measure: &str, v: f64) -> String {
    if measure == "energy" {
        format!("{}", Joules(v))
    } else {
        format!("{v:.3}")
    }
}
