//! A closed-loop load generator: N concurrent clients, each sending one-sample requests
//! back to back over the HTTP link, for a fixed number of requests.

use std::time::{Duration, Instant};

use meanet_core::CloudLink;
use meanet_transport::{HttpLink, HttpLinkConfig, RetryPolicy};
use ndarray::ArrayD;

/// What a load run measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadStats {
    /// Requests answered.
    pub ok: usize,
    /// Requests that failed.
    pub errors: usize,
    /// Answered requests per second.
    pub throughput: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
}

/// Runs `clients` concurrent clients, each sending `per_client` requests of `sample` to
/// `url`/v2/models/`model`/infer, and measures throughput and latency.
pub async fn run(
    url: &str,
    model: &str,
    sample: &ArrayD<f32>,
    clients: usize,
    per_client: usize,
) -> LoadStats {
    let retry = RetryPolicy {
        deadline: Duration::from_secs(30),
        retries: 0,
        ..RetryPolicy::default()
    };
    let link = std::sync::Arc::new(
        HttpLink::new(HttpLinkConfig {
            retry,
            ..HttpLinkConfig::new(url, model)
        })
        .expect("client"),
    );
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let link = std::sync::Arc::clone(&link);
            let x = sample.clone();
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(per_client);
                let mut errors = 0;
                for _ in 0..per_client {
                    let t = Instant::now();
                    match link.classify(x.clone()).await {
                        Ok(_) => lat.push(t.elapsed()),
                        Err(_) => errors += 1,
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("client task");
        lat.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed();
    lat.sort();
    let secs: Vec<f64> = lat.iter().map(Duration::as_secs_f64).collect();
    let pct = |p: f64| {
        Duration::from_secs_f64(meanet_core::numerics::percentile(&secs, p).unwrap_or(0.0))
    };
    LoadStats {
        ok: lat.len(),
        errors,
        throughput: lat.len() as f64 / elapsed.as_secs_f64(),
        p50: pct(0.5),
        p99: pct(0.99),
    }
}
