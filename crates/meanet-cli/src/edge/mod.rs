//! The edge runtime: a worker that owns the pipeline (and with it the inference sessions) and
//! routes batches on its own thread, with offloads overlapped with its work on later batches.
//!
//! - [`EdgeWorker`] normalises 8-bit pixels straight into a buffer it reuses, runs the edge path
//!   on the calling thread (no hand-off per batch), and answers each batch through a callback:
//!   at once when nothing is offloaded, else from an async task once the cloud has answered.
//!   At most `max_in_flight` offloads are in flight; the worker waits for a slot before it
//!   sends another, so memory stays bounded whatever the cloud's latency.
//! - [`Reorder`] puts the outcomes of batches answered out of order back in input order.
//! - [`StdinBatches`] cuts a byte stream into batches of whole samples, closing a batch when it
//!   is full or when its first sample has waited `max_wait`.
//!
//! The degraded rules are the pipeline's: a failed offload keeps the best edge answer, marked
//! degraded. Every sample of a batch given to [`EdgeWorker::route_u8`] gets exactly one outcome.

mod endpoint;

pub use endpoint::{EdgeBatching, EdgeEndpoint, OUTPUTS};

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use meanet_core::manifest::Manifest;
use meanet_core::online::OnlineRouting;
use meanet_core::{CloudErrorKind, CloudLink, Outcome, Pipeline, PipelineError, Seconds};
use meanet_transport::protocol::Normalisation;
use ndarray::{ArrayViewD, Axis, IxDyn};

/// Normalises 8-bit `[C, H, W]` samples with a bundle's per-channel mean and std (the
/// transport's [`Normalisation`], so a UINT8-taking cloud computes the very same values).
#[derive(Debug, Clone)]
pub struct Normaliser {
    shape: [usize; 3],
    norm: Normalisation,
}

impl Normaliser {
    /// The normalisation of `manifest`'s input: `(p / 255 - mean[c]) / std[c]`.
    pub fn new(manifest: &Manifest) -> Self {
        let i = &manifest.input;
        Normaliser {
            shape: [i.shape[0], i.shape[1], i.shape[2]],
            norm: Normalisation {
                mean: i.mean.clone(),
                std: i.std.clone(),
            },
        }
    }

    /// Bytes of one sample (`C * H * W`).
    pub fn sample_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// The sample shape `[C, H, W]`.
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }

    /// Normalises `pixels` (whole samples) into `out`, replacing its contents.
    pub fn normalise_into(&self, pixels: &[u8], out: &mut Vec<f32>) {
        self.norm
            .normalise_into(pixels, self.shape[1] * self.shape[2], out);
    }
}

/// Offloads in flight, bounded: a counter and a condition variable.
#[derive(Debug, Default)]
struct InFlight {
    count: Mutex<usize>,
    changed: Condvar,
}

impl InFlight {
    fn acquire(&self, max: usize) {
        let mut n = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        while *n >= max {
            n = self.changed.wait(n).unwrap_or_else(PoisonError::into_inner);
        }
        *n += 1;
    }

    fn release(&self) {
        let mut n = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        *n = n.saturating_sub(1);
        self.changed.notify_all();
    }

    fn wait_idle(&self) {
        let mut n = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        while *n > 0 {
            n = self.changed.wait(n).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Releases an in-flight slot when the offload task ends, however it ends.
struct Slot(Arc<InFlight>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// Why a batch given to the worker was not routed.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// The bytes are not a whole number of samples.
    #[error("{got} bytes are not a whole number of {per}-byte samples")]
    PartialSample {
        /// Bytes given.
        got: usize,
        /// Bytes per sample.
        per: usize,
    },
    /// The edge path failed on the batch.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
}

/// The edge worker: owns the pipeline, routes batches on the calling thread, overlaps offloads.
pub struct EdgeWorker {
    pipeline: Pipeline,
    norm: Normaliser,
    buf: Vec<f32>,
    cloud: Option<Arc<dyn CloudLink>>,
    rt: tokio::runtime::Handle,
    in_flight: Arc<InFlight>,
    max_in_flight: usize,
    online: Option<(OnlineRouting, Instant)>,
}

impl std::fmt::Debug for EdgeWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeWorker")
            .field("pipeline", &self.pipeline)
            .field("cloud", &self.cloud.is_some())
            .field("max_in_flight", &self.max_in_flight)
            .finish()
    }
}

impl EdgeWorker {
    /// A worker over `pipeline`, offloading over `cloud` (none: offloads degrade at once) with
    /// at most `max_in_flight` offloads in flight (0 counts as 1), spawned on `rt`.
    pub fn new(
        pipeline: Pipeline,
        norm: Normaliser,
        cloud: Option<Arc<dyn CloudLink>>,
        rt: tokio::runtime::Handle,
        max_in_flight: usize,
    ) -> Self {
        EdgeWorker {
            pipeline,
            norm,
            buf: Vec::new(),
            cloud,
            rt,
            in_flight: Arc::new(InFlight::default()),
            max_in_flight: max_in_flight.max(1),
            online: None,
        }
    }

