//! [`LinkEstimator`]: what the offloads say about the link (latency, its variance, the least
//! latency seen, the uplink's goodput, and whether it answers at all).

use std::collections::{BTreeMap, VecDeque};

use crate::units::{Bytes, Seconds};

/// The most offloads an estimator tracks at once; older ones are forgotten (counted failed).
pub const MAX_OUTSTANDING: usize = 4096;

/// How a [`LinkEstimator`] weighs what it sees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EstimatorConfig {
    /// Delivery-rate samples older than this leave the goodput's window.
    pub goodput_window: Seconds,
    /// Latency samples older than this leave the least-latency window.
    pub min_rtt_window: Seconds,
    /// An offload unanswered for this long, with nothing answered since it was sent, says the
    /// link is down (before its deadline says so).
    pub stall: Seconds,
}

impl Default for EstimatorConfig {
    /// Goodput over the last 2 s of answers, the least latency over 10 s, a stall after 1 s.
    fn default() -> Self {
        EstimatorConfig {
            goodput_window: Seconds(2.0),
            min_rtt_window: Seconds(10.0),
            stall: Seconds(1.0),
        }
    }
}

/// An offload the estimator is waiting on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OffloadId(u64);

#[derive(Debug, Clone, Copy)]
struct Sent {
    at: f64,
    bytes: u64,
    /// Bytes answered (in total) when this one was sent.
    delivered_before: u64,
    /// Whether the link looked down when it was sent (a probe).
    probe: bool,
}

/// The link as the estimator sees it now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkEstimate {
    /// Smoothed offload latency, network part (RFC 6298's SRTT), once one offload answered.
    pub srtt: Option<Seconds>,
    /// Its mean deviation (RFC 6298's RTTVAR).
    pub rttvar: Seconds,
    /// The least network latency in the recent window.
    pub min_rtt: Option<Seconds>,
    /// Uplink goodput in bits per second: the best delivery rate in the recent window.
    pub goodput_bps: Option<f64>,
    /// The server's own time per offload (queue and inference), smoothed, once a server
    /// reported one: part of the time to answer, not of the network's.
    pub server: Option<Seconds>,
    /// Bytes sent and not yet answered.
    pub outstanding: Bytes,
    /// Whether the link looks down: the last offload failed, or one stalled.
    pub down: bool,
}

/// Estimates the link from the offloads sent over it. Pure: the caller passes the time.
///
/// - **Latency** (RFC 6298): each answered offload's time to answer, less the server's own
///   time when it reports one, feeds SRTT (gain 1/8) and RTTVAR (gain 1/4).
/// - **Goodput** (as BBR's delivery rate): when an offload is answered, the bytes answered
///   since it was sent (its own included, and those of offloads overlapping it) over its time
///   to answer. An idle link produces no samples, so idle periods do not lower it; the
///   estimate is the highest sample of the last `goodput_window` (a sample is limited by the
///   traffic offered as much as by the link, so the highest is the closest to the link's).
/// - **Down**: the last offload failed (the caller says which failures are the link's), or one
///   has waited `stall` with nothing answered since it was sent. Any answer clears it. The
///   answer to an offload sent while the link looked down (a probe) says only that: it waited
///   for the link to come back, so its time feeds no estimate (Karn's rule).
#[derive(Debug, Clone)]
pub struct LinkEstimator {
    cfg: EstimatorConfig,
    next_id: u64,
    outstanding: BTreeMap<OffloadId, Sent>,
    outstanding_bytes: u64,
    delivered: u64,
    last_answer: Option<f64>,
    srtt: Option<f64>,
    rttvar: f64,
    server: Option<f64>,
    /// `(time, network latency)`, increasing latencies: the front is the window's least.
    min_rtt: VecDeque<(f64, f64)>,
    /// `(time, bits per second)`, decreasing rates: the front is the window's highest.
    rates: VecDeque<(f64, f64)>,
    failed_last: bool,
    answered: u64,
    failed: u64,
}

