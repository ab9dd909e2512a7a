//! Prometheus routing metrics of the edge runtime (`meanet run --metrics`, `meanet edge`):
//! exits by tier, degraded outcomes by cause, the circuit breaker, offload latency, energy and
//! bytes totals, and the live offload share beside the calibrated target.

use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};

use meanet_core::online::EdgeAccuracy;
use meanet_core::{ClassPartition, EnergyBreakdown, Exit, Outcome, Target};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Samples in the sliding window of the live offload share.
pub const SHARE_WINDOW: usize = 1000;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExitLabel {
    exit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseLabel {
    cause: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabel {
    class: String,
}

/// Half-life, in offloaded samples of a class, of the edge-accuracy estimate.
pub const ACCURACY_HALF_LIFE: f64 = 500.0;

/// The classes, partition and running estimate behind `meanet_edge_accuracy_estimate`.
struct Accuracy {
    names: Vec<String>,
    partition: ClassPartition,
    estimate: EdgeAccuracy,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

/// Reads the cloud link's circuit-breaker state: `closed`, `open` or `half_open`.
pub type BreakerProbe = Arc<dyn Fn() -> &'static str + Send + Sync>;

/// The routing metrics and their registry.
pub struct RoutingMetrics {
    exits: Family<ExitLabel, Counter>,
    degraded: Family<CauseLabel, Counter>,
    breaker: Family<StateLabel, Gauge>,
    offload_latency: Histogram,
    edge_energy: Counter<f64, std::sync::atomic::AtomicU64>,
    bytes_sent: Counter,
    bytes_received: Counter,
    share: Gauge<f64, AtomicU64>,
    target: Gauge<f64, AtomicU64>,
    batch_size: Histogram,
    scale: Gauge<f64, AtomicU64>,
    edge_accuracy: Family<ClassLabel, Gauge<f64, AtomicU64>>,
    accuracy: Mutex<Option<Accuracy>>,
    window: Mutex<(VecDeque<bool>, usize)>,
    probe: Mutex<Option<BreakerProbe>>,
    withheld: Family<CauseLabel, Counter>,
    latency: Histogram,
    link: Family<LinkLabel, Gauge<f64, AtomicU64>>,
    held: Gauge<f64, AtomicU64>,
    registry: Registry,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LinkLabel {
    estimate: &'static str,
}

impl std::fmt::Debug for RoutingMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoutingMetrics").finish_non_exhaustive()
    }
}

impl RoutingMetrics {
    /// Metrics of a deployment calibrated for `target` (`offload=0.2`; other targets, or none,
    /// leave `meanet_offload_share_target` at -1).
    pub fn new(target: Option<String>) -> Self {
        let exits = Family::<ExitLabel, Counter>::default();
        let degraded = Family::<CauseLabel, Counter>::default();
        let breaker = Family::<StateLabel, Gauge>::default();
        let offload_latency = Histogram::new([
            0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
        ]);
        let edge_energy = Counter::<f64, AtomicU64>::default();
        let batch_size = Histogram::new([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]);
        let (bytes_sent, bytes_received) = (Counter::default(), Counter::default());
        let share = Gauge::<f64, AtomicU64>::default();
        let target_gauge = Gauge::<f64, AtomicU64>::default();
        let offload_target = match target.as_deref().map(Target::parse) {
            Some(Ok(Target::MaxOffload(f))) => f,
            _ => -1.0,
        };
        target_gauge.set(offload_target);
        let mut r = Registry::with_prefix("meanet");
        r.register("exits", "Outcomes by the exit that answered", exits.clone());
        r.register(
            "degraded",
            "Outcomes meant for the cloud but answered on the edge, by cause",
            degraded.clone(),
        );
        r.register(
            "circuit_breaker",
            "The cloud link's circuit breaker: 1 for its current state",
            breaker.clone(),
        );
        r.register(
            "offload_latency_seconds",
            "Cloud round trip of each offloaded sub-batch",
            offload_latency.clone(),
        );
        r.register(
            "edge_energy_joules",
            "Edge energy spent (compute, memory, radio)",
            edge_energy.clone(),
        );
        r.register("bytes_sent", "Bytes sent to the cloud", bytes_sent.clone());
        r.register(
            "bytes_received",
            "Bytes received from the cloud",
            bytes_received.clone(),
        );
        r.register(
            "offload_share",
            "Share of the last 1000 samples routed to the cloud (answered there or degraded)",
            share.clone(),
        );
        r.register(
            "offload_share_target",
            "The offload share the thresholds were calibrated for (-1: not an offload target)",
            target_gauge.clone(),
        );
        r.register(
            "edge_batch_size",
            "Samples per edge batch",
            batch_size.clone(),
        );
        let scale = Gauge::<f64, AtomicU64>::default();
        scale.set(1.0);
        r.register(
            "threshold_scale",
            "What the calibrated thresholds are multiplied by (the online controller's knob; 1 without it)",
            scale.clone(),
        );
        let edge_accuracy = Family::<ClassLabel, Gauge<f64, AtomicU64>>::default();
        r.register(
            "edge_accuracy_estimate",
            "Per class the edge predicted: how often its answer agreed with the cloud's on offloaded samples (running, half-life 500 samples)",
            edge_accuracy.clone(),
        );
        let withheld = Family::<CauseLabel, Counter>::default();
        r.register(
            "withheld",
            "Outcomes meant for the cloud that the link's budgets kept at the edge, by reason",
            withheld.clone(),
        );
        let latency = Histogram::new([
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 10.0,
        ]);
        r.register(
            "sample_latency_seconds",
            "From a sample's arrival at the edge to its answer",
            latency.clone(),
        );
        let link = Family::<LinkLabel, Gauge<f64, AtomicU64>>::default();
        r.register(
            "link",
            "The link as the edge measures it: srtt_seconds, rttvar_seconds, min_rtt_seconds (network only), server_seconds (the server's own time, as it reports it), goodput_bits_per_second, outstanding_bytes, down (1 or 0); -1 until measured; energy_account_joules (what the energy budget's account holds, with one)",
            link.clone(),
        );
        let held = Gauge::<f64, AtomicU64>::default();
        held.set(-1.0);
        r.register(
            "offload_share_held",
            "The offload share the online controller holds now: its target, or less when the energy budget or the uplink cap cannot afford it (-1: no controller)",
            held.clone(),
        );
        RoutingMetrics {
            held,
            withheld,
            latency,
            link,
            exits,
            batch_size,
            degraded,
            breaker,
            offload_latency,
            edge_energy,
            bytes_sent,
            bytes_received,
            share,
            target: target_gauge,
            scale,
            edge_accuracy,
            accuracy: Mutex::new(None),
            window: Mutex::new((VecDeque::with_capacity(SHARE_WINDOW), 0)),
            probe: Mutex::new(None),
            registry: r,
        }
    }

    /// Reads the circuit breaker through `probe` at each scrape.
    pub fn watch_breaker(&self, probe: BreakerProbe) {
        *self.probe.lock().unwrap_or_else(PoisonError::into_inner) = Some(probe);
    }

    /// Estimates the edge's accuracy per class from the cloud's answers on offloaded samples,
    /// labelled with `names` (the bundle's classes).
    pub fn with_classes(self, names: Vec<String>, partition: ClassPartition) -> Self {
        let estimate = EdgeAccuracy::new(names.len(), ACCURACY_HALF_LIFE);
        *self.accuracy.lock().unwrap_or_else(PoisonError::into_inner) = Some(Accuracy {
            names,
            partition,
            estimate,
        });
        self
    }

    /// Sets the online controller's threshold scale.
    pub fn set_scale(&self, scale: f64) {
        self.scale.set(scale);
    }

    /// Sets the share the online controller holds.
    pub fn set_share_held(&self, share: f64) {
        self.held.set(share);
    }

    /// Sets the link gauges from the worker's estimate.
    pub fn set_link(&self, e: &meanet_core::link::LinkEstimate) {
        let or = |v: Option<f64>| v.unwrap_or(-1.0);
        for (estimate, value) in [
            ("srtt_seconds", or(e.srtt.map(|s| s.0))),
            ("rttvar_seconds", e.rttvar.0),
            ("min_rtt_seconds", or(e.min_rtt.map(|s| s.0))),
            ("server_seconds", or(e.server.map(|s| s.0))),
            ("goodput_bits_per_second", or(e.goodput_bps)),
            ("outstanding_bytes", e.outstanding.0 as f64),
            ("down", f64::from(u8::from(e.down))),
        ] {
            self.link.get_or_create(&LinkLabel { estimate }).set(value);
        }
    }

    /// Sets what the energy budget's account holds (`link{estimate="energy_account_joules"}`).
    pub fn set_energy_account(&self, balance: meanet_core::Joules) {
        self.link
            .get_or_create(&LinkLabel {
                estimate: "energy_account_joules",
            })
            .set(balance.0);
    }

    /// Counts one edge batch of `samples`.
    pub fn observe_batch(&self, samples: usize) {
        self.batch_size.observe(samples as f64);
    }

    /// Counts one outcome and its priced energy.
    pub fn record(&self, o: &Outcome, energy: &EnergyBreakdown) {
        self.exits
            .get_or_create(&ExitLabel {
                exit: o.exit.name(),
            })
            .inc();
        if let Some(kind) = o.degraded {
            self.degraded
                .get_or_create(&CauseLabel { cause: kind.name() })
                .inc();
        }
        if let Some(why) = o.withheld {
            self.withheld
                .get_or_create(&CauseLabel { cause: why.name() })
                .inc();
        }
        if let Some(l) = o.latency {
            self.latency.observe(l.0);
        }
        // Each sample of a sub-batch carries its round trip: observe it once per sub-batch
        // would need the batch; per sample weights it by samples, which is what a user feels.
        if let Some(l) = o.cloud_latency {
            self.offload_latency.observe(l.0);
        }
        if let (Exit::Cloud, Some(cloud)) = (o.exit, &o.cloud) {
            let mut a = self.accuracy.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(a) = a.as_mut() {
                let edge = o
                    .extension
                    .and_then(|x| a.partition.from_hard(x.class))
                    .unwrap_or(o.main.class);
                a.estimate.record(edge, cloud.class);
                if let (Some(name), Some(v)) = (a.names.get(edge), a.estimate.estimate(edge)) {
                    self.edge_accuracy
                        .get_or_create(&ClassLabel {
                            class: name.clone(),
                        })
                        .set(v);
                }
            }
        }
        self.edge_energy.inc_by(energy.edge().0);
        self.bytes_sent.inc_by(o.cost.bytes_sent.0);
        self.bytes_received.inc_by(o.cost.bytes_received.0);
        let offloaded = o.exit == Exit::Cloud || o.degraded.is_some();
        let mut w = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        let (ring, count) = &mut *w;
        if ring.len() == SHARE_WINDOW && ring.pop_front() == Some(true) {
            *count -= 1;
        }
        ring.push_back(offloaded);
        *count += usize::from(offloaded);
        self.share.set(*count as f64 / ring.len() as f64);
    }

    /// The live offload share (over the last [`SHARE_WINDOW`] samples).
    pub fn offload_share(&self) -> f64 {
        self.share.get()
    }

    /// The calibrated offload target, if the thresholds were calibrated for one.
    pub fn offload_target(&self) -> Option<f64> {
        let t = self.target.get();
        (t >= 0.0).then_some(t)
    }

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> String {
        let probe = self
            .probe
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(probe) = probe {
            let now = probe();
            for state in ["closed", "open", "half_open"] {
                self.breaker
                    .get_or_create(&StateLabel { state })
                    .set(i64::from(state == now));
            }
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests;