    /// Routes under `online`: after each batch the controller sees what was routed and sets
    /// the thresholds for the next one.
    pub fn with_online(mut self, online: Option<OnlineRouting>) -> Self {
        if let Some(o) = &online {
            self.pipeline.set_policy(o.policy());
        }
        self.online = online.map(|o| (o, Instant::now()));
        self
    }

    /// The online controller's threshold scale (`None` without one).
    pub fn scale(&self) -> Option<f64> {
        self.online.as_ref().map(|(o, _)| o.controller().scale())
    }

    /// The normalisation of the bundle's input.
    pub fn normaliser(&self) -> &Normaliser {
        &self.norm
    }

    /// Routes a batch of whole 8-bit samples. `done` receives one outcome per sample (indices
    /// within this batch), at once or, when samples were offloaded, once the cloud has answered
    /// or failed. Blocks while `max_in_flight` offloads are in flight.
    pub fn route_u8(
        &mut self,
        pixels: &[u8],
        done: impl FnOnce(Vec<Outcome>) + Send + 'static,
    ) -> Result<(), EdgeError> {
        let per = self.norm.sample_len();
        if per == 0 || !pixels.len().is_multiple_of(per) {
            return Err(EdgeError::PartialSample {
                got: pixels.len(),
                per,
            });
        }
        let mut buf = std::mem::take(&mut self.buf);
        self.norm.normalise_into(pixels, &mut buf);
        let [c, h, w] = self.norm.shape();
        let shape = [pixels.len() / per, c, h, w];
        let result = match ArrayViewD::from_shape(IxDyn(&shape), &buf) {
            Ok(x) => self.route(x, done),
            // The length is n * C * H * W by construction.
            Err(_) => Err(EdgeError::PartialSample {
                got: pixels.len(),
                per,
            }),
        };
        self.buf = buf;
        result
    }

    /// Routes a normalised batch `(n, C, H, W)`; `done` as for [`route_u8`](Self::route_u8).
    pub fn route(
        &mut self,
        x: ArrayViewD<'_, f32>,
        done: impl FnOnce(Vec<Outcome>) + Send + 'static,
    ) -> Result<(), EdgeError> {
        let pass = self.pipeline.run_edge(x.view())?;
        if let Some((online, started)) = &mut self.online {
            let now = Seconds(started.elapsed().as_secs_f64());
            online.observe(now, &pass, self.pipeline.partition());
            self.pipeline.set_policy(online.policy());
        }
        let pass = match pass.settled() {
            Ok(outcomes) => {
                done(outcomes);
                return Ok(());
            }
            Err(pass) => pass,
        };
        let Some(cloud) = self.cloud.clone() else {
            done(pass.fail_offloads(CloudErrorKind::NotConfigured));
            return Ok(());
        };
        let sub = x.select(Axis(0), pass.offload());
        self.in_flight.acquire(self.max_in_flight);
        let slot = Slot(Arc::clone(&self.in_flight));
        self.rt.spawn(async move {
            let _slot = slot;
            let reply = cloud.classify(sub).await;
            done(pass.apply(reply));
        });
        Ok(())
    }

