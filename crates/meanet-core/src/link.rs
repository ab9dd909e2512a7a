//! The link between the edge and the cloud, as the edge measures it, and the user's budgets
//! held against it. Pure, like the rest of this crate: the caller passes the time, the sizes
//! and the answers; these types return estimates and decisions.
//!
//! - [`LinkEstimator`]: from each offload's bytes, time to answer and the server's own time,
//!   the smoothed latency and its variance (RFC 6298), the least latency, the uplink goodput
//!   (BBR-style delivery rate, windowed, blind to idle periods), and whether the link answers
//!   at all.
//! - [`LinkPolicy`]: the [`LinkBudgets`] (latency per sample, edge energy per sample, uplink
//!   rate) turned into a decision per offload ([`Admission`]: send it, answer it at the edge,
//!   or probe a link that looks down) and into the largest offload share the budgets allow
//!   ([`LinkPolicy::max_share`]), which the online controller holds with its single
//!   threshold-scale knob.
//! - [`EnergyAccount`]: the energy budget held on average, offload by offload, for radios
//!   whose cost comes in lumps (a tail after each burst, a promotion after idle).
//! - [`LinkTrace`]: a link's rate over time, read from `seconds mbps` or Mahimahi trace files,
//!   for the link laboratory.

mod account;
mod admit;
mod estimate;
mod trace;

pub use account::{ACCOUNT_WINDOW, EnergyAccount};
pub use admit::{
    Admission, BudgetError, DEADLINE_MARGIN, Demand, FIRST_PROBE, LinkBudgets, LinkPolicy,
    MAX_DEADLINE_MARGIN, MAX_PROBE, Withheld,
};
pub use estimate::{
    EstimatorConfig, LinkEstimate, LinkEstimator, MAX_OUTSTANDING, OffloadId, RateMeter,
};
pub use trace::{
    LinkTrace, MAHIMAHI_BIN, MAHIMAHI_PACKET, MAX_SEGMENTS, MAX_TRACE_BYTES, Segment, TraceError,
    TraceFormat,
};

#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod trace_tests;
