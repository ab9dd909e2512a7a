//! Exit policies: where each sample goes after the main block, and after the extension block.
//!
//! A policy is a pure, synchronous strategy (like quinn's congestion `Controller`): it sees the
//! scores of a block and the class partition and returns a route with the reason for it. The
//! [`Pipeline`](crate::Pipeline) carries the reason into every outcome for observability.

use crate::numerics::{Measure, Scores};
use crate::partition::ClassPartition;

/// Where a sample goes after the main block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// Answer with the main block's prediction.
    ExitMain,
    /// Run the adaptive and extension blocks on it.
    RunExtension,
    /// Send it to the cloud model.
    Offload,
}

/// Where a sample goes after the extension block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtensionRoute {
    /// Answer with the extension block's prediction.
    ExitExtension,
    /// Send it to the cloud model.
    Offload,
}

/// Why a policy routed a sample the way it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteReason {
    /// Predicted an easy class with uncertainty within `t_main` (or no `t_main`).
    EasyConfident,
    /// Predicted an easy class but uncertainty exceeded `t_main`.
    EasyUncertain,
    /// Predicted a hard class (or hard-class mass over its threshold); the extension runs.
    HardClass,
    /// Predicted a hard class, and main uncertainty exceeded `t_cloud_main`: straight to the cloud.
    MainTooUncertain,
    /// The extension's uncertainty was within `t_ext`.
    ExtensionConfident,
    /// The extension's uncertainty exceeded `t_ext`.
    ExtensionUncertain,
    /// Entropy exit without class awareness: uncertainty within the threshold.
    BelowThreshold,
    /// Entropy exit without class awareness: uncertainty above the threshold.
    AboveThreshold,
    /// The policy never leaves the edge.
    EdgeOnly,
    /// The policy always offloads.
    CloudOnly,
}

impl RouteReason {
    /// A stable snake_case name for logs and reports.
    pub fn name(self) -> &'static str {
        match self {
            RouteReason::EasyConfident => "easy_confident",
            RouteReason::EasyUncertain => "easy_uncertain",
            RouteReason::HardClass => "hard_class",
            RouteReason::MainTooUncertain => "main_too_uncertain",
            RouteReason::ExtensionConfident => "extension_confident",
            RouteReason::ExtensionUncertain => "extension_uncertain",
            RouteReason::BelowThreshold => "below_threshold",
            RouteReason::AboveThreshold => "above_threshold",
            RouteReason::EdgeOnly => "edge_only",
            RouteReason::CloudOnly => "cloud_only",
        }
    }
}

/// A routing strategy.
pub trait ExitPolicy: Send + Sync {
    /// A short stable name (`meanet`, `entropy_exit`, ...).
    fn name(&self) -> &'static str;

    /// Route after the main block. `scores.masked_mass` is the probability on hard classes.
    fn after_main(&self, scores: &Scores, partition: &ClassPartition) -> (Route, RouteReason);

    /// Route after the extension block (only called for samples routed to it).
    fn after_extension(&self, scores: &Scores) -> (ExtensionRoute, RouteReason);
}

/// Thresholds of the MEANet policy. `None` means "no check" (an infinite threshold).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// The measure all thresholds are expressed in.
    pub measure: Measure,
    /// Easy-class exit needs main uncertainty `<= main` (no check when `None`).
    pub main: Option<f64>,
    /// A hard-class sample with main uncertainty `> cloud_main` goes straight to the cloud.
    pub cloud_main: Option<f64>,
    /// The extension answers when its uncertainty is `<= extension`.
    pub extension: Option<f64>,
    /// An easy-class prediction whose probability mass on hard classes is `>= hard_mass` is
    /// treated as hard. `None` disables this check.
    pub hard_mass: Option<f64>,
}

impl Default for Thresholds {
    /// The paper's defaults: entropy, `t_cloud_main = t_ext = 0.8` nats, no `t_main`.
    fn default() -> Self {
        Thresholds {
            measure: Measure::Entropy,
            main: None,
            cloud_main: Some(0.8),
            extension: Some(0.8),
            hard_mass: None,
        }
    }
}

fn within(u: f64, t: Option<f64>) -> bool {
    t.is_none_or(|t| u <= t)
}

/// MEANet's complexity-aware policy, as `docs/method.md` describes it:
///
/// 1. Easy-class prediction (and hard mass below `hard_mass`): exit at the main block if its
///    uncertainty is within `t_main`; otherwise the sample is complex and is offloaded (the
///    extension only knows hard classes, so it cannot help an easy-class sample).
/// 2. Hard-class prediction: offload if main uncertainty exceeds `t_cloud_main`, else run the
///    extension.
/// 3. After the extension: exit if its uncertainty is within `t_ext`, else offload.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MeaNet {
    /// The thresholds.
    pub thresholds: Thresholds,
}

