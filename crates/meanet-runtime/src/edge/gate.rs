//! [`LinkGate`]: the I/O around core's [`LinkEstimator`] and [`LinkPolicy`] for an
//! [`EdgeWorker`](super::EdgeWorker): the clock, the lock shared with the offload tasks, and
//! the bytes an offload will carry (learned from the link's replies).

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use meanet_core::link::{
    Admission, BudgetError, Demand, EstimatorConfig, LinkBudgets, LinkEstimate, LinkEstimator,
    LinkPolicy, OffloadId,
};
use meanet_core::{
    Bytes, CloudError, CloudErrorKind, CloudReply, EnergyModel, Joules, Outcome, RadioBurst,
    SampleCost, Seconds,
};
use std::sync::Arc;

/// How long a probe of a link that looks down (or too slow) may take to come back.
pub const PROBE_DEADLINE: Duration = Duration::from_secs(2);

struct State {
    est: LinkEstimator,
    policy: LinkPolicy,
    /// Bytes the link sends per sample: as its last reply said, else the first guess.
    bytes_per_sample: f64,
    /// When the last offload (or probe) was sent.
    last_sent: Option<Seconds>,
    /// The last offload's burst.
    last_burst: Option<RadioBurst>,
    /// Prices samples and offloads for the energy budget's account.
    energy: Option<Arc<dyn EnergyModel>>,
}

/// The link's estimator and budgets, shared by a worker and its offload tasks.
pub struct LinkGate {
    state: Mutex<State>,
    started: Instant,
}

impl std::fmt::Debug for LinkGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkGate")
            .field("estimate", &self.estimate())
            .finish()
    }
}

/// A burst of `samples` sent at `now`, the previous one having been sent at `last`.
pub(crate) fn burst_after(last: Option<Seconds>, now: Seconds, samples: usize) -> RadioBurst {
    RadioBurst {
        since_last_us: last.map(|t| ((now.0 - t.0).max(0.0) * 1e6).round() as u64),
        samples: u32::try_from(samples.max(1)).unwrap_or(u32::MAX),
    }
}

/// Whether a failure is the link's (it says the link may be down), not the server's.
pub fn link_failure(kind: CloudErrorKind) -> bool {
    matches!(
        kind,
        CloudErrorKind::Unreachable | CloudErrorKind::Timeout | CloudErrorKind::CircuitOpen
    )
}

impl LinkGate {
    /// A gate holding `budgets`, assuming an offload carries `bytes_per_sample` a sample until
    /// the link's first reply says how many it does.
    pub fn new(budgets: LinkBudgets, bytes_per_sample: u64) -> Result<Self, BudgetError> {
        Ok(LinkGate {
            state: Mutex::new(State {
                est: LinkEstimator::new(EstimatorConfig::default()),
                policy: LinkPolicy::new(budgets)?,
                bytes_per_sample: bytes_per_sample as f64,
                last_sent: None,
                last_burst: None,
                energy: None,
            }),
            started: Instant::now(),
        })
    }

    /// The gate's clock: seconds since it was made.
    pub fn now(&self) -> Seconds {
        Seconds(self.started.elapsed().as_secs_f64())
    }

    /// Whether a budget limits the offload share (the energy budget or the uplink cap).
    pub fn limits_share(&self) -> bool {
        let b = self.budgets();
        b.energy.is_some() || b.uplink_bps.is_some()
    }

    /// Bytes an offload carries per sample: as the link's last reply said, else the first
    /// guess.
    pub fn bytes_per_sample(&self) -> Bytes {
        Bytes(self.lock().bytes_per_sample.round() as u64)
    }

