//! Deadlines, retries with jittered exponential backoff, and a circuit breaker, shared by the
//! HTTP and QUIC clients.
//!
//! The breaker ([`CircuitBreaker`]) and the backoff ([`backoff`]) are pure: time and jitter are
//! arguments. Only the driver ([`Resilience::call`]) reads the clock (`tokio::time`, so its tests
//! run paused) and draws jitter.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use meanet_core::{CloudError, Seconds};
use std::time::Instant;

/// Now, from tokio's clock (which tests can pause), as a std instant for the pure breaker.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Retry, deadline and breaker settings of a client.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Total time one `classify` call may take, retries included.
    pub deadline: Duration,
    /// Attempts after the first (only for failures that are safe to retry).
    pub retries: u32,
    /// First backoff; doubles each retry, with full jitter.
    pub backoff_base: Duration,
    /// Largest backoff.
    pub backoff_max: Duration,
    /// Consecutive failed calls that open the breaker.
    pub breaker_threshold: u32,
    /// How long the breaker stays open before one trial call is let through.
    pub breaker_cooldown: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            deadline: Duration::from_millis(500),
            retries: 2,
            backoff_base: Duration::from_millis(10),
            backoff_max: Duration::from_millis(200),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(2),
        }
    }
}

/// An attempt's failure: retrying is safe (nothing reached the model, or the server shed load)
/// or not.
#[derive(Debug)]
pub(crate) enum Attempt {
    Retry(CloudError, Option<Duration>),
    Fatal(CloudError),
}

/// The state of a [`CircuitBreaker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through; `failures` consecutive calls have failed.
    Closed {
        /// Consecutive failed calls so far.
        failures: u32,
    },
    /// Calls fail fast until `until`.
    Open {
        /// When one trial call is let through.
        until: Instant,
    },
    /// One trial call is in flight; others fail fast until it ends.
    HalfOpen,
}

/// A circuit breaker as a pure state machine: time is passed in (as quinn-proto passes `now`),
/// so its tests need no clock and no sleeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitBreaker {
    threshold: u32,
    cooldown: Duration,
    state: BreakerState,
}

impl CircuitBreaker {
    /// Longest cooldown; longer ones are clamped, so `now + cooldown` never overflows.
    pub const MAX_COOLDOWN: Duration = Duration::from_secs(24 * 3600);

    /// A closed breaker that opens after `threshold` (at least 1) consecutive failures and stays
    /// open for `cooldown` (at most [`Self::MAX_COOLDOWN`]).
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        CircuitBreaker {
            threshold: threshold.max(1),
            cooldown: cooldown.min(Self::MAX_COOLDOWN),
            state: BreakerState::Closed { failures: 0 },
        }
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Whether a call may go out at `now`; an open breaker whose cooldown has passed lets one
    /// trial through (half-open).
    pub fn admit(&mut self, now: Instant) -> bool {
        match self.state {
            BreakerState::Closed { .. } => true,
            BreakerState::Open { until } if now >= until => {
                self.state = BreakerState::HalfOpen;
                true
            }
            BreakerState::Open { .. } | BreakerState::HalfOpen => false,
        }
    }

    /// Records how an admitted call ended at `now`.
    pub fn record(&mut self, ok: bool, now: Instant) {
        self.state = match (self.state, ok) {
            (_, true) => BreakerState::Closed { failures: 0 },
            (BreakerState::Closed { failures }, false)
                if failures.saturating_add(1) < self.threshold =>
            {
                BreakerState::Closed {
                    failures: failures + 1,
                }
            }
            (_, false) => BreakerState::Open {
                // A cooldown past the end of time keeps the breaker open "forever".
                until: now
                    .checked_add(self.cooldown)
                    .unwrap_or(now + Duration::from_secs(1 << 30)),
            },
        };
    }
}

/// The wait before retry number `retry` (1-based): exponential from `backoff_base`, capped at
/// `backoff_max`, scaled by `jitter` in `[0, 1]` (full jitter). Pure: the caller draws `jitter`.
pub fn backoff(policy: &RetryPolicy, retry: u32, jitter: f64) -> Duration {
    let exp = policy
        .backoff_base
        .saturating_mul(1u32 << retry.saturating_sub(1).min(16));
    let cap = exp.min(policy.backoff_max);
    cap.mul_f64(if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    })
}

/// Runs attempts under a policy.
#[derive(Debug)]
pub(crate) struct Resilience {
    policy: RetryPolicy,
    breaker: Mutex<CircuitBreaker>,
}

impl Resilience {
    pub(crate) fn new(policy: RetryPolicy) -> Self {
        Resilience {
            breaker: Mutex::new(CircuitBreaker::new(
                policy.breaker_threshold,
                policy.breaker_cooldown,
            )),
            policy,
        }
    }

    fn breaker(&self) -> std::sync::MutexGuard<'_, CircuitBreaker> {
        // The breaker holds plain data; a panic elsewhere cannot leave it inconsistent.
        self.breaker.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn admit(&self) -> Result<(), CloudError> {
        if self.breaker().admit(now()) {
            Ok(())
        } else {
            Err(CloudError::CircuitOpen)
        }
    }

    fn record(&self, ok: bool) {
        self.breaker().record(ok, now());
    }

    /// The breaker's state now.
    pub(crate) fn breaker_state(&self) -> BreakerState {
        self.breaker().state()
    }

    /// Calls `attempt(remaining)` until it succeeds, fails fatally, retries run out or the
    /// deadline passes. Never waits past the deadline.
    pub(crate) async fn call<T, F, Fut>(&self, mut attempt: F) -> Result<T, CloudError>
    where
        F: FnMut(Duration) -> Fut,
        Fut: Future<Output = Result<T, Attempt>>,
    {
        self.admit()?;
        let start = tokio::time::Instant::now();
        let deadline = start.checked_add(self.policy.deadline).unwrap_or(start);
        let timeout = || CloudError::Timeout(Seconds(self.policy.deadline.as_secs_f64()));
        let mut tries = 0u32;
        loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            if remaining.is_zero() {
                self.record(false);
                return Err(timeout());
            }
            let outcome = match tokio::time::timeout(remaining, attempt(remaining)).await {
                Err(_) => Err(Attempt::Fatal(timeout())),
                Ok(r) => r,
            };
            match outcome {
                Ok(v) => {
                    self.record(true);
                    return Ok(v);
                }
                Err(Attempt::Fatal(e)) => {
                    // A rejected request (4xx) or refused credentials say nothing about the
                    // server's health.
                    let healthy = matches!(e, CloudError::Rejected { status, .. } if status < 500)
                        || matches!(e, CloudError::Unauthorized { .. });
                    self.record(healthy);
                    return Err(e);
                }
                Err(Attempt::Retry(e, hint)) => {
                    tries += 1;
                    if tries > self.policy.retries {
                        self.record(false);
                        return Err(e);
                    }
                    let jitter = backoff(&self.policy, tries, fastrand::f64());
                    let wait = hint.map_or(jitter, |h| h.max(jitter));
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                    if wait >= left {
                        self.record(false);
                        return Err(e);
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