impl ExitPolicy for MeaNet {
    fn name(&self) -> &'static str {
        "meanet"
    }

    fn after_main(&self, scores: &Scores, partition: &ClassPartition) -> (Route, RouteReason) {
        let t = &self.thresholds;
        let u = scores.uncertainty(t.measure);
        let hard_by_mass = t.hard_mass.is_some_and(|m| scores.masked_mass >= m);
        if !partition.is_hard(scores.class) && !hard_by_mass {
            if within(u, t.main) {
                (Route::ExitMain, RouteReason::EasyConfident)
            } else {
                (Route::Offload, RouteReason::EasyUncertain)
            }
        } else if !within(u, t.cloud_main) {
            (Route::Offload, RouteReason::MainTooUncertain)
        } else {
            (Route::RunExtension, RouteReason::HardClass)
        }
    }

    fn after_extension(&self, scores: &Scores) -> (ExtensionRoute, RouteReason) {
        let t = &self.thresholds;
        if within(scores.uncertainty(t.measure), t.extension) {
            (
                ExtensionRoute::ExitExtension,
                RouteReason::ExtensionConfident,
            )
        } else {
            (ExtensionRoute::Offload, RouteReason::ExtensionUncertain)
        }
    }
}

impl Thresholds {
    /// Every uncertainty threshold multiplied by `scale` (`hard_mass`, a probability, stays):
    /// the one knob the [online controller](crate::online) turns.
    pub fn scaled(&self, scale: f64) -> Self {
        Thresholds {
            main: self.main.map(|t| t * scale),
            cloud_main: self.cloud_main.map(|t| t * scale),
            extension: self.extension.map(|t| t * scale),
            ..*self
        }
    }
}

/// Thresholds of [`MeaNetPerClass`]; `None` is "no check".
#[derive(Debug, Clone, PartialEq)]
pub struct PerClassThresholds {
    /// The measure all thresholds are expressed in.
    pub measure: Measure,
    /// One per class the main block can predict (C): for an easy class, its exit threshold
    /// (`t_main`); for a hard class, its `t_cloud_main`.
    pub main: Vec<Option<f64>>,
    /// One per hard label (H): `t_ext` for the class the extension predicts.
    pub extension: Vec<Option<f64>>,
}

impl PerClassThresholds {
    /// The global thresholds spread over every class (`hard_mass` is not used per class).
    pub fn from_global(t: &Thresholds, partition: &ClassPartition) -> Self {
        PerClassThresholds {
            measure: t.measure,
            main: (0..partition.classes())
                .map(|c| {
                    if partition.is_hard(c) {
                        t.cloud_main
                    } else {
                        t.main
                    }
                })
                .collect(),
            extension: vec![t.extension; partition.num_hard()],
        }
    }

    /// Checks one threshold per class and per hard class, each finite and `>= 0`; the error
    /// names the entry at fault.
    pub fn validate(&self, partition: &ClassPartition) -> Result<(), String> {
        for (name, list, want) in [
            ("main", &self.main, partition.classes()),
            ("extension", &self.extension, partition.num_hard()),
        ] {
            if list.len() != want {
                return Err(format!(
                    "per_class.{name} has {} thresholds, the bundle needs {want} (one per {})",
                    list.len(),
                    if name == "main" {
                        "class"
                    } else {
                        "hard class"
                    }
                ));
            }
            if let Some(i) = list
                .iter()
                .position(|t| t.is_some_and(|t| !t.is_finite() || t < 0.0))
            {
                return Err(format!(
                    "per_class.{name}[{i}] must be >= 0 (or inf: no check)"
                ));
            }
        }
        Ok(())
    }

    /// Every threshold multiplied by `scale`.
    pub fn scaled(&self, scale: f64) -> Self {
        let s = |v: &Vec<Option<f64>>| v.iter().map(|t| t.map(|t| t * scale)).collect();
        PerClassThresholds {
            measure: self.measure,
            main: s(&self.main),
            extension: s(&self.extension),
        }
    }
}

/// MEANet with one main threshold per predicted class and one extension threshold per hard
/// class: the routes of [`MeaNet`], each threshold read for the class at hand.
///
/// A class without an entry (never the case for validated thresholds) gets no check.
#[derive(Debug, Clone, PartialEq)]
pub struct MeaNetPerClass {
    /// The thresholds.
    pub thresholds: PerClassThresholds,
}

