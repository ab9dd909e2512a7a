//! Deadlines, retries with jittered exponential backoff, and a circuit breaker, shared by the
//! HTTP and QUIC clients. Time comes from `tokio::time`, so tests run it paused.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use meanet_core::{CloudError, Seconds};
use tokio::time::Instant;

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

/// Classifies a server's error status the same way for every transport: 503 is load shedding
/// (retried, honouring `retry_after`), 504 a deadline the server gave up on, anything else a
/// rejection that retrying would not change.
pub(crate) fn server_failure(
    status: u16,
    message: String,
    retry_after: Option<Duration>,
    deadline: Duration,
) -> Attempt {
    match status {
        503 => Attempt::Retry(
            CloudError::Overloaded {
                retry_after: retry_after.map(|d| Seconds(d.as_secs_f64())),
            },
            retry_after,
        ),
        504 => Attempt::Fatal(CloudError::Timeout(Seconds(deadline.as_secs_f64()))),
        _ => Attempt::Fatal(CloudError::Rejected { status, message }),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Breaker {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen,
}

/// Runs attempts under a policy.
#[derive(Debug)]
pub(crate) struct Resilience {
    policy: RetryPolicy,
    breaker: Mutex<Breaker>,
}

impl Resilience {
    pub(crate) fn new(policy: RetryPolicy) -> Self {
        Resilience {
            policy,
            breaker: Mutex::new(Breaker::Closed { failures: 0 }),
        }
    }

    fn admit(&self) -> Result<(), CloudError> {
        let mut b = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
        match *b {
            Breaker::Closed { .. } => Ok(()),
            Breaker::Open { until } if Instant::now() >= until => {
                *b = Breaker::HalfOpen;
                Ok(())
            }
            Breaker::Open { .. } | Breaker::HalfOpen => Err(CloudError::CircuitOpen),
        }
    }

    fn record(&self, ok: bool) {
        let mut b = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
        *b = match (*b, ok) {
            (_, true) => Breaker::Closed { failures: 0 },
            (Breaker::Closed { failures }, false)
                if failures + 1 < self.policy.breaker_threshold =>
            {
                Breaker::Closed {
                    failures: failures + 1,
                }
            }
            (_, false) => Breaker::Open {
                until: Instant::now() + self.policy.breaker_cooldown,
            },
        };
    }

    /// Calls `attempt(remaining)` until it succeeds, fails fatally, retries run out or the
    /// deadline passes. Never waits past the deadline.
    pub(crate) async fn call<T, F, Fut>(&self, mut attempt: F) -> Result<T, CloudError>
    where
        F: FnMut(Duration) -> Fut,
        Fut: Future<Output = Result<T, Attempt>>,
    {
        self.admit()?;
        let deadline = Instant::now() + self.policy.deadline;
        let timeout = || CloudError::Timeout(Seconds(self.policy.deadline.as_secs_f64()));
        let mut tries = 0u32;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
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
                    // A rejected request (4xx) says nothing about the server's health.
                    self.record(matches!(e, CloudError::Rejected { status, .. } if status < 500));
                    return Err(e);
                }
                Err(Attempt::Retry(e, hint)) => {
                    tries += 1;
                    if tries > self.policy.retries {
                        self.record(false);
                        return Err(e);
                    }
                    let exp = self
                        .policy
                        .backoff_base
                        .saturating_mul(1 << (tries - 1).min(16));
                    let cap = exp.min(self.policy.backoff_max);
                    let jitter = cap.mul_f64(fastrand::f64());
                    let wait = hint.map_or(jitter, |h| h.max(jitter));
                    let left = deadline.saturating_duration_since(Instant::now());
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
}