impl LinkEstimator {
    /// An estimator that has seen nothing.
    pub fn new(cfg: EstimatorConfig) -> Self {
        LinkEstimator {
            cfg,
            next_id: 0,
            outstanding: BTreeMap::new(),
            outstanding_bytes: 0,
            delivered: 0,
            last_answer: None,
            srtt: None,
            rttvar: 0.0,
            server: None,
            min_rtt: VecDeque::new(),
            rates: VecDeque::new(),
            failed_last: false,
            answered: 0,
            failed: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EstimatorConfig {
        &self.cfg
    }

    /// Records an offload of `bytes` sent at `now`; answer it with [`answered`](Self::answered)
    /// or [`failed`](Self::failed).
    pub fn sent(&mut self, now: Seconds, bytes: Bytes) -> OffloadId {
        if self.outstanding.len() >= MAX_OUTSTANDING
            && let Some((_, s)) = self.outstanding.pop_first()
        {
            self.outstanding_bytes = self.outstanding_bytes.saturating_sub(s.bytes);
            self.failed += 1;
        }
        let probe = self.failed_last || self.stalled(now);
        let id = OffloadId(self.next_id);
        self.next_id += 1;
        self.outstanding.insert(
            id,
            Sent {
                at: now.0,
                bytes: bytes.0,
                delivered_before: self.delivered,
                probe,
            },
        );
        self.outstanding_bytes = self.outstanding_bytes.saturating_add(bytes.0);
        id
    }

    /// Records the answer to `id` at `now`; `server` is the server's own time for it, when it
    /// reported one. Returns false for an offload it does not know (already answered, or
    /// forgotten).
    pub fn answered(&mut self, now: Seconds, id: OffloadId, server: Option<Seconds>) -> bool {
        let Some(s) = self.take(id) else {
            return false;
        };
        self.delivered = self.delivered.saturating_add(s.bytes);
        self.last_answer = Some(now.0);
        self.failed_last = false;
        self.answered += 1;
        if s.probe {
            // Karn's rule: an offload sent while the link was down waited for the link to come
            // back, not on it; its time says the link is back, not how fast it is.
            self.expire(now);
            return true;
        }
        let latency = finite_non_negative(now.0 - s.at);
        // A server's claim longer than the whole time to answer (or not a time) is ignored.
        let server = server
            .map(|t| t.0)
            .filter(|&t| t.is_finite() && t >= 0.0 && t <= latency);
        let net = latency - server.unwrap_or(0.0);
        if let Some(t) = server {
            // Smoothed with SRTT's gain.
            self.server = Some(self.server.map_or(t, |old| 0.875 * old + 0.125 * t));
        }
        // RFC 6298, section 2: the first sample sets SRTT and RTTVAR = R/2, later ones move
        // them by 1/8 and 1/4.
        match self.srtt {
            None => {
                self.srtt = Some(net);
                self.rttvar = net / 2.0;
            }
            Some(srtt) => {
                self.rttvar = 0.75 * self.rttvar + 0.25 * (srtt - net).abs();
                self.srtt = Some(0.875 * srtt + 0.125 * net);
            }
        }
        push_extreme(&mut self.min_rtt, now.0, net, |old, new| old >= new);
        if net > 0.0 {
            let bits = (self.delivered - s.delivered_before) as f64 * 8.0;
            push_extreme(&mut self.rates, now.0, bits / net, |old, new| old <= new);
        }
        self.expire(now);
        true
    }

    /// Records that `id` failed at `now`. `link` says whether the failure is the link's (a
    /// timeout, an unreachable server, an open breaker) rather than the server's (a refusal):
    /// only the link's mark the link down.
    pub fn failed(&mut self, now: Seconds, id: OffloadId, link: bool) -> bool {
        if self.take(id).is_none() {
            return false;
        }
        self.failed += 1;
        self.failed_last |= link;
        self.expire(now);
        true
    }

    /// The estimate at `now`.
    pub fn estimate(&self, now: Seconds) -> LinkEstimate {
        LinkEstimate {
            srtt: self.srtt.map(Seconds),
            rttvar: Seconds(self.rttvar),
            min_rtt: self.min_rtt.front().map(|&(_, v)| Seconds(v)),
            goodput_bps: self.rates.front().map(|&(_, v)| v),
            server: self.server.map(Seconds),
            outstanding: Bytes(self.outstanding_bytes),
            down: self.failed_last || self.stalled(now),
        }
    }

    /// Offloads answered and failed so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.answered, self.failed)
    }

    /// Offloads waiting for an answer.
    pub fn in_flight(&self) -> usize {
        self.outstanding.len()
    }

    /// Whether the oldest waiting offload has waited `stall` with nothing answered since it
    /// was sent.
    fn stalled(&self, now: Seconds) -> bool {
        self.outstanding.values().next().is_some_and(|s| {
            now.0 - s.at >= self.cfg.stall.0 && self.last_answer.is_none_or(|t| t < s.at)
        })
    }

    fn take(&mut self, id: OffloadId) -> Option<Sent> {
        let s = self.outstanding.remove(&id)?;
        self.outstanding_bytes = self.outstanding_bytes.saturating_sub(s.bytes);
        Some(s)
    }

    /// Drops samples older than their windows, keeping at least the newest of each.
    fn expire(&mut self, now: Seconds) {
        let keep = |q: &mut VecDeque<(f64, f64)>, window: f64| {
            while q.len() > 1 && q.front().is_some_and(|&(t, _)| now.0 - t > window) {
                q.pop_front();
            }
        };
        keep(&mut self.min_rtt, self.cfg.min_rtt_window.0);
        keep(&mut self.rates, self.cfg.goodput_window.0);
    }
}

/// Pushes `(t, v)` onto a monotonic deque whose front is the window's extreme: values the new
/// one dominates (`dominated(old, new)`) can never be the extreme again and leave first.
fn push_extreme(
    q: &mut VecDeque<(f64, f64)>,
    t: f64,
    v: f64,
    dominated: impl Fn(f64, f64) -> bool,
) {
    while q.back().is_some_and(|&(_, old)| dominated(old, v)) {
        q.pop_back();
    }
    q.push_back((t, v));
}

fn finite_non_negative(v: f64) -> f64 {
    if v.is_finite() { v.max(0.0) } else { 0.0 }
}

/// Samples arriving per second, over a sliding window of time. Pure: the caller passes the
/// time.
#[derive(Debug, Clone)]
pub struct RateMeter {
    window: f64,
    seen: VecDeque<(f64, u64)>,
    total: u64,
}

impl RateMeter {
    /// A meter over the last `window` (at least a millisecond).
    pub fn new(window: Seconds) -> Self {
        RateMeter {
            window: if window.0.is_finite() {
                window.0.max(1e-3)
            } else {
                1.0
            },
            seen: VecDeque::new(),
            total: 0,
        }
    }

    /// Counts `n` samples arriving at `now`; returns the rate.
    pub fn observe(&mut self, now: Seconds, n: u64) -> f64 {
        self.seen.push_back((now.0, n));
        self.total = self.total.saturating_add(n);
        while self.seen.len() > 1
            && self
                .seen
                .front()
                .is_some_and(|&(t, _)| now.0 - t > self.window)
        {
            if let Some((_, k)) = self.seen.pop_front() {
                self.total = self.total.saturating_sub(k);
            }
        }
        self.rate(now)
    }

    /// Samples per second over the window ending at `now`: those seen over the time since the
    /// oldest of them, or over a second (or the window, if shorter) while less has passed.
    pub fn rate(&self, now: Seconds) -> f64 {
        let Some(&(first, _)) = self.seen.front() else {
            return 0.0;
        };
        let span = (now.0 - first).max(self.window.min(1.0));
        self.total as f64 / span
    }
}
