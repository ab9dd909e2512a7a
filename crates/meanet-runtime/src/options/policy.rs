//! `[policy]` and `[calibration]`: routing, the online controller, and threshold search.

use anyhow::{Result, bail};
use meanet_core::{Measure, Target};
use serde::{Deserialize, Serialize};

/// Routing settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyOptions {
    /// Samples routed together on the edge (unset: by the input's size, 64 at 28x28 and 32x32,
    /// 8 at 224x224: [`meanet_core::memory::default_batch`]; `runtime.memory_mb` may lower it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    /// The uncertainty measure of thresholds used when the bundle has none.
    pub measure: Measure,
    /// t_main when the bundle has none (unset: no check).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub main: Option<f64>,
    /// t_cloud_main when the bundle has none (unset: no check).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_main: Option<f64>,
    /// t_ext when the bundle has none (unset: no check).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension: Option<f64>,
    /// hard_mass when the bundle has none: an easy-class prediction with at least this
    /// probability on hard classes is treated as hard (unset: no check).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hard_mass: Option<f64>,
    /// Hold the offload share at the calibrated target as the input mix changes, by scaling
    /// the thresholds online (`meanet run`, `meanet edge`).
    pub online: bool,
    /// The offload share the online controller holds (unset: the bundle's `offload=` target).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub online_target: Option<f64>,
    /// Recent samples the online controller reads its quantile from.
    pub online_window: usize,
    /// Samples over which the online controller repays an offload debt.
    pub online_horizon: f64,
    /// Bounds of the online threshold scale: `[1 / online_range, online_range]`.
    pub online_range: f64,
    /// Hold the link's budgets (below): measure the link from the offloads, send an offload
    /// only when it can come back within the latency budget, never wait for the link. Off: the
    /// edge waits for an in-flight slot, and every offload waits for its answer up to
    /// `cloud.deadline_ms` (the behaviour before the link was measured).
    pub link_aware: bool,
    /// The latest a sample may be answered, in ms from its arrival at the edge: an offload
    /// predicted to come back later is not sent (its samples are answered at the edge, marked
    /// `withheld`), and one sent is given up at it (unset: `cloud.deadline_ms`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_budget_ms: Option<f64>,
    /// The most uplink bandwidth offloads may use, in kbit/s on average (bursts of one
    /// second's worth); offloads beyond it are answered at the edge (unset: no cap).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uplink_kbps: Option<f64>,
    /// The most edge energy a sample may cost on average, compute and radio, in mJ: held by
    /// an account that pays each offload's radio energy before it is sent (one it cannot pay
    /// for is withheld, `energy_budget`), and the online controller holds the smaller of its
    /// target and the offload share this allows at the measured arrival rate and goodput
    /// (unset: no budget).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub energy_budget_mj: Option<f64>,
}

impl Default for PolicyOptions {
    fn default() -> Self {
        PolicyOptions {
            batch_size: None,
            measure: Measure::Entropy,
            main: None,
            cloud_main: Some(0.8),
            extension: Some(0.8),
            hard_mass: None,
            online: false,
            online_target: None,
            online_window: 400,
            online_horizon: 400.0,
            online_range: 4.0,
            link_aware: true,
            latency_budget_ms: None,
            uplink_kbps: None,
            energy_budget_mj: None,
        }
    }
}

/// How calibration searches the thresholds (`calibration.search`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Search {
    /// Every threshold together: `t_main`, `t_cloud_main`, `t_ext` (and `hard_mass` with
    /// `calibration.hard_mass`), by coordinate descent from the two-threshold grid's pick.
    #[default]
    All,
    /// The paper's sweep: the `t_main` x `t_ext` grid, `t_cloud_main` unchecked.
    Grid,
}

impl Search {
    /// `all` or `grid`.
    pub fn name(self) -> &'static str {
        match self {
            Search::All => "all",
            Search::Grid => "grid",
        }
    }
}

/// Calibration settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CalibrationOptions {
    /// Target: offload=F, energy=JOULES or accuracy=F.
    pub target: Target,
    /// `all` (every threshold, the default) or `grid` (the paper's two).
    pub search: Search,
    /// Also calibrate `hard_mass`: easy-class predictions with this much probability on hard
    /// classes are treated as hard (with `search = "all"`).
    pub hard_mass: bool,
    /// Threshold candidates per axis.
    pub steps: usize,
    /// Also choose one main threshold per class and one extension threshold per hard class
    /// (`meanet calibrate --per-class`).
    pub per_class: bool,
    /// A per-class threshold moves only when that gains at least this much on validation, in
    /// samples answered right (less the priced cost): against fitting noise.
    pub per_class_min_gain: f64,
    /// Seed of the train/validation split the bundle was trained with.
    pub seed: u64,
    /// Validation fraction of that split.
    pub validation: f64,
}

impl Default for CalibrationOptions {
    fn default() -> Self {
        CalibrationOptions {
            target: Target::MaxOffload(0.2),
            search: Search::All,
            hard_mass: false,
            steps: 50,
            per_class: false,
            per_class_min_gain: 3.0,
            seed: 20211,
            validation: 0.1,
        }
    }
}

