//! [`EdgeStream`]: a stream of 8-bit batches through an [`EdgeWorker`], every outcome handed to
//! a sink in input order, with routing metrics recorded on the way.

use std::sync::{Arc, Mutex, PoisonError};

use meanet_core::{EnergyModel, Outcome};

use super::{EdgeError, EdgeWorker, Reorder, SharedReorder, Sink, push_shared};
use crate::metrics::RoutingMetrics;

/// Why a stream could not account for every sample it routed.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// Fewer (or more) outcomes reached the sink than samples were routed.
    #[error("{routed} samples were routed but {written} outcomes came back")]
    Lost {
        /// Samples given to [`EdgeStream::route`].
        routed: usize,
        /// Outcomes the sink received.
        written: usize,
    },
    /// An offload callback still holds the sink after the drain (a bug, reported, not hidden).
    #[error("outcomes still in flight after the drain")]
    InFlight,
}

/// The sink, with metrics recorded for each outcome before it is handed on.
struct Recorded<S> {
    inner: S,
    metrics: Option<(Arc<RoutingMetrics>, Arc<dyn EnergyModel>)>,
}

impl<S: Sink> Sink for Recorded<S> {
    fn write(&mut self, outcome: Outcome) {
        if let Some((m, energy)) = &self.metrics {
            m.record(&outcome, &energy.price(&outcome.cost));
        }
        self.inner.write(outcome);
    }

    fn batch_done(&mut self) {
        self.inner.batch_done();
    }
}

/// Routes batches of whole 8-bit samples as they come and hands every outcome to a [`Sink`],
/// in input order, exactly once: what `meanet run` does with a file or stdin.
///
/// Offloads overlap with the edge's work on later batches (up to the worker's
/// `max_in_flight`); [`finish`](Self::finish) waits for them and checks that every routed
/// sample got its outcome.
pub struct EdgeStream<S: Sink + Send + 'static> {
    worker: EdgeWorker,
    sink: SharedReorder<Recorded<S>>,
    metrics: Option<Arc<RoutingMetrics>>,
    routed: usize,
    seq: u64,
}

impl<S: Sink + Send + 'static> EdgeStream<S> {
    /// A stream through `worker` into `sink`.
    pub fn new(worker: EdgeWorker, sink: S) -> Self {
        let sink = Recorded {
            inner: sink,
            metrics: None,
        };
        EdgeStream {
            worker,
            sink: Arc::new(Mutex::new(Reorder::new(sink))),
            metrics: None,
            routed: 0,
            seq: 0,
        }
    }

    /// Records every batch and outcome in `metrics`, pricing outcomes with `energy`.
    pub fn with_metrics(self, metrics: Arc<RoutingMetrics>, energy: Arc<dyn EnergyModel>) -> Self {
        self.sink
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .sink_mut()
            .metrics = Some((Arc::clone(&metrics), energy));
        EdgeStream {
            metrics: Some(metrics),
            ..self
        }
    }

    /// Routes one batch of whole samples (`n * C * H * W` bytes).
    pub fn route(&mut self, pixels: &[u8]) -> Result<(), EdgeError> {
        let n = pixels.len() / self.worker.sample_len().max(1);
        if let Some(m) = &self.metrics {
            m.observe_batch(n);
        }
        let (first, seq) = (self.routed, self.seq);
        let sink = Arc::clone(&self.sink);
        self.worker.route_u8(pixels, move |outcomes| {
            push_shared(&sink, seq, first, outcomes);
        })?;
        if let (Some(m), Some(scale)) = (&self.metrics, self.worker.scale()) {
            m.set_scale(scale);
        }
        if let (Some(m), Some(link)) = (&self.metrics, self.worker.link_estimate()) {
            m.set_link(&link);
        }
        if let (Some(m), Some(balance)) = (&self.metrics, self.worker.energy_balance()) {
            m.set_energy_account(balance);
        }
        if let (Some(m), Some(share)) = (&self.metrics, self.worker.share_target()) {
            m.set_share_held(share);
        }
        self.routed += n;
        self.seq += 1;
        Ok(())
    }

    /// Samples routed so far.
    pub fn routed(&self) -> usize {
        self.routed
    }

    /// The worker (its online controller's scale, its sample shape).
    pub fn worker(&self) -> &EdgeWorker {
        &self.worker
    }

    /// Waits for every offload in flight, then returns the sink, once every routed sample's
    /// outcome has reached it.
    pub fn finish(self) -> Result<S, StreamError> {
        self.worker.drain();
        drop(self.worker);
        let reorder = Arc::try_unwrap(self.sink)
            .map_err(|_| StreamError::InFlight)?
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        let written = reorder.written();
        if written != self.routed {
            return Err(StreamError::Lost {
                routed: self.routed,
                written,
            });
        }
        Ok(reorder.into_sink().inner)
    }
}
