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
