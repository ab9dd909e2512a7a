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
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tokio::time::Instant;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            deadline: Duration::from_millis(100),
            retries: 3,
            backoff_base: Duration::from_millis(5),
            backoff_max: Duration::from_millis(20),
            breaker_threshold: 2,
            breaker_cooldown: Duration::from_secs(1),
        }
    }

    fn unreachable() -> CloudError {
        CloudError::Unreachable("refused".into())
    }

    #[tokio::test(start_paused = true)]
    async fn retries_then_succeeds() {
        let r = Resilience::new(policy());
        let n = AtomicU32::new(0);
        let v = r
            .call(|_| async {
                if n.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(Attempt::Retry(unreachable(), None))
                } else {
                    Ok(7)
                }
            })
            .await
            .unwrap();
        assert_eq!(v, 7);
        assert_eq!(n.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_server_costs_exactly_the_deadline() {
        let r = Resilience::new(policy());
        let start = Instant::now();
        let err = r
            .call(|_| async {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok::<_, Attempt>(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err, CloudError::Timeout(_)), "{err}");
        assert_eq!(start.elapsed(), Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn an_absurd_retry_after_gives_up_at_once() {
        let r = Resilience::new(policy());
        let n = AtomicU32::new(0);
        let start = Instant::now();
        let err = r
            .call(|_| async {
                n.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Attempt::Retry(
                    CloudError::Overloaded { retry_after: None },
                    Some(Duration::MAX),
                ))
            })
            .await
            .unwrap_err();
        assert!(matches!(err, CloudError::Overloaded { .. }), "{err}");
        assert_eq!(n.load(Ordering::SeqCst), 1, "no second attempt");
        assert_eq!(start.elapsed(), Duration::ZERO, "no waiting at all");
    }

    #[tokio::test(start_paused = true)]
    async fn fatal_errors_are_not_retried() {
        let r = Resilience::new(policy());
        let n = AtomicU32::new(0);
        let err = r
            .call(|_| async {
                n.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Attempt::Fatal(CloudError::Rejected {
                    status: 400,
                    message: "bad".into(),
                }))
            })
            .await
            .unwrap_err();
        assert!(matches!(err, CloudError::Rejected { status: 400, .. }));
        assert_eq!(n.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn breaker_opens_then_lets_one_trial_through_after_cooldown() {
        let r = Resilience::new(policy());
        let calls = AtomicU32::new(0);
        let fail = |_| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(Attempt::Fatal(unreachable()))
        };
        for _ in 0..2 {
            assert!(matches!(
                r.call(fail).await,
                Err(CloudError::Unreachable(_))
            ));
        }
        // Open: fails fast without calling.
        let before = calls.load(Ordering::SeqCst);
        let start = Instant::now();
        assert!(matches!(r.call(fail).await, Err(CloudError::CircuitOpen)));
        assert_eq!(calls.load(Ordering::SeqCst), before);
        assert_eq!(start.elapsed(), Duration::ZERO);
        tokio::time::advance(Duration::from_secs(1)).await;
        // Half-open: one trial goes through and, succeeding, closes the breaker.
        assert_eq!(r.call(|_| async { Ok::<_, Attempt>(1) }).await.unwrap(), 1);
        assert_eq!(r.call(|_| async { Ok::<_, Attempt>(2) }).await.unwrap(), 2);
    }

    #[test]
    fn breaker_state_machine_runs_on_given_time() {
        let t0 = std::time::Instant::now();
        let mut b = CircuitBreaker::new(3, Duration::from_secs(2));
        for i in 0..2 {
            assert!(b.admit(t0));
            b.record(false, t0);
            assert_eq!(b.state(), BreakerState::Closed { failures: i + 1 });
        }
        assert!(b.admit(t0));
        b.record(false, t0);
        let until = t0 + Duration::from_secs(2);
        assert_eq!(b.state(), BreakerState::Open { until });
        assert!(!b.admit(t0 + Duration::from_millis(1999)));
        assert!(b.admit(until), "one trial after the cooldown");
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(!b.admit(until), "only one trial at a time");
        b.record(false, until);
        assert_eq!(
            b.state(),
            BreakerState::Open {
                until: until + Duration::from_secs(2)
            },
            "a failed trial opens it again"
        );
        assert!(b.admit(until + Duration::from_secs(2)));
        b.record(true, until);
        assert_eq!(b.state(), BreakerState::Closed { failures: 0 });
        // A success resets the count of consecutive failures.
        b.record(false, t0);
        b.record(true, t0);
        b.record(false, t0);
        assert_eq!(b.state(), BreakerState::Closed { failures: 1 });
    }

    #[test]
    fn backoff_doubles_caps_and_scales_by_the_given_jitter() {
        let p = policy();
        let table = [
            (1, 1.0, 5),
            (2, 1.0, 10),
            (3, 1.0, 20),
            (4, 1.0, 20),
            (40, 1.0, 20),
            (2, 0.5, 5),
            (2, 0.0, 0),
            (2, f64::NAN, 0),
            (2, 7.0, 10),
            (0, 1.0, 5),
        ];
        for (retry, jitter, ms) in table {
            assert_eq!(
                backoff(&p, retry, jitter),
                Duration::from_millis(ms),
                "retry {retry}, jitter {jitter}"
            );
        }
    }
}