    /// Waits until every offload has been answered (or failed) and its `done` has run.
    pub fn drain(&self) {
        self.in_flight.wait_idle();
    }
}

/// Where [`Reorder`] hands outcomes, in input order.
pub trait Sink {
    /// One outcome, the next in input order.
    fn write(&mut self, outcome: Outcome);
    /// Called after the outcomes of a batch that completed the order have been written.
    fn batch_done(&mut self) {}
}

impl Sink for Vec<Outcome> {
    fn write(&mut self, outcome: Outcome) {
        self.push(outcome);
    }
}

/// Puts batches answered out of order back in order: batch `seq` is written once every batch
/// before it has been.
#[derive(Debug)]
pub struct Reorder<S> {
    next: u64,
    waiting: BTreeMap<u64, (usize, Vec<Outcome>)>,
    written: usize,
    sink: S,
}

impl<S: Sink> Reorder<S> {
    /// A reorder buffer that hands outcomes, in input order, to `sink`.
    pub fn new(sink: S) -> Self {
        Reorder {
            next: 0,
            waiting: BTreeMap::new(),
            written: 0,
            sink,
        }
    }

    /// The sink back.
    pub fn into_sink(self) -> S {
        self.sink
    }

    /// Adds batch `seq`, whose first sample has input index `first`; writes what is now in
    /// order. Outcomes get their input index.
    pub fn push(&mut self, seq: u64, first: usize, outcomes: Vec<Outcome>) {
        self.waiting.insert(seq, (first, outcomes));
        let before = self.next;
        while let Some((first, batch)) = self.waiting.remove(&self.next) {
            for mut o in batch {
                o.index += first;
                self.written += 1;
                self.sink.write(o);
            }
            self.next += 1;
        }
        if self.next != before {
            self.sink.batch_done();
        }
    }

    /// Outcomes written so far.
    pub fn written(&self) -> usize {
        self.written
    }

    /// Batches held back behind one still in flight.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }
}

/// A shared [`Reorder`], for the callbacks of [`EdgeWorker`].
pub type SharedReorder<S> = Arc<Mutex<Reorder<S>>>;

/// Adds a batch to a shared reorder buffer (poisoning is ignored: the buffer stays usable).
pub fn push_shared<S: Sink>(r: &SharedReorder<S>, seq: u64, first: usize, outcomes: Vec<Outcome>) {
    r.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(seq, first, outcomes);
}

/// Batches of whole samples cut from a byte stream that a reader thread reads as it arrives.
///
/// A batch is closed when it holds `max_batch` samples, or when its first sample has waited
/// `max_wait` (zero: route whatever whole samples have arrived). The stream's end closes the
/// last batch; bytes of an unfinished sample at the end are an error.
pub struct StdinBatches {
    rx: Receiver<std::io::Result<Vec<u8>>>,
    pending: Vec<u8>,
    per: usize,
    max_batch: usize,
    max_wait: Duration,
    ended: bool,
}

impl StdinBatches {
    /// Starts a thread that reads `input` in chunks as they come.
    pub fn new(
        input: impl Read + Send + 'static,
        per: usize,
        max_batch: usize,
        max_wait: Duration,
    ) -> Self {
        // A few chunks of read-ahead: the reader blocks when the edge falls behind.
        let (tx, rx) = mpsc::sync_channel(4);
        std::thread::spawn(move || {
            let mut input = input;
            loop {
                let mut chunk = vec![0u8; 64 << 10];
                match input.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => {
                        chunk.truncate(n);
                        if tx.send(Ok(chunk)).is_err() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        break;
                    }
                }
            }
        });
        StdinBatches {
            rx,
            pending: Vec::new(),
            per: per.max(1),
            max_batch: max_batch.max(1),
            max_wait,
            ended: false,
        }
    }

    fn whole(&self) -> usize {
        self.pending.len() / self.per
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let rest = self.pending.split_off(n * self.per);
        std::mem::replace(&mut self.pending, rest)
    }

