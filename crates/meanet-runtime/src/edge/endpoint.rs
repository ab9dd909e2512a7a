//! The edge runtime as a v2 model (`meanet edge`): requests of images in, one routing outcome
//! per sample out, with dynamic batching across requests on the worker thread that owns the
//! sessions. The transport's request service does auth, limits, decoding and deadlines, as for
//! `meanet serve`.

use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use meanet_core::batching::BatchWindow;
use meanet_core::{EnergyModel, Outcome};
use meanet_energy::OnnxEnergyModel;
use meanet_transport::protocol::{InputBatch, OutputData, OutputTensor};
use meanet_transport::{Endpoint, InferError, OutputInfo, TensorInfo};
use tokio::sync::oneshot;

use super::EdgeWorker;
use crate::metrics::RoutingMetrics;

/// The outputs of `meanet edge`, per sample.
pub const OUTPUTS: [(&str, &str); 5] = [
    ("class", "INT64"),
    ("exit", "BYTES"),
    ("degraded", "BOOL"),
    ("energy_j", "FP32"),
    ("bytes_sent", "INT64"),
];

struct Job {
    input: InputBatch,
    deadline: Option<Instant>,
    reply: Reply,
}

impl Job {
    fn rows(&self) -> usize {
        self.input.rows()
    }

    fn same_kind(&self, other: &Job) -> bool {
        matches!(
            (&self.input, &other.input),
            (InputBatch::U8(_), InputBatch::U8(_)) | (InputBatch::F32(_), InputBatch::F32(_))
        )
    }
}

/// Dynamic batching for the edge worker.
#[derive(Debug, Clone, Copy)]
pub struct EdgeBatching {
    /// Most samples routed together.
    pub max_batch: usize,
    /// Longest a request waits for others to join its batch.
    pub max_delay: Duration,
    /// Requests that may wait before new ones are refused (503).
    pub queue: usize,
}

/// The edge runtime behind the v2 endpoints.
pub struct EdgeEndpoint {
    tx: SyncSender<Job>,
    input: TensorInfo,
    channels: usize,
    outputs: Vec<OutputInfo>,
    energy: OnnxEnergyModel,
    metrics: Arc<RoutingMetrics>,
}

impl std::fmt::Debug for EdgeEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeEndpoint")
            .field("input", &self.input)
            .finish_non_exhaustive()
    }
}

impl EdgeEndpoint {
    /// Starts the worker thread, which owns `worker` until the endpoint is dropped. `input` is
    /// the bundle's input tensor name.
    pub fn start(
        worker: EdgeWorker,
        input_name: &str,
        energy: OnnxEnergyModel,
        metrics: Arc<RoutingMetrics>,
        batching: EdgeBatching,
    ) -> std::io::Result<Self> {
        let [c, h, w] = worker.sample_shape();
        let (tx, rx) = mpsc::sync_channel::<Job>(batching.queue.max(1));
        let m = Arc::clone(&metrics);
        std::thread::Builder::new()
            .name("meanet-edge".into())
            .spawn(move || run_worker(worker, &rx, batching, &m))?;
        Ok(EdgeEndpoint {
            tx,
            input: TensorInfo {
                name: input_name.to_string(),
                shape: vec![None, Some(c), Some(h), Some(w)],
            },
            channels: c,
            outputs: OUTPUTS
                .iter()
                .map(|(name, datatype)| OutputInfo {
                    name: (*name).to_string(),
                    datatype,
                    shape: vec![None],
                })
                .collect(),
            energy,
            metrics,
        })
    }

    /// The per-sample outputs of `outcomes`, pricing each and counting it in the metrics.
    fn outputs_of(&self, outcomes: &[Outcome]) -> Vec<OutputTensor> {
        let n = outcomes.len();
        let mut class = Vec::with_capacity(n);
        let mut exit = Vec::with_capacity(n);
        let mut degraded = Vec::with_capacity(n);
        let mut energy = Vec::with_capacity(n);
        let mut bytes = Vec::with_capacity(n);
        for o in outcomes {
            let e = self.energy.price(&o.cost);
            self.metrics.record(o, &e);
            class.push(i64::try_from(o.class).unwrap_or(i64::MAX));
            exit.push(o.exit.name().as_bytes().to_vec());
            degraded.push(o.degraded.is_some());
            energy.push(e.edge().0 as f32);
            bytes.push(i64::try_from(o.cost.bytes_sent.0).unwrap_or(i64::MAX));
        }
        let t = |name: &str, data| OutputTensor {
            name: name.to_string(),
            shape: vec![n],
            data,
        };
        vec![
            t("class", OutputData::Int64(class)),
            t("exit", OutputData::Bytes(exit)),
            t("degraded", OutputData::Bool(degraded)),
            t("energy_j", OutputData::Fp32(energy)),
            t("bytes_sent", OutputData::Int64(bytes)),
        ]
    }
}

#[async_trait]
impl Endpoint for EdgeEndpoint {
    fn input(&self) -> &TensorInfo {
        &self.input
    }