    /// The largest offload share the budgets allow for `demand`.
    pub fn max_share(&self, demand: &Demand) -> f64 {
        self.lock().policy.max_share(demand)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The budgets held.
    pub fn budgets(&self) -> LinkBudgets {
        *self.lock().policy.budgets()
    }

    /// The link as estimated now.
    pub fn estimate(&self) -> LinkEstimate {
        let now = self.now();
        self.lock().est.estimate(now)
    }

    /// Prices samples and offloads with `energy`, so that an energy budget is held by its
    /// account ([`EnergyAccount`](meanet_core::link::EnergyAccount)).
    pub fn set_energy(&self, energy: Arc<dyn EnergyModel>) {
        self.lock().energy = Some(energy);
    }

    /// Credits the energy budget's account with `outcomes` just routed at the edge, at the
    /// budget less each one's edge compute and memory energy. Returns their mean edge energy
    /// (`None` without an energy model).
    pub fn credit(&self, outcomes: &[Outcome]) -> Option<f64> {
        let now = self.now();
        let mut s = self.lock();
        let model = s.energy.clone()?;
        let edge: f64 = outcomes
            .iter()
            .map(|o| {
                let e = model.price(&o.cost);
                e.edge_compute.0 + e.edge_memory.0
            })
            .sum();
        s.policy.credit(now, outcomes.len() as u64, Joules(edge));
        Some(edge / outcomes.len().max(1) as f64)
    }

    /// Decides on an offload of `samples` whose first arrived `waited` ago. Returns the
    /// decision, the bytes the offload is expected to carry, and what the energy budget's
    /// account paid for it (zero without one; [`settle`](Self::settle) it once the offload
    /// ends, or if it is not sent after all).
    pub fn admit(&self, waited: Duration, samples: usize) -> (Admission, Bytes, Joules) {
        let now = self.now();
        let mut s = self.lock();
        let bytes = Bytes((s.bytes_per_sample * samples as f64).round() as u64);
        let est = s.est.estimate(now);
        let price = match (&s.energy, s.policy.account()) {
            (Some(model), Some(_)) => Some(
                model
                    .price(&SampleCost {
                        bytes_sent: bytes,
                        uplink_bps: est.goodput_bps.map(|g| g as u64),
                        burst: Some(burst_after(s.last_sent, now, 1)),
                        ..SampleCost::default()
                    })
                    .transmit,
            ),
            _ => None,
        };
        let a = s
            .policy
            .admit(now, Seconds(waited.as_secs_f64()), bytes, price, &est);
        let paid = match a {
            Admission::Withhold(_) => Joules(0.0),
            _ => price.unwrap_or(Joules(0.0)),
        };
        (a, bytes, paid)
    }

    /// Corrects the energy budget's account for an offload admitted at `paid`: `outcomes` are
    /// its samples as answered (their radio energy is what it really cost), or none if it was
    /// not sent after all.
    pub fn settle(&self, paid: Joules, outcomes: &[Outcome]) {
        if paid.0 == 0.0 {
            return;
        }
        let mut s = self.lock();
        let Some(model) = s.energy.clone() else {
            return;
        };
        let actual: f64 = outcomes
            .iter()
            .filter(|o| o.cost.bytes_sent.0 > 0)
            .map(|o| model.price(&o.cost).transmit.0)
            .sum();
        s.policy.settle(paid, Joules(actual));
    }

    /// The energy budget's account balance (`None` without an energy budget).
    pub fn energy_balance(&self) -> Option<Joules> {
        self.lock().policy.account().map(|a| a.balance())
    }

    /// Records an offload of `bytes` for `samples` sent now; returns its id and its burst as
    /// the radio sees it (the time since the previous offload was sent).
    pub fn sent(&self, bytes: Bytes, samples: usize) -> (OffloadId, RadioBurst) {
        let now = self.now();
        let mut s = self.lock();
        let burst = burst_after(s.last_sent, now, samples);
        s.last_sent = Some(now);
        s.last_burst = Some(burst);
        (s.est.sent(now, bytes), burst)
    }

    /// Records that a probe sent `took` ago was answered (see [`LinkPolicy::probed`]).
    pub fn probed(&self, took: Duration) {
        let now = self.now();
        self.lock().policy.probed(now, Seconds(took.as_secs_f64()));
    }

    /// The last offload's burst (the time since the one before it, and its samples).
    pub fn last_burst(&self) -> Option<RadioBurst> {
        self.lock().last_burst
    }

    /// Records how the offload `id` of `samples` ended.
    pub fn finished(&self, id: OffloadId, reply: &Result<CloudReply, CloudError>, samples: usize) {
        let now = self.now();
        let mut s = self.lock();
        match reply {
            Ok(r) => {
                if samples > 0 && r.bytes_sent.0 > 0 {
                    s.bytes_per_sample = r.bytes_sent.0 as f64 / samples as f64;
                }
                s.est.answered(now, id, r.server_time);
            }
            Err(e) => {
                s.est.failed(now, id, link_failure(e.kind()));
            }
        }
    }
}