    /// The next batch of whole samples, `None` at the end of the stream.
    pub fn next_batch(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        // Wait for a first whole sample.
        while self.whole() == 0 {
            if self.ended {
                if self.pending.is_empty() {
                    return Ok(None);
                }
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "the input ends inside a sample: {} bytes left over, each sample is {} bytes",
                        self.pending.len(),
                        self.per
                    ),
                ));
            }
            match self.rx.recv() {
                Ok(chunk) => self.pending.extend_from_slice(&chunk?),
                Err(_) => self.ended = true,
            }
        }
        // Let the batch fill until it is full, the wait is over or the stream ends.
        let until = Instant::now() + self.max_wait;
        while self.whole() < self.max_batch && !self.ended {
            let chunk = match self.rx.try_recv() {
                Ok(c) => c,
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.ended = true;
                    break;
                }
                Err(mpsc::TryRecvError::Empty) => {
                    let now = Instant::now();
                    if now >= until {
                        break;
                    }
                    match self.rx.recv_timeout(until - now) {
                        Ok(c) => c,
                        Err(RecvTimeoutError::Timeout) => break,
                        Err(RecvTimeoutError::Disconnected) => {
                            self.ended = true;
                            break;
                        }
                    }
                }
            };
            self.pending.extend_from_slice(&chunk?);
        }
        let n = self.whole().min(self.max_batch);
        Ok(Some(self.take(n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_matches_the_manifest_formula() {
        let norm = Normaliser {
            shape: [2, 1, 2],
            norm: Normalisation {
                mean: vec![0.25, 0.5],
                std: vec![0.5, 2.0],
            },
        };
        let mut out = vec![9.0; 3];
        norm.normalise_into(&[0, 255, 51, 102, 255, 0, 0, 0], &mut out);
        let want = |p: u8, m: f32, s: f32| (f32::from(p) / 255.0 - m) / s;
        let expect = [
            want(0, 0.25, 0.5),
            want(255, 0.25, 0.5),
            want(51, 0.5, 2.0),
            want(102, 0.5, 2.0),
            want(255, 0.25, 0.5),
            want(0, 0.25, 0.5),
            want(0, 0.5, 2.0),
            want(0, 0.5, 2.0),
        ];
        assert_eq!(out.len(), 8);
        for (a, b) in out.iter().zip(expect) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }

    #[test]
    fn stream_batches_close_when_full_and_at_the_end() {
        let bytes: Vec<u8> = (0..10 * 3).map(|i| i as u8).collect();
        let mut s = StdinBatches::new(std::io::Cursor::new(bytes), 3, 4, Duration::from_secs(5));
        let mut sizes = Vec::new();
        let mut all = Vec::new();
        while let Some(b) = s.next_batch().unwrap() {
            sizes.push(b.len() / 3);
            all.extend(b);
        }
        assert_eq!(sizes.iter().sum::<usize>(), 10);
        assert!(sizes.iter().all(|&n| (1..=4).contains(&n)), "{sizes:?}");
        assert_eq!(all, (0..30).map(|i| i as u8).collect::<Vec<_>>());
    }

    #[test]
    fn a_partial_sample_at_the_end_is_an_error() {
        let mut s = StdinBatches::new(std::io::Cursor::new(vec![1u8; 7]), 3, 4, Duration::ZERO);
        assert_eq!(s.next_batch().unwrap().map(|b| b.len()), Some(6));
        let e = s.next_batch().unwrap_err();
        assert!(e.to_string().contains("1 bytes left over"), "{e}");
    }

    #[test]
    fn a_slow_stream_is_batched_by_the_wait_not_held_back() {
        let (tx, rx) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut s = StdinBatches::new(rx, 2, 64, Duration::from_millis(20));
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            let mut tx = tx;
            tx.write_all(&[1, 2, 3, 4]).unwrap();
            std::thread::sleep(Duration::from_millis(300));
            tx.write_all(&[5, 6]).unwrap();
        });
        let first = s.next_batch().unwrap().unwrap();
        assert_eq!(first, vec![1, 2, 3, 4], "two samples, closed by the wait");
        let second = s.next_batch().unwrap().unwrap();
        assert_eq!(second, vec![5, 6]);
        assert!(s.next_batch().unwrap().is_none());
        writer.join().unwrap();
    }

    #[test]
    fn reorder_writes_in_input_order() {
        let mk = |i: usize| Outcome {
            index: i,
            class: i,
            exit: meanet_core::Exit::Main,
            main: meanet_core::Scores::from_logits(&[1.0, 0.0]).unwrap(),
            extension: None,
            cloud: None,
            reason: meanet_core::RouteReason::EasyConfident,
            cost: meanet_core::SampleCost::default(),
            degraded: None,
            cloud_latency: None,
        };
        let mut r = Reorder::new(Vec::new());
        r.push(1, 2, vec![mk(0), mk(1)]);
        assert_eq!(r.waiting(), 1);
        assert_eq!(r.written(), 0);
        r.push(2, 4, vec![mk(0)]);
        r.push(0, 0, vec![mk(0), mk(1)]);
        assert_eq!(r.written(), 5);
        let seen: Vec<usize> = r.into_sink().iter().map(|o| o.index).collect();
        assert_eq!(seen, vec![0, 1, 2, 3, 4]);
    }
}
