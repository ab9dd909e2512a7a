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

/// MEANet's complexity-aware policy, exactly as in `MEANET.md`:
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

/// BranchyNet-style entropy early exit without class awareness: main if confident, else cloud.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BranchyNet {
    /// The measure of `threshold`.
    pub measure: Measure,
    /// Exit at the main block when uncertainty `<= threshold`.
    pub threshold: f64,
}

impl ExitPolicy for BranchyNet {
    fn name(&self) -> &'static str {
        "entropy_exit"
    }

    fn after_main(&self, scores: &Scores, _: &ClassPartition) -> (Route, RouteReason) {
        if scores.uncertainty(self.measure) <= self.threshold {
            (Route::ExitMain, RouteReason::BelowThreshold)
        } else {
            (Route::Offload, RouteReason::AboveThreshold)
        }
    }

    fn after_extension(&self, _: &Scores) -> (ExtensionRoute, RouteReason) {
        // Never routes to the extension; answer there if a caller does anyway.
        (ExtensionRoute::ExitExtension, RouteReason::EdgeOnly)
    }
}

/// Main block only: every sample exits at the main block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EdgeOnly;

impl ExitPolicy for EdgeOnly {
    fn name(&self) -> &'static str {
        "main_only"
    }
    fn after_main(&self, _: &Scores, _: &ClassPartition) -> (Route, RouteReason) {
        (Route::ExitMain, RouteReason::EdgeOnly)
    }
    fn after_extension(&self, _: &Scores) -> (ExtensionRoute, RouteReason) {
        (ExtensionRoute::ExitExtension, RouteReason::EdgeOnly)
    }
}

/// Cloud only: every sample is offloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CloudOnly;

impl ExitPolicy for CloudOnly {
    fn name(&self) -> &'static str {
        "cloud_only"
    }
    fn after_main(&self, _: &Scores, _: &ClassPartition) -> (Route, RouteReason) {
        (Route::Offload, RouteReason::CloudOnly)
    }
    fn after_extension(&self, _: &Scores) -> (ExtensionRoute, RouteReason) {
        (ExtensionRoute::Offload, RouteReason::CloudOnly)
    }
}

/// Main + extension without a cloud: hard-class predictions always answer at the extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MainExtension;

impl ExitPolicy for MainExtension {
    fn name(&self) -> &'static str {
        "main_extension"
    }
    fn after_main(&self, scores: &Scores, partition: &ClassPartition) -> (Route, RouteReason) {
        if partition.is_hard(scores.class) {
            (Route::RunExtension, RouteReason::HardClass)
        } else {
            (Route::ExitMain, RouteReason::EdgeOnly)
        }
    }
    fn after_extension(&self, _: &Scores) -> (ExtensionRoute, RouteReason) {
        (ExtensionRoute::ExitExtension, RouteReason::EdgeOnly)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(logits: &[f32], p: &ClassPartition) -> Scores {
        Scores::from_logits_masked(logits, &p.hard_mask()).unwrap()
    }

    #[test]
    fn meanet_routes_as_the_method_says() {
        let p = ClassPartition::try_new(4, vec![2, 3]).unwrap();
        let t = Thresholds {
            main: Some(0.5),
            cloud_main: Some(1.0),
            extension: Some(0.3),
            ..Thresholds::default()
        };
        let policy = MeaNet { thresholds: t };
        let table: [(&[f32], Route, RouteReason); 5] = [
            (
                &[9.0, 0.0, 0.0, 0.0],
                Route::ExitMain,
                RouteReason::EasyConfident,
            ),
            (
                &[1.0, 0.9, 0.0, 0.0],
                Route::Offload,
                RouteReason::EasyUncertain,
            ),
            (
                &[0.0, 0.0, 9.0, 0.0],
                Route::RunExtension,
                RouteReason::HardClass,
            ),
            (
                &[0.0, 0.0, 0.5, 0.4],
                Route::Offload,
                RouteReason::MainTooUncertain,
            ),
            (
                &[0.0, 0.0, 0.0, 3.0],
                Route::RunExtension,
                RouteReason::HardClass,
            ),
        ];
        for (logits, route, reason) in table {
            assert_eq!(
                policy.after_main(&scores(logits, &p), &p),
                (route, reason),
                "{logits:?}"
            );
        }
        let confident = Scores::from_logits(&[8.0, 0.0]).unwrap();
        let unsure = Scores::from_logits(&[0.1, 0.0]).unwrap();
        assert_eq!(
            policy.after_extension(&confident).0,
            ExtensionRoute::ExitExtension
        );
        assert_eq!(policy.after_extension(&unsure).0, ExtensionRoute::Offload);
    }

    #[test]
    fn hard_mass_treats_an_easy_prediction_as_hard() {
        let p = ClassPartition::try_new(3, vec![1, 2]).unwrap();
        let policy = MeaNet {
            thresholds: Thresholds {
                hard_mass: Some(0.5),
                cloud_main: None,
                ..Thresholds::default()
            },
        };
        // class 0 wins with p ~ 0.39, but hard classes hold ~ 0.61 together.
        let s = scores(&[0.2, 0.0, 0.0], &p);
        assert_eq!(s.class, 0);
        assert_eq!(policy.after_main(&s, &p).0, Route::RunExtension);
    }

    #[test]
    fn baselines_route_as_named() {
        let p = ClassPartition::try_new(2, vec![1]).unwrap();
        let hard = scores(&[0.0, 5.0], &p);
        let easy = scores(&[5.0, 0.0], &p);
        assert_eq!(EdgeOnly.after_main(&hard, &p).0, Route::ExitMain);
        assert_eq!(CloudOnly.after_main(&easy, &p).0, Route::Offload);
        assert_eq!(MainExtension.after_main(&hard, &p).0, Route::RunExtension);
        assert_eq!(MainExtension.after_main(&easy, &p).0, Route::ExitMain);
        let b = BranchyNet {
            measure: Measure::Entropy,
            threshold: 0.1,
        };
        assert_eq!(b.after_main(&easy, &p).0, Route::ExitMain);
        assert_eq!(b.after_main(&scores(&[0.0, 0.1], &p), &p).0, Route::Offload);
    }
}
