//! meanet's cloud link: the Open Inference Protocol v2 (the KServe v2 REST API, also spoken by
//! NVIDIA Triton, Seldon MLServer and OpenVINO Model Server) over HTTP, and the same request and
//! response over QUIC.
//!
//! - Server ([`Server`]): serves one model behind the v2 endpoints (JSON tensors and the binary
//!   tensor data extension), with dynamic batching on a worker thread that owns the model, a
//!   bounded queue that answers 503 + Retry-After when full, body size limits, per-request
//!   deadlines, optional bearer-token auth, TLS, Prometheus metrics and graceful shutdown. It can
//!   listen on QUIC at the same time.
//! - Clients ([`HttpLink`], [`QuicLink`]) implement `meanet_core::CloudLink`: connection reuse,
//!   per-call deadline, jittered exponential backoff on failures that are safe to retry, and a
//!   circuit breaker so a dead cloud costs nothing after the first failures. Every failure is a
//!   matchable `CloudError`, so the pipeline answers on the edge and marks the sample degraded.
//!
//! The served model is the sync [`ServedModel`] port; the `meanet` binary plugs an ONNX Runtime
//! classifier into it. This crate depends on `meanet-core` and on no other adapter.

mod batcher;
mod client;
mod metrics;
pub mod protocol;
mod quic;
mod resilience;
mod server;

pub use batcher::{BatchConfig, Batcher, InferError};
pub use client::{HttpLink, HttpLinkConfig};
pub use quic::{ALPN, QuicLink, QuicLinkConfig, SelfSigned, Trust, self_signed};
pub use resilience::RetryPolicy;
pub use server::{DEADLINE_HEADER, RunningServer, Server, ServerConfig, ServerError, TlsFiles};

use meanet_core::BoxError;
use ndarray::{Array2, ArrayViewD};

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
