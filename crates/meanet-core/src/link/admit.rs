//! [`LinkPolicy`]: the user's budgets, held per offload (is this one sent?) and per share (how
//! many may the thresholds offload?).

use crate::link::{EnergyAccount, LinkEstimate};
use crate::units::{Bytes, Joules, Seconds};

/// What a user needs of the link. Each is optional.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LinkBudgets {
    /// The latest a sample may be answered, from its arrival at the edge (held at the 95th
    /// percentile: an offload is sent only when its answer is predicted within it).
    pub latency: Option<Seconds>,
    /// Edge energy per sample, compute and radio, on average (held by an [`EnergyAccount`]:
    /// an offload the samples so far have not paid for is not sent).
    pub energy: Option<Joules>,
    /// Uplink bits per second the offloads may use, on average (bursts of one second's worth).
    pub uplink_bps: Option<f64>,
}

/// Why a budget was refused.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum BudgetError {
    /// The latency budget is not a positive number of seconds.
    #[error("latency budget {0} s must be positive and finite")]
    Latency(f64),
    /// The energy budget is not a positive number of joules.
    #[error("energy budget {0} J must be positive and finite")]
    Energy(f64),
    /// The uplink cap is not a positive rate.
    #[error("uplink cap {0} bit/s must be positive and finite")]
    Uplink(f64),
}

impl LinkBudgets {
    /// Checks every budget set is positive and finite.
    pub fn validate(&self) -> Result<(), BudgetError> {
        let ok = |v: f64| v.is_finite() && v > 0.0;
        if let Some(v) = self.latency.filter(|v| !ok(v.0)) {
            return Err(BudgetError::Latency(v.0));
        }
        if let Some(v) = self.energy.filter(|v| !ok(v.0)) {
            return Err(BudgetError::Energy(v.0));
        }
        if let Some(v) = self.uplink_bps.filter(|v| !ok(*v)) {
            return Err(BudgetError::Uplink(v));
        }
        Ok(())
    }
}

/// Why an offload the thresholds chose was answered at the edge instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Withheld {
    /// Its answer was predicted later than the latency budget allows.
    OverBudget,
    /// The link looks down (the last offload failed, or one stalled).
    LinkDown,
    /// Sending it would exceed the uplink cap.
    UplinkCap,
    /// The energy budget has not yet paid for it (its radio energy, with the tail since the
    /// last burst and a promotion after idle).
    EnergyBudget,
    /// As many offloads as allowed are in flight already (`cloud.max_in_flight`): the edge
    /// does not wait for one to come back.
    Busy,
}

impl Withheld {
    /// A stable snake_case name for logs and reports.
    pub fn name(self) -> &'static str {
        match self {
            Withheld::OverBudget => "over_budget",
            Withheld::LinkDown => "link_down",
            Withheld::UplinkCap => "uplink_cap",
            Withheld::EnergyBudget => "energy_budget",
            Withheld::Busy => "busy",
        }
    }
}

/// What to do with an offload the thresholds chose.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Admission {
    /// Send it, and give up on it after `deadline` (the budget left less a margin, or none).
    Send {
        /// Time left in its latency budget, if one is set.
        deadline: Option<Seconds>,
    },
    /// Answer it at the edge now.
    Withhold(Withheld),
    /// Answer it at the edge now, for this reason, *and* send it as a probe, whose answer only
    /// tells the estimator about the link: whether it is back, or fast enough again. Without
    /// probes, a link once judged too slow or down would never be measured again.
    Probe(Withheld),
}

/// What the traffic asks of the link, for [`LinkPolicy::max_share`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Demand {
    /// Samples arriving per second.
    pub samples_per_s: f64,
    /// Bytes sent per offloaded sample.
    pub bytes_per_offload: Bytes,
    /// Edge compute energy per sample.
    pub edge_energy: Joules,
    /// Radio energy per offloaded sample, at the link as measured.
    pub radio_energy: Joules,
}

