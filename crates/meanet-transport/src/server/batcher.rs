//! Dynamic batching: requests are merged up to a maximum batch size or a maximum queue delay,
//! run on one worker thread that owns the model, and split back.
//!
//! The queue is bounded: when it is full, [`Batcher::submit`] refuses at once
//! ([`InferError::Overloaded`]) instead of growing memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use meanet_core::batching::BatchWindow;

use ndarray::{Array2, ArrayD, Axis};
use tokio::sync::oneshot;

use super::metrics::Metrics;
use crate::{ServedModel, rows};

/// Batching limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    /// Most samples merged into one model run (1 turns batching off).
    pub max_batch: usize,
    /// Longest a request waits for others to join its batch.
    pub max_delay: Duration,
    /// Requests that may wait in the queue before new ones are refused.
    pub queue_capacity: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_batch: 32,
            max_delay: Duration::from_millis(2),
            queue_capacity: 256,
        }
    }
}

/// Why a submitted request got no logits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InferError {
    /// The queue is full; retry later.
    #[error("server overloaded: the request queue is full")]
    Overloaded,
    /// The request's deadline passed before the model ran it.
    #[error("deadline exceeded before inference")]
    DeadlineExceeded,
    /// The model failed on the batch.
    #[error("model failed: {0}")]
    Model(String),
    /// The worker stopped (the server is shutting down).
    #[error("inference worker stopped")]
    Stopped,
}

struct Job {
    input: ArrayD<f32>,
    deadline: Option<Instant>,
    reply: oneshot::Sender<Result<Array2<f32>, InferError>>,
}

/// Handle to the batching worker. Cloning shares the worker.
#[derive(Clone)]
pub struct Batcher {
    tx: SyncSender<Job>,
    depth: Arc<AtomicUsize>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Batcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("depth", &self.depth.load(Ordering::Relaxed))
            .finish()
    }
}

impl Batcher {
    /// Starts the worker thread, which owns `model` until every handle is dropped.
    pub(crate) fn start(
        model: Box<dyn ServedModel>,
        config: BatchConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        let (tx, rx) = mpsc::sync_channel::<Job>(config.queue_capacity.max(1));
        let depth = Arc::new(AtomicUsize::new(0));
        let worker_depth = Arc::clone(&depth);
        let worker_metrics = Arc::clone(&metrics);
        std::thread::Builder::new()
            .name("meanet-batcher".into())
            .spawn(move || worker(model, config, rx, worker_depth, worker_metrics))
            .map(drop)
            .unwrap_or_else(|e| tracing::error!("could not start the batching worker: {e}"));
        Batcher { tx, depth, metrics }
    }

    /// Queues a batch `(n, ...)` for inference; the receiver yields its `(n, classes)` logits.
    pub fn submit(
        &self,
        input: ArrayD<f32>,
        deadline: Option<Instant>,
    ) -> Result<oneshot::Receiver<Result<Array2<f32>, InferError>>, InferError> {
        let (reply, rx) = oneshot::channel();
        self.depth.fetch_add(1, Ordering::SeqCst);
        match self.tx.try_send(Job {
            input,
            deadline,
            reply,
        }) {
            Ok(()) => {
                self.metrics.queue_depth.set(self.depth() as i64);
                Ok(rx)
            }
            Err(e) => {
                self.depth.fetch_sub(1, Ordering::SeqCst);
                Err(match e {
                    TrySendError::Full(_) => InferError::Overloaded,
                    TrySendError::Disconnected(_) => InferError::Stopped,
                })
            }
        }
    }

    /// Requests waiting in the queue.
    pub fn depth(&self) -> usize {
        self.depth.load(Ordering::SeqCst)
    }
}

fn worker(
    mut model: Box<dyn ServedModel>,
    config: BatchConfig,
    rx: mpsc::Receiver<Job>,
    depth: Arc<AtomicUsize>,
    metrics: Arc<Metrics>,
) {
    let take = |job: Job| {
        depth.fetch_sub(1, Ordering::SeqCst);
        metrics.queue_depth.set(depth.load(Ordering::SeqCst) as i64);
        job
    };
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![take(first)];
        let mut queued = rows(&jobs[0].input);
        let window = BatchWindow {
            max_batch: config.max_batch,
            max_wait: config.max_delay,
        };
        let opened = Instant::now();
        while let Some(wait) = window.wait(queued, opened, Instant::now()) {
            match rx.recv_timeout(wait) {
                Ok(job) => {
                    let job = take(job);
                    queued += rows(&job.input);
                    jobs.push(job);
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        run_batch(model.as_mut(), jobs, &metrics);
    }
}

fn run_batch(model: &mut dyn ServedModel, jobs: Vec<Job>, metrics: &Metrics) {
    let now = Instant::now();
    let (live, expired): (Vec<Job>, Vec<Job>) = jobs
        .into_iter()
        .partition(|j| j.deadline.is_none_or(|d| d > now) && !j.reply.is_closed());
    for j in expired {
        let _ = j.reply.send(Err(InferError::DeadlineExceeded));
    }
    if live.is_empty() {
        return;
    }
    let sizes: Vec<usize> = live.iter().map(|j| rows(&j.input)).collect();
    let views: Vec<_> = live.iter().map(|j| j.input.view()).collect();
    let batch = match ndarray::concatenate(Axis(0), &views) {
        Ok(b) => b,
        Err(e) => {
            // Requests of different sample shapes cannot share a run: answer each alone.
            drop(views);
            if live.len() > 1 {
                for j in live {
                    run_batch(model, vec![j], metrics);
                }
            } else {
                for j in live {
                    let _ = j.reply.send(Err(InferError::Model(e.to_string())));
                }
            }
            return;
        }
    };
    drop(views);
    metrics.batch_size.observe(batch.shape()[0] as f64);
    match model.infer(batch.view()) {
        Ok(logits) if logits.nrows() == batch.shape()[0] => {
            let mut start = 0;
            for (j, n) in live.into_iter().zip(sizes) {
                let part = logits
                    .slice_axis(Axis(0), (start..start + n).into())
                    .to_owned();
                start += n;
                let _ = j.reply.send(Ok(part));
            }
        }
        Ok(logits) => {
            let msg = format!(
                "model returned {} rows for a batch of {}",
                logits.nrows(),
                batch.shape()[0]
            );
            for j in live {
                let _ = j.reply.send(Err(InferError::Model(msg.clone())));
            }
        }
        Err(e) => {
            let msg = e.to_string();
            for j in live {
                let _ = j.reply.send(Err(InferError::Model(msg.clone())));
            }
        }
    }
}