impl PolicyOptions {
    /// The online controller's configuration for a bundle calibrated for `target` (the
    /// manifest's `target`), or `None` when `online` is off and no budget needs it (the energy
    /// budget and the uplink cap hold the share through it). An error names the setting at
    /// fault when there is no offload share to hold.
    pub fn online_config(
        &self,
        target: Option<&str>,
    ) -> Result<Option<meanet_core::online::ControllerConfig>> {
        let share_budget =
            self.link_aware && (self.energy_budget_mj.is_some() || self.uplink_kbps.is_some());
        if !self.online && !share_budget {
            return Ok(None);
        }
        if !self.online
            && self.online_target.is_none()
            && !matches!(target.map(Target::parse), Some(Ok(Target::MaxOffload(_))))
        {
            bail!(
                "policy.energy_budget_mj and policy.uplink_kbps hold the offload share with the online controller, which needs a share to start from: set policy.online_target, or calibrate the bundle for offload=F"
            );
        }
        let share = match (self.online_target, target.map(Target::parse)) {
            (Some(t), _) => t,
            (None, Some(Ok(Target::MaxOffload(f)))) => f,
            (None, other) => bail!(
                "policy.online = true needs an offload share to hold: set policy.online_target, or calibrate the bundle for offload=F (its target is {})",
                match other {
                    Some(Ok(t)) => t.to_string(),
                    _ => "unset".to_string(),
                }
            ),
        };
        let mut c = meanet_core::online::ControllerConfig::new(share);
        c.window = self.online_window;
        c.horizon = self.online_horizon;
        c.min_scale = 1.0 / self.online_range;
        c.max_scale = self.online_range;
        Ok(Some(c))
    }
}

impl CalibrationOptions {
    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<()> {
        let g = self.per_class_min_gain;
        if !(g.is_finite() && g >= 0.0) {
            bail!("calibration.per_class_min_gain must be finite and >= 0");
        }
        if !(self.validation > 0.0 && self.validation < 1.0) {
            bail!(
                "calibration.validation = {} must be in (0, 1)",
                self.validation
            );
        }
        Ok(())
    }
}

impl PolicyOptions {
    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<()> {
        for (key, value) in [
            ("main", self.main),
            ("cloud_main", self.cloud_main),
            ("extension", self.extension),
        ] {
            if value.is_some_and(|v| !(v.is_finite() && v >= 0.0)) {
                bail!("policy.{key} must be finite and >= 0 (leave it unset for no check)");
            }
        }
        if self.hard_mass.is_some_and(|m| !(0.0..=1.0).contains(&m)) {
            bail!(
                "policy.hard_mass must be a probability between 0 and 1 (leave it unset for no check)"
            );
        }
        if self
            .online_target
            .is_some_and(|t| !(0.0..=1.0).contains(&t))
        {
            bail!("policy.online_target must be an offload share between 0 and 1");
        }
        if self.online_window == 0 || self.online_window > meanet_core::online::MAX_WINDOW {
            bail!(
                "policy.online_window must hold between 1 and {} samples",
                meanet_core::online::MAX_WINDOW
            );
        }
        if !(self.online_horizon.is_finite() && self.online_horizon > 0.0) {
            bail!("policy.online_horizon must be a positive number of samples");
        }
        if !(self.online_range.is_finite() && self.online_range >= 1.0) {
            bail!("policy.online_range must be finite and >= 1");
        }
        if self.batch_size == Some(0) {
            bail!("policy.batch_size must be at least 1");
        }
        for (key, value) in [
            ("latency_budget_ms", self.latency_budget_ms),
            ("uplink_kbps", self.uplink_kbps),
            ("energy_budget_mj", self.energy_budget_mj),
        ] {
            if let Some(v) = value.filter(|v| !(v.is_finite() && *v > 0.0)) {
                bail!("policy.{key} = {v} must be positive and finite (leave it unset for none)");
            }
        }
        Ok(())
    }

    /// The budgets the edge holds on the link: `latency_budget_ms` (else the cloud deadline,
    /// `deadline_ms`), `uplink_kbps` and `energy_budget_mj`; `None` when `link_aware` is off.
    pub fn link_budgets(&self, deadline_ms: u64) -> Option<meanet_core::link::LinkBudgets> {
        if !self.link_aware {
            return None;
        }
        Some(meanet_core::link::LinkBudgets {
            latency: Some(meanet_core::Seconds(
                self.latency_budget_ms.unwrap_or(deadline_ms as f64) / 1e3,
            )),
            energy: self
                .energy_budget_mj
                .map(|mj| meanet_core::Joules(mj / 1e3)),
            uplink_bps: self.uplink_kbps.map(|k| k * 1e3),
        })
    }

    /// The batch size for samples of `values` numbers each: `batch_size`, else the default
    /// for that size.
    pub fn batch_for(&self, values: usize) -> usize {
        self.batch_size
            .unwrap_or_else(|| meanet_core::memory::default_batch(values))
    }

    /// Fallback thresholds for bundles that were not calibrated.
    pub fn fallback_thresholds(&self) -> meanet_core::Thresholds {
        meanet_core::Thresholds {
            measure: self.measure,
            main: self.main,
            cloud_main: self.cloud_main,
            extension: self.extension,
            hard_mass: self.hard_mass,
        }
    }
}
