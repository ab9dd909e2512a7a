//! Holding the offload share at its target while the input mix changes.
//!
//! Calibration picks thresholds for a target share on the validation split; when the traffic
//! holds more hard samples than the validation split did, the same thresholds offload more.
//! The [`OnlineController`] turns one knob, a scale every uncertainty threshold is multiplied by
//! ([`RoutingThresholds::scaled`]), so the calibrated *shape* of the thresholds stays and only
//! their level moves:
//!
//! - **Quantile tracking.** Each routed sample has a critical scale
//!   ([`RoutingThresholds::critical`]): it is offloaded exactly when the scale is below it. Over
//!   a sliding window of recent samples, the scale that would have offloaded the target share is
//!   a quantile of those critical scales. A change of mix moves the quantile as soon as the
//!   window sees it.
//! - **Debt feedback.** The controller counts offloads against the target (`debt`: samples
//!   offloaded beyond the target share so far) and aims a little below the target while it is
//!   in debt, a little above while in credit, repaying it over `horizon` samples. This corrects
//!   what the window cannot know (a sample offloaded before its extension ran has only a lower
//!   bound for its critical scale) and keeps every stretch of traffic close to the target.
//!
//! Like every strategy in this crate it is pure and synchronous: observations and the time go
//! in, the scale comes out. [`OnlineRouting`] binds it to a pipeline's [`EdgePass`]es, and
//! [`EdgeAccuracy`] turns cloud answers on offloaded samples into a running estimate of how
//! often the edge would have been right, per class.

use std::collections::VecDeque;

use crate::partition::ClassPartition;
use crate::pipeline::{EdgePass, Pipeline};
use crate::policy::{ExitPolicy, RoutingThresholds};
use crate::units::Seconds;

/// The largest window a controller keeps (its memory is about 24 bytes per sample).
pub const MAX_WINDOW: usize = 1 << 20;

/// How the controller behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ControllerConfig {
    /// The offload share to hold, in `[0, 1]`.
    pub target: f64,
    /// Recent samples the quantile is read from.
    pub window: usize,
    /// Samples over which the offload debt is repaid (smaller: tighter, noisier).
    pub horizon: f64,
    /// The least scale the thresholds may be multiplied by.
    pub min_scale: f64,
    /// The largest scale.
    pub max_scale: f64,
    /// Samples older than this leave the window, however few came since (`None`: no limit).
    pub max_age: Option<Seconds>,
}

impl ControllerConfig {
    /// Defaults for `target`: a window of 400 samples, debt repaid over 400, scale in
    /// `[0.25, 4]`, no age limit.
    pub fn new(target: f64) -> Self {
        ControllerConfig {
            target,
            window: 400,
            horizon: 400.0,
            min_scale: 0.25,
            max_scale: 4.0,
            max_age: None,
        }
    }
}

/// Why a controller configuration was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ControllerError {
    /// The target is not a share.
    #[error("online target {0} must be an offload share between 0 and 1")]
    Target(f64),
    /// The window is empty or larger than [`MAX_WINDOW`].
    #[error("online window {0} must hold between 1 and {MAX_WINDOW} samples")]
    Window(usize),
    /// The horizon is not a positive number of samples.
    #[error("online horizon {0} must be a positive number of samples")]
    Horizon(f64),
    /// The scale bounds are not `0 < min <= 1 <= max`, finite.
    #[error("online scale bounds [{0}, {1}] must satisfy 0 < min_scale <= 1 <= max_scale, finite")]
    Scale(f64, f64),
    /// The age limit is not positive.
    #[error("online max_age {0} s must be positive")]
    Age(f64),
}

/// One routed sample, as the controller sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// Its critical scale ([`RoutingThresholds::critical`]).
    pub critical: f64,
    /// Whether it was offloaded.
    pub offloaded: bool,
}

/// Turns the threshold scale so the offload share stays at the target.
#[derive(Debug, Clone)]
pub struct OnlineController {
    cfg: ControllerConfig,
    /// `(time, critical scale)` of recent samples, oldest first.
    window: VecDeque<(f64, f64)>,
    /// The window's critical scales, kept sorted as samples come and go.
    sorted: Vec<f64>,
    debt: f64,
    scale: f64,
    observed: u64,
    offloaded: u64,
}