    fn input_datatype(&self) -> &'static str {
        "UINT8"
    }

    fn uint8_channels(&self) -> Option<usize> {
        Some(self.channels)
    }

    fn outputs(&self) -> &[OutputInfo] {
        &self.outputs
    }

    async fn infer(
        &self,
        input: InputBatch,
        deadline: Option<Instant>,
    ) -> Result<Vec<OutputTensor>, InferError> {
        let rows = input.rows();
        let (reply, rx) = oneshot::channel();
        self.tx
            .try_send(Job {
                input,
                deadline,
                reply,
            })
            .map_err(|e| match e {
                TrySendError::Full(_) => InferError::Overloaded,
                TrySendError::Disconnected(_) => InferError::Stopped,
            })?;
        let outcomes = rx.await.map_err(|_| InferError::Stopped)??;
        if outcomes.len() != rows {
            return Err(InferError::Model(format!(
                "{} outcomes for {rows} samples",
                outcomes.len()
            )));
        }
        Ok(self.outputs_of(&outcomes))
    }

    fn metrics(&self) -> String {
        self.metrics.encode()
    }
}

/// The worker loop: merges queued requests of one kind (UINT8 or FP32) up to `max_batch`
/// samples or `max_delay`, routes them as one batch and answers each with its own outcomes.
fn run_worker(
    mut worker: EdgeWorker,
    rx: &mpsc::Receiver<Job>,
    b: EdgeBatching,
    metrics: &RoutingMetrics,
) {
    let mut held: Option<Job> = None;
    loop {
        let first = match held.take() {
            Some(j) => j,
            None => match rx.recv() {
                Ok(j) => j,
                Err(_) => break,
            },
        };
        let mut jobs = vec![first];
        let mut samples = jobs[0].rows();
        let window = BatchWindow {
            max_batch: b.max_batch,
            max_wait: b.max_delay,
        };
        let opened = Instant::now();
        while let Some(wait) = window.wait(samples, opened, Instant::now()) {
            let next = match rx.recv_timeout(wait) {
                Ok(j) => j,
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            };
            if !next.same_kind(&jobs[0]) {
                held = Some(next);
                break;
            }
            samples += next.rows();
            jobs.push(next);
        }
        metrics.observe_batch(samples);
        route_jobs(&mut worker, jobs);
        if let Some(scale) = worker.scale() {
            metrics.set_scale(scale);
        }
        if let Some(link) = worker.link_estimate() {
            metrics.set_link(&link);
        }
        if let Some(balance) = worker.energy_balance() {
            metrics.set_energy_account(balance);
        }
        if let Some(share) = worker.share_target() {
            metrics.set_share_held(share);
        }
    }
    worker.drain();
}

/// The replies of a routed batch and the sample count of each, until one path answers them.
type Pending = Mutex<Option<(Vec<Reply>, Vec<usize>)>>;
type Reply = oneshot::Sender<Result<Vec<Outcome>, InferError>>;

fn route_jobs(worker: &mut EdgeWorker, jobs: Vec<Job>) {
    let now = Instant::now();
    let (live, late): (Vec<Job>, Vec<Job>) = jobs
        .into_iter()
        .partition(|j| j.deadline.is_none_or(|d| d > now) && !j.reply.is_closed());
    for j in late {
        let _ = j.reply.send(Err(InferError::DeadlineExceeded));
    }
    if live.is_empty() {
        return;
    }
    let sizes: Vec<usize> = live.iter().map(Job::rows).collect();
    let mut replies = Vec::with_capacity(live.len());
    let mut u8s = Vec::new();
    let mut f32s = Vec::new();
    for j in live {
        match j.input {
            InputBatch::U8(p) => u8s.extend(p.iter().copied()),
            InputBatch::F32(x) => f32s.extend(x.iter().copied()),
        }
        replies.push(j.reply);
    }
    let total: usize = sizes.iter().sum();
    // Shared by the callback and the error path below: whichever runs answers every request.
    let pending: Arc<Pending> = Arc::new(Mutex::new(Some((replies, sizes))));
    let take = |p: &Pending| p.lock().unwrap_or_else(PoisonError::into_inner).take();
    let mine = Arc::clone(&pending);
    let done = move |outcomes: Vec<Outcome>| {
        let Some((replies, sizes)) = take(&mine) else {
            return;
        };
        let mut rest = outcomes.into_iter();
        for (reply, n) in replies.into_iter().zip(sizes) {
            let answer: Vec<Outcome> = rest
                .by_ref()
                .take(n)
                .enumerate()
                .map(|(i, mut o)| {
                    o.index = i;
                    o
                })
                .collect();
            let _ = reply.send(Ok(answer));
        }
    };
    // A batch is all UINT8 or all FP32 (run_worker merges one kind only).
    let result = if f32s.is_empty() {
        worker.route_u8(&u8s, done).map_err(|e| e.to_string())
    } else {
        let [c, h, w] = worker.sample_shape();
        match ndarray::ArrayViewD::from_shape(ndarray::IxDyn(&[total, c, h, w]), &f32s) {
            Ok(x) => worker.route(x, done).map_err(|e| e.to_string()),
            Err(e) => Err(format!("input batch: {e}")),
        }
    };
    if let Err(message) = result
        && let Some((replies, _)) = take(&pending)
    {
        for r in replies {
            let _ = r.send(Err(InferError::Model(message.clone())));
        }
    }
}
