//! Prometheus metrics of the server.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StatusLabel {
    pub(crate) protocol: String,
    pub(crate) status: u16,
}

/// The server's metrics and their registry.
#[derive(Debug)]
pub(crate) struct Metrics {
    pub(crate) requests: Family<StatusLabel, Counter>,
    pub(crate) batch_size: Histogram,
    pub(crate) queue_depth: Gauge,
    pub(crate) latency: Histogram,
    registry: Registry,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let requests = Family::<StatusLabel, Counter>::default();
        let batch_size = Histogram::new([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0]);
        let queue_depth = Gauge::default();
        let latency = Histogram::new([
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ]);
        let mut registry = Registry::with_prefix("meanet");
        registry.register(
            "requests",
            "Inference requests by protocol and status",
            requests.clone(),
        );
        registry.register("batch_size", "Samples per model run", batch_size.clone());
        registry.register(
            "queue_depth",
            "Requests waiting for the model",
            queue_depth.clone(),
        );
        registry.register(
            "request_latency_seconds",
            "Inference request latency",
            latency.clone(),
        );
        Metrics {
            requests,
            batch_size,
            queue_depth,
            latency,
            registry,
        }
    }

    pub(crate) fn count(&self, protocol: &str, status: u16) {
        self.requests
            .get_or_create(&StatusLabel {
                protocol: protocol.to_string(),
                status,
            })
            .inc();
    }

    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