impl OnlineController {
    /// A controller starting at scale 1: the calibrated thresholds as they are.
    pub fn new(cfg: ControllerConfig) -> Result<Self, ControllerError> {
        if !(0.0..=1.0).contains(&cfg.target) {
            return Err(ControllerError::Target(cfg.target));
        }
        if cfg.window == 0 || cfg.window > MAX_WINDOW {
            return Err(ControllerError::Window(cfg.window));
        }
        if !(cfg.horizon.is_finite() && cfg.horizon > 0.0) {
            return Err(ControllerError::Horizon(cfg.horizon));
        }
        let (lo, hi) = (cfg.min_scale, cfg.max_scale);
        if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && lo <= 1.0 && hi >= 1.0) {
            return Err(ControllerError::Scale(lo, hi));
        }
        if let Some(a) = cfg.max_age
            && !(a.0.is_finite() && a.0 > 0.0)
        {
            return Err(ControllerError::Age(a.0));
        }
        Ok(OnlineController {
            cfg,
            window: VecDeque::with_capacity(cfg.window),
            sorted: Vec::with_capacity(cfg.window),
            debt: 0.0,
            scale: 1.0,
            observed: 0,
            offloaded: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ControllerConfig {
        &self.cfg
    }

    /// Holds `target` from now on (clamped to `[0, 1]`; NaN keeps the current one): the link's
    /// budgets lower the calibrated share this way when they cannot afford it.
    pub fn set_target(&mut self, target: f64) {
        if !target.is_nan() {
            self.cfg.target = target.clamp(0.0, 1.0);
        }
    }

    /// The current scale, always within `[min_scale, max_scale]`.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Samples offloaded beyond the target share so far (negative: below it), as the
    /// controller counts it (bounded by the horizon).
    pub fn debt(&self) -> f64 {
        self.debt
    }

    /// Samples observed, and of them offloaded.
    pub fn counts(&self) -> (u64, u64) {
        (self.observed, self.offloaded)
    }

    /// Takes the samples routed at `now` and returns the scale for the next ones.
    pub fn observe(&mut self, now: Seconds, batch: &[Observation]) -> f64 {
        let target = self.cfg.target;
        for o in batch {
            // A NaN never comes from finite scores; count it as "always offloaded".
            let c = if o.critical.is_nan() {
                f64::INFINITY
            } else {
                o.critical
            };
            self.window.push_back((now.0, c));
            let at = self.sorted.partition_point(|v| v.total_cmp(&c).is_lt());
            self.sorted.insert(at, c);
            self.debt += f64::from(u8::from(o.offloaded)) - target;
            self.observed += 1;
            self.offloaded += u64::from(o.offloaded);
        }
        while self.window.len() > self.cfg.window {
            self.forget_oldest();
        }
        if let Some(age) = self.cfg.max_age {
            while self.window.front().is_some_and(|(t, _)| now.0 - t > age.0) {
                self.forget_oldest();
            }
        }
        // Anti-windup: a debt the bounds keep from repaying would only grow.
        let h = self.cfg.horizon;
        self.debt = self.debt.clamp(-h, h);
        // Too few samples for a quantile yet: keep the calibrated scale.
        let warm = (self.cfg.window / 4).max(1);
        if self.window.len() >= warm {
            let level = (target - self.debt / h).clamp(0.0, 1.0);
            let n = self.sorted.len();
            // Keep the `kept` samples with the least critical scale: offloaded iff critical > s.
            let kept = (((1.0 - level) * n as f64).round() as usize).min(n);
            let s = match kept {
                0 => self.cfg.min_scale,
                k => self.sorted[k - 1],
            };
            self.scale = if s.is_nan() {
                self.scale
            } else {
                s.clamp(self.cfg.min_scale, self.cfg.max_scale)
            };
        }
        self.scale
    }
}

impl OnlineController {
    /// Drops the oldest sample of the window from both the window and its sorted copy.
    fn forget_oldest(&mut self) {
        if let Some((_, c)) = self.window.pop_front() {
            let at = self.sorted.partition_point(|v| v.total_cmp(&c).is_lt());
            if self.sorted.get(at).is_some_and(|v| v.total_cmp(&c).is_eq()) {
                self.sorted.remove(at);
            }
        }
    }
}

/// A pipeline's thresholds under an [`OnlineController`].
#[derive(Debug, Clone)]
pub struct OnlineRouting {
    base: RoutingThresholds,
    controller: OnlineController,
}

impl OnlineRouting {
    /// Controls `base` (the calibrated thresholds) with `controller`.
    pub fn new(base: RoutingThresholds, controller: OnlineController) -> Self {
        OnlineRouting { base, controller }
    }

    /// The thresholds as they are now.
    pub fn thresholds(&self) -> RoutingThresholds {
        self.base.scaled(self.controller.scale())
    }

    /// The policy for the next batch.
    pub fn policy(&self) -> Box<dyn ExitPolicy> {
        self.thresholds().policy()
    }

    /// The controller.
    pub fn controller(&self) -> &OnlineController {
        &self.controller
    }

    /// The controller, to change its target ([`OnlineController::set_target`]).
    pub fn controller_mut(&mut self) -> &mut OnlineController {
        &mut self.controller
    }

    /// What the controller sees of a routed batch.
    pub fn observations(&self, pass: &EdgePass, partition: &ClassPartition) -> Vec<Observation> {
        let offload = pass.offload();
        pass.outcomes()
            .iter()
            .enumerate()
            .map(|(i, o)| Observation {
                critical: self.base.critical(&o.main, o.extension.as_ref(), partition),
                offloaded: offload.binary_search(&i).is_ok(),
            })
            .collect()
    }

    /// Feeds a batch routed at `now` to the controller; returns the new scale.
    pub fn observe(&mut self, now: Seconds, pass: &EdgePass, partition: &ClassPartition) -> f64 {
        let obs = self.observations(pass, partition);
        self.controller.observe(now, &obs)
    }

    /// The online loop's step, after the edge pass of each batch: the controller sees what
    /// `pass` routed (at time `now`), and `pipeline` routes the next batch with the thresholds
    /// it sets. The edge worker and evaluation both route under the controller this way.
    pub fn step(&mut self, now: Seconds, pass: &EdgePass, pipeline: &mut Pipeline) -> f64 {
        let scale = self.observe(now, pass, pipeline.partition());
        pipeline.set_policy(self.policy());
        scale
    }
}

/// A running estimate of how often the edge's answer is right, per class the edge predicted,
/// from the cloud's answers on offloaded samples (the cloud taken as the truth): exponentially
/// weighted, so it follows the traffic.
///
/// It measures the edge where it was *unsure* (offloaded samples only), so it is a lower bound
/// of the edge's accuracy on all traffic, and a signal of where the edge falls short.
#[derive(Debug, Clone)]
pub struct EdgeAccuracy {
    /// `(weighted agreements, weighted samples)` per class.
    per_class: Vec<(f64, f64)>,
    decay: f64,
}

impl EdgeAccuracy {
    /// An estimate over `classes`, each sample's weight halving after `half_life` more samples
    /// of its class.
    pub fn new(classes: usize, half_life: f64) -> Self {
        let decay = if half_life.is_finite() && half_life > 0.0 {
            0.5f64.powf(1.0 / half_life)
        } else {
            1.0
        };
        EdgeAccuracy {
            per_class: vec![(0.0, 0.0); classes],
            decay,
        }
    }

    /// Records one offloaded sample: the edge's best answer and the cloud's. A class beyond
    /// the count is ignored.
    pub fn record(&mut self, edge_class: usize, cloud_class: usize) {
        if let Some((agree, seen)) = self.per_class.get_mut(edge_class) {
            *agree = *agree * self.decay + f64::from(u8::from(edge_class == cloud_class));
            *seen = *seen * self.decay + 1.0;
        }
    }

    /// The estimate for `class`, if any of its samples was seen.
    pub fn estimate(&self, class: usize) -> Option<f64> {
        self.per_class
            .get(class)
            .filter(|(_, seen)| *seen > 0.0)
            .map(|(agree, seen)| agree / seen)
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.per_class.len()
    }
}

#[cfg(test)]
mod tests;