/// The first wait between probes of a link that looks down; it doubles up to [`MAX_PROBE`].
pub const FIRST_PROBE: Seconds = Seconds(0.25);
/// The longest wait between probes.
pub const MAX_PROBE: Seconds = Seconds(1.0);
/// An offload sent is given up this share of the latency budget before the budget ends (at
/// most [`MAX_DEADLINE_MARGIN`]), to leave time to answer its samples at the edge.
pub const DEADLINE_MARGIN: f64 = 0.1;
/// The most time kept back from an offload's deadline.
pub const MAX_DEADLINE_MARGIN: Seconds = Seconds(0.010);

/// Holds [`LinkBudgets`] against a [`LinkEstimate`]. Pure: the caller passes the time.
#[derive(Debug, Clone)]
pub struct LinkPolicy {
    budgets: LinkBudgets,
    /// Bytes the uplink cap allows now, and when they were counted.
    tokens: f64,
    refilled: f64,
    next_probe: f64,
    backoff: f64,
    /// The energy budget's account, when one is set.
    account: Option<EnergyAccount>,
}

impl LinkPolicy {
    /// A policy holding `budgets`.
    pub fn new(budgets: LinkBudgets) -> Result<Self, BudgetError> {
        budgets.validate()?;
        Ok(LinkPolicy {
            budgets,
            tokens: budgets.uplink_bps.map_or(0.0, |b| b / 8.0),
            refilled: 0.0,
            next_probe: 0.0,
            backoff: FIRST_PROBE.0,
            account: budgets.energy.map(EnergyAccount::new),
        })
    }

    /// The budgets.
    pub fn budgets(&self) -> &LinkBudgets {
        &self.budgets
    }

    /// The time an offload of `bytes` sent now is predicted to take to answer, at about its
    /// 95th percentile: the least recent network latency (of offloads like it: that latency
    /// holds an offload's own time on the air), plus the bytes ahead of it at the measured
    /// goodput, plus the server's own time when it reports one, plus twice the latency's mean
    /// deviation. `None` until an offload has been answered.
    pub fn predict(est: &LinkEstimate) -> Option<Seconds> {
        let base = match (est.min_rtt, est.srtt) {
            (Some(m), Some(s)) => m.0.min(s.0),
            (m, s) => m.or(s)?.0,
        };
        let queue = match est.goodput_bps {
            Some(g) if g > 0.0 => est.outstanding.0 as f64 * 8.0 / g,
            _ => 0.0,
        };
        let server = est.server.map_or(0.0, |t| t.0);
        Some(Seconds(base + queue + server + 2.0 * est.rttvar.0))
    }

    /// The energy budget's account (`None` without an energy budget).
    pub fn account(&self) -> Option<&EnergyAccount> {
        self.account.as_ref()
    }

    /// Credits the energy budget's account with `samples` that arrived at `now`, whose edge
    /// compute and memory took `edge` together (see [`EnergyAccount::credit`]).
    pub fn credit(&mut self, now: Seconds, samples: u64, edge: Joules) {
        if let Some(a) = &mut self.account {
            a.credit(now, samples, edge);
        }
    }

    /// Records that a probe was answered at `now` after `took`: the next probe waits at least
    /// three times as long, so that probes of a slow link keep it busy at most a quarter of the
    /// time (a probe's answer feeds no latency estimate, Karn's rule, so the prediction alone
    /// does not see how slow the link has become). A probe that failed is not counted here:
    /// a link that is down is probed on the backoff, to find it back quickly.
    pub fn probed(&mut self, now: Seconds, took: Seconds) {
        if took.0.is_finite() && took.0 > 0.0 {
            self.next_probe = self.next_probe.max(now.0 + 3.0 * took.0);
        }
    }

    /// Corrects what an offload admitted at `paid` cost, now that its cost is known.
    pub fn settle(&mut self, paid: Joules, actual: Joules) {
        if let Some(a) = &mut self.account {
            a.settle(paid, actual);
        }
    }

