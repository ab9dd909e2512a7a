//! [`EnergyAccount`]: the edge energy budget held as an account, so that a radio whose cost
//! comes in lumps (LTE's tail and promotion) is held on average, not only priced.

use crate::link::RateMeter;
use crate::units::{Joules, Seconds};

/// How much unspent credit the account keeps: this long of what arrives, on top of what the
/// dearest offload it refused costs. An idle minute does not buy a minute of offloads later (nor an outage a burst after it), yet a
/// burst from idle (which pays a whole radio tail) is always affordable in the end, and leaves
/// up to this long of credit to spend while the radio is up (see [`EnergyAccount::try_pay`]).
pub const ACCOUNT_WINDOW: Seconds = Seconds(5.0);

/// The edge energy budget per sample, held as an account. Each sample that arrives credits it
/// with the budget less the edge's own compute and memory energy for that sample; each offload
/// (or probe) is paid from it at its radio energy as the energy model prices it: the bytes on
/// the air at the measured goodput, the radio's tail since the previous burst, and a promotion
/// after idle. An offload the account cannot pay for is not sent. The edge's total energy over
/// any stretch of samples is then at most the budget times their number, plus what the account
/// held at its start (at most [`ACCOUNT_WINDOW`] of credit and the dearest refused offload's
/// cost).
///
/// Pure: the caller passes the time, the energies and the costs.
#[derive(Debug, Clone)]
pub struct EnergyAccount {
    budget: f64,
    balance: f64,
    /// Credit arriving, in microjoules, for the cap.
    credit: RateMeter,
    /// The largest cost refused since the last payment: the cap is raised by it, so any
    /// offload is affordable after enough samples, with credit to spare for the next ones.
    need: f64,
}

impl EnergyAccount {
    /// An empty account for `budget` per sample.
    pub fn new(budget: Joules) -> Self {
        EnergyAccount {
            budget: budget.0,
            balance: 0.0,
            credit: RateMeter::new(Seconds(5.0)),
            need: 0.0,
        }
    }

    /// The budget per sample.
    pub fn budget(&self) -> Joules {
        Joules(self.budget)
    }

    /// What the account holds now.
    pub fn balance(&self) -> Joules {
        Joules(self.balance)
    }

    /// Credits `samples` that arrived at `now`, whose edge compute and memory took `edge`
    /// together: the budget for each, less `edge`.
    pub fn credit(&mut self, now: Seconds, samples: u64, edge: Joules) {
        let amount = samples as f64 * self.budget - finite(edge.0);
        let rate = self
            .credit
            .observe(now, (amount.max(0.0) * 1e6).round() as u64)
            / 1e6;
        let cap = rate * ACCOUNT_WINDOW.0 + self.need;
        self.balance = (self.balance + amount).min(cap);
    }

    /// Pays `cost` if the account holds it; `false` (nothing paid) if it does not.
    pub fn try_pay(&mut self, cost: Joules) -> bool {
        let cost = finite(cost.0).max(0.0);
        if self.balance < cost {
            self.need = self.need.max(cost);
            return false;
        }
        self.balance -= cost;
        self.need = 0.0;
        true
    }

    /// Corrects a payment of `paid` once the offload's cost is known to be `actual` (the bytes
    /// it really carried, both ways).
    pub fn settle(&mut self, paid: Joules, actual: Joules) {
        self.balance += finite(paid.0) - finite(actual.0);
    }
}

fn finite(v: f64) -> f64 {
    if v.is_finite() { v } else { 0.0 }
}