impl ExitPolicy for MeaNetPerClass {
    fn name(&self) -> &'static str {
        "meanet_per_class"
    }

    fn after_main(&self, scores: &Scores, partition: &ClassPartition) -> (Route, RouteReason) {
        let t = &self.thresholds;
        let u = scores.uncertainty(t.measure);
        let limit = t.main.get(scores.class).copied().flatten();
        if !partition.is_hard(scores.class) {
            if within(u, limit) {
                (Route::ExitMain, RouteReason::EasyConfident)
            } else {
                (Route::Offload, RouteReason::EasyUncertain)
            }
        } else if !within(u, limit) {
            (Route::Offload, RouteReason::MainTooUncertain)
        } else {
            (Route::RunExtension, RouteReason::HardClass)
        }
    }

    fn after_extension(&self, scores: &Scores) -> (ExtensionRoute, RouteReason) {
        let t = &self.thresholds;
        let limit = t.extension.get(scores.class).copied().flatten();
        if within(scores.uncertainty(t.measure), limit) {
            (
                ExtensionRoute::ExitExtension,
                RouteReason::ExtensionConfident,
            )
        } else {
            (ExtensionRoute::Offload, RouteReason::ExtensionUncertain)
        }
    }
}

/// A deployment's calibrated MEANet thresholds: one set for every class, or one per class.
#[derive(Debug, Clone, PartialEq)]
pub enum RoutingThresholds {
    /// [`MeaNet`].
    Global(Thresholds),
    /// [`MeaNetPerClass`].
    PerClass(PerClassThresholds),
}

impl RoutingThresholds {
    /// The measure the thresholds are in.
    pub fn measure(&self) -> Measure {
        match self {
            RoutingThresholds::Global(t) => t.measure,
            RoutingThresholds::PerClass(t) => t.measure,
        }
    }

    /// Every uncertainty threshold multiplied by `scale`.
    pub fn scaled(&self, scale: f64) -> Self {
        match self {
            RoutingThresholds::Global(t) => RoutingThresholds::Global(t.scaled(scale)),
            RoutingThresholds::PerClass(t) => RoutingThresholds::PerClass(t.scaled(scale)),
        }
    }

    /// The policy these thresholds define (named `meanet` either way: it is the deployment's
    /// MEANet).
    pub fn policy(&self) -> Box<dyn ExitPolicy> {
        match self {
            RoutingThresholds::Global(t) => Box::new(MeaNet { thresholds: *t }),
            RoutingThresholds::PerClass(t) => Box::new(Named {
                name: "meanet",
                inner: MeaNetPerClass {
                    thresholds: t.clone(),
                },
            }),
        }
    }

    /// The smallest scale of these thresholds at which a sample with these scores is *not*
    /// offloaded: it is offloaded at scale `s` exactly when `critical > s`. `extension` is the
    /// extension's scores where it ran; where it did not, its check cannot be known and the
    /// value is a lower bound. `0` means never offloaded, infinity always.
    pub fn critical(
        &self,
        main: &Scores,
        extension: Option<&Scores>,
        partition: &ClassPartition,
    ) -> f64 {
        let measure = self.measure();
        let u = main.uncertainty(measure);
        let (hard, at_main) = match self {
            RoutingThresholds::Global(t) => {
                let hard = partition.is_hard(main.class)
                    || t.hard_mass.is_some_and(|h| main.masked_mass >= h);
                (hard, ratio(u, if hard { t.cloud_main } else { t.main }))
            }
            RoutingThresholds::PerClass(t) => (
                partition.is_hard(main.class),
                ratio(u, t.main.get(main.class).copied().flatten()),
            ),
        };
        let at_extension = |x: &Scores| {
            let t = match self {
                RoutingThresholds::Global(t) => t.extension,
                RoutingThresholds::PerClass(t) => t.extension.get(x.class).copied().flatten(),
            };
            ratio(x.uncertainty(measure), t)
        };
        match extension {
            Some(x) if hard => at_main.max(at_extension(x)),
            _ => at_main,
        }
    }
}

/// `u / t`: the scale of `t` that `u` needs to pass; 0 with no check.
fn ratio(u: f64, t: Option<f64>) -> f64 {
    match t {
        None => 0.0,
        Some(t) if t > 0.0 => u / t,
        Some(_) if u > 0.0 => f64::INFINITY,
        Some(_) => 0.0,
    }
}

mod baselines;
pub use baselines::{BranchyNet, CloudOnly, EdgeOnly, MainExtension, Named};

#[cfg(test)]
mod tests;