    /// Decides on an offload of `bytes` whose sample has `waited` since its arrival, at `now`.
    /// `energy` is its radio energy, if the caller priced it: with an energy budget, it is
    /// sent (or probed) only if the account pays for it. Unpriced offloads do not touch the
    /// account.
    pub fn admit(
        &mut self,
        now: Seconds,
        waited: Seconds,
        bytes: Bytes,
        energy: Option<Joules>,
        est: &LinkEstimate,
    ) -> Admission {
        if est.down {
            return self.probe_or(now, est, energy, Withheld::LinkDown);
        }
        let left = self.budgets.latency.map(|b| Seconds(b.0 - waited.0));
        if let (Some(left), Some(p)) = (left, Self::predict(est))
            && p.0 > left.0
        {
            return self.probe_or(now, est, energy, Withheld::OverBudget);
        }
        if let Some(cap) = self.budgets.uplink_bps {
            let burst = (cap / 8.0).max(bytes.0 as f64);
            let dt = (now.0 - self.refilled).max(0.0);
            self.tokens = (self.tokens + dt * cap / 8.0).min(burst);
            self.refilled = now.0.max(self.refilled);
            if self.tokens < bytes.0 as f64 {
                return Admission::Withhold(Withheld::UplinkCap);
            }
        }
        if !self.pay(energy) {
            return Admission::Withhold(Withheld::EnergyBudget);
        }
        if self.budgets.uplink_bps.is_some() {
            self.tokens -= bytes.0 as f64;
        }
        self.backoff = FIRST_PROBE.0;
        // Given up a little before the budget ends, so that its samples, answered at the edge
        // then, still make it.
        let margin = self
            .budgets
            .latency
            .map_or(0.0, |b| (b.0 * DEADLINE_MARGIN).min(MAX_DEADLINE_MARGIN.0));
        Admission::Send {
            deadline: left.map(|l| Seconds((l.0 - margin).max(0.0))),
        }
    }

    /// A probe when none was sent for the backoff and nothing is in flight (a probe must not
    /// queue behind others, or add to a backlog), else `why`. The backoff doubles with each
    /// probe up to [`MAX_PROBE`], and starts again at [`FIRST_PROBE`] once an offload is sent.
    fn probe_or(
        &mut self,
        now: Seconds,
        est: &LinkEstimate,
        energy: Option<Joules>,
        why: Withheld,
    ) -> Admission {
        if now.0 >= self.next_probe && est.outstanding.0 == 0 && self.pay(energy) {
            // Probes of a slow link keep it busy at most a quarter of the time.
            let busy = Self::predict(est).map_or(0.0, |p| 4.0 * p.0);
            self.next_probe = now.0 + self.backoff.max(busy);
            self.backoff = (self.backoff * 2.0).min(MAX_PROBE.0);
            Admission::Probe(why)
        } else {
            Admission::Withhold(why)
        }
    }

    /// Pays `energy` from the account; `true` when there is no account or nothing to pay.
    fn pay(&mut self, energy: Option<Joules>) -> bool {
        match (&mut self.account, energy) {
            (Some(a), Some(e)) => a.try_pay(e),
            _ => true,
        }
    }

    /// The largest offload share the uplink cap and the energy budget allow for `demand`
    /// (1 when neither is set). The latency budget is held per offload by
    /// [`admit`](Self::admit): a share cannot hold it, since what the link carries is only
    /// known from what it was offered.
    pub fn max_share(&self, demand: &Demand) -> f64 {
        let mut share: f64 = 1.0;
        let bits_per_s = demand.samples_per_s * demand.bytes_per_offload.0 as f64 * 8.0;
        if let Some(cap) = self.budgets.uplink_bps
            && bits_per_s > 0.0
        {
            share = share.min(cap / bits_per_s);
        }
        if let Some(budget) = self.budgets.energy
            && demand.radio_energy.0 > 0.0
        {
            share = share.min((budget.0 - demand.edge_energy.0) / demand.radio_energy.0);
        }
        if share.is_nan() {
            0.0
        } else {
            share.clamp(0.0, 1.0)
        }
    }
}
