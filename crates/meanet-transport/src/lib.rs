//! meanet's cloud link: the Open Inference Protocol v2 (the KServe v2 REST API, also spoken by
//! NVIDIA Triton, Seldon MLServer and OpenVINO Model Server) over HTTP, and the same request and
//! response over QUIC.
//!
//! - Server ([`Server`]): serves one model behind the v2 endpoints (JSON tensors and the binary
//!   tensor data extension), with dynamic batching on a worker thread that owns the model, a
//!   bounded queue that answers 503 + Retry-After when full, body size limits, per-request
//!   deadlines, optional bearer-token auth, TLS, Prometheus metrics and graceful shutdown. It can
//!   listen on QUIC at the same time. One transport-neutral request service owns auth, limits,
//!   decoding against the model and the deadline; HTTP and QUIC only frame it, so every check
//!   holds on both ([`ServiceError`] carries the status code).
//! - Clients ([`HttpLink`], [`QuicLink`]) implement `meanet_core::CloudLink`: connection reuse,
//!   per-call deadline, jittered exponential backoff on failures that are safe to retry, and a
//!   circuit breaker so a dead cloud costs nothing after the first failures. Every failure is a
//!   matchable `CloudError`, so the pipeline answers on the edge and marks the sample degraded.
//!
//! Layout: `protocol/` (v2 messages and QUIC frames, decoders of hostile bytes), `server/`
//! (`service`, `http`, `quic`, `batcher`, `metrics`), `client/` (`http`, `quic`, `resilience`),
//! `tls`.
//!
//! The served model is the sync [`ServedModel`] port; the `meanet` binary plugs an ONNX Runtime
//! classifier into it. This crate depends on `meanet-core` and on no other adapter.

mod client;
pub mod protocol;
mod server;
mod tls;

pub use client::{
    BreakerState, CircuitBreaker, HttpLink, HttpLinkConfig, MAX_RETRY_AFTER, QuicLink,
    QuicLinkConfig, RetryPolicy, backoff, parse_retry_after,
};
pub use server::{
    BatchConfig, Batcher, DEADLINE_HEADER, Endpoint, InferError, Limits, MAX_DEADLINE,
    MetricsServer, OutputInfo, RenderMetrics, RunningServer, Server, ServerConfig, ServerError,
    ServiceError,
};
pub use tls::{ALPN, SelfSigned, TlsError, TlsFiles, Trust, self_signed};

use meanet_core::BoxError;
use ndarray::{Array2, ArrayD, ArrayViewD};

/// Samples in a batch: its first dimension (0 for a rank-0 array, which nothing here sends).
fn rows(batch: &ArrayD<f32>) -> usize {
    batch.shape().first().copied().unwrap_or(0)
}

/// Name and shape of a served tensor; `None` marks a dynamic dimension (the batch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Tensor name.
    pub name: String,
    /// Shape, batch first.
    pub shape: Vec<Option<usize>>,
}

/// A model the server can run: one f32 input, one f32 output `(N, classes)`.
///
/// Synchronous and `&mut self`, like an ONNX Runtime session: the server runs it on a dedicated
/// worker thread that owns it.
pub trait ServedModel: Send + 'static {
    /// The input tensor.
    fn input(&self) -> TensorInfo;
    /// The output tensor.
    fn output(&self) -> TensorInfo;
    /// Runs a batch.
    fn infer(&mut self, input: ArrayViewD<'_, f32>) -> Result<Array2<f32>, BoxError>;
}

impl From<&meanet_core::TensorSpec> for TensorInfo {
    fn from(spec: &meanet_core::TensorSpec) -> Self {
        TensorInfo {
            name: spec.name.clone(),
            shape: spec.shape.clone(),
        }
    }
}

/// Core's classifier over any backend's network is a model the server can run.
impl<N: meanet_core::Network + 'static> ServedModel for meanet_core::ClassifierNet<N> {
    fn input(&self) -> TensorInfo {
        TensorInfo::from(&self.network().signature().inputs[0])
    }

    fn output(&self) -> TensorInfo {
        TensorInfo::from(&self.network().signature().outputs[0])
    }

    fn infer(&mut self, input: ArrayViewD<'_, f32>) -> Result<Array2<f32>, BoxError> {
        Ok(self.run(input)?)
    }
}
