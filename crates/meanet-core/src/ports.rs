//! The ports adapters implement. Tensors cross them as `ndarray` arrays with the batch first;
//! no adapter type (ONNX Runtime values, HTTP requests, QUIC connections) appears here.
//!
//! Blocks are synchronous and take `&mut self` (ONNX Runtime sessions run that way); the cloud
//! link is the one asynchronous port, since it is the one that waits on a network.

use std::error::Error as StdError;

use async_trait::async_trait;
use ndarray::{Array2, ArrayD, ArrayViewD};

use crate::units::{Bytes, Joules, Macs, Seconds};

/// A boxed, thread-safe error from an adapter.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// What the main block returns for a batch of N samples.
#[derive(Debug, Clone, PartialEq)]
pub struct MainOutput {
    /// Logits over all C classes, shape `(N, C)`.
    pub logits: Array2<f32>,
    /// The last feature map `F_M`, batch first, e.g. `(N, 64, 8, 8)`.
    pub features: ArrayD<f32>,
}

/// A failure inside an inference block.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// The input did not have the shape or content the block needs.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The block returned something of the wrong shape or type.
    #[error("invalid output: {0}")]
    InvalidOutput(String),
    /// The inference backend failed.
    #[error("backend failed")]
    Backend(#[source] BoxError),
}

/// The main block `M`: raw input -> (logits over C classes, feature map).
pub trait MainBlock: Send {
    /// Runs a batch `(N, ...)`.
    fn infer(&mut self, input: ArrayViewD<'_, f32>) -> Result<MainOutput, BlockError>;
}

/// The adaptive + extension blocks `X(concat(F_M, A(x)))`: (raw input, `F_M`) -> logits over the
/// H hard classes, in hard-label order.
pub trait ExtensionBlock: Send {
    /// Runs a batch: `input` is `(N, ...)`, `features` the main block's `(N, ...)` feature map.
    fn infer(
        &mut self,
        input: ArrayViewD<'_, f32>,
        features: ArrayViewD<'_, f32>,
    ) -> Result<Array2<f32>, BlockError>;
}

/// A whole-input classifier (the cloud model run in-process, or any model served as one):
/// raw input `(N, ...)` -> logits over all C classes `(N, C)`.
pub trait Classifier: Send {
    /// Classifies a batch.
    fn classify(&mut self, input: ArrayViewD<'_, f32>) -> Result<Array2<f32>, BlockError>;
}

/// What the cloud answered for an offloaded batch.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudReply {
    /// Logits over all C classes, shape `(N, C)`.
    pub logits: Array2<f32>,
    /// Bytes the edge sent for this batch (the request body or frame, headers excluded).
    pub bytes_sent: Bytes,
    /// Bytes the edge received for this batch (the response body or frame).
    pub bytes_received: Bytes,
    /// Wall time from sending to the complete answer, as measured by the adapter.
    pub latency: Seconds,
    /// The server's own time for it (queue and inference), when the server reported one
    /// (v2 servers of meanet send `Server-Timing`): the link estimator takes it out of the
    /// network's latency.
    pub server_time: Option<Seconds>,
}

/// Why the cloud could not answer. Every variant lets the pipeline answer on the edge instead.
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    /// No connection could be made (refused, reset, DNS).
    #[error("cloud unreachable")]
    Unreachable(#[source] BoxError),
    /// The TLS handshake failed: the edge refused the server's certificate (not trusted, not
    /// valid for the name, a CA certificate used as a server's own) or the server refused the
    /// edge. The source carries the TLS library's own reason. Retrying will not help.
    #[error("TLS handshake with the cloud failed")]
    Tls(#[source] BoxError),
    /// No complete answer within the deadline.
    #[error("cloud did not answer within {0}")]
    Timeout(Seconds),
    /// The server is shedding load (HTTP 503 or equivalent).
    #[error("cloud overloaded")]
    Overloaded {
        /// The server's Retry-After, if it gave one.
        retry_after: Option<Seconds>,
    },
    /// The server did not accept the link's credentials (HTTP 401/403 or the QUIC equivalent):
    /// the token is missing, wrong or not allowed. Retrying will not help.
    #[error("cloud refused the credentials with status {status}: {message}")]
    Unauthorized {
        /// Protocol status code (401 or 403).
        status: u16,
        /// The server's error message.
        message: String,
    },
    /// The server refused the request (4xx/5xx other than overload and auth).
    #[error("cloud rejected the request with status {status}: {message}")]
    Rejected {
        /// Protocol status code.
        status: u16,
        /// The server's error message.
        message: String,
    },
    /// Recent failures opened the circuit breaker; the request was not sent.
    #[error("cloud circuit breaker is open")]
    CircuitOpen,
    /// The answer could not be understood or had the wrong shape or non-finite logits.
    #[error("invalid cloud reply")]
    InvalidReply(#[source] BoxError),
    /// No cloud link is configured.
    #[error("no cloud link configured")]
    NotConfigured,
}

/// The matchable kind of a [`CloudError`], kept in outcomes (which must stay `Clone`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloudErrorKind {
    /// See [`CloudError::Unreachable`].
    Unreachable,
    /// See [`CloudError::Tls`].
    Tls,
    /// See [`CloudError::Timeout`].
    Timeout,
    /// See [`CloudError::Overloaded`].
    Overloaded,
    /// See [`CloudError::Unauthorized`].
    Unauthorized,
    /// See [`CloudError::Rejected`].
    Rejected,
    /// See [`CloudError::CircuitOpen`].
    CircuitOpen,
    /// See [`CloudError::InvalidReply`].
    InvalidReply,
    /// See [`CloudError::NotConfigured`].
    NotConfigured,
}

impl CloudError {
    /// The kind of this error.
    pub fn kind(&self) -> CloudErrorKind {
        match self {
            CloudError::Unreachable(_) => CloudErrorKind::Unreachable,
            CloudError::Tls(_) => CloudErrorKind::Tls,
            CloudError::Timeout(_) => CloudErrorKind::Timeout,
            CloudError::Overloaded { .. } => CloudErrorKind::Overloaded,
            CloudError::Unauthorized { .. } => CloudErrorKind::Unauthorized,
            CloudError::Rejected { .. } => CloudErrorKind::Rejected,
            CloudError::CircuitOpen => CloudErrorKind::CircuitOpen,
            CloudError::InvalidReply(_) => CloudErrorKind::InvalidReply,
            CloudError::NotConfigured => CloudErrorKind::NotConfigured,
        }
    }
}

impl CloudErrorKind {
    /// A stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            CloudErrorKind::Unreachable => "unreachable",
            CloudErrorKind::Tls => "tls",
            CloudErrorKind::Timeout => "timeout",
            CloudErrorKind::Overloaded => "overloaded",
            CloudErrorKind::Unauthorized => "unauthorized",
            CloudErrorKind::Rejected => "rejected",
            CloudErrorKind::CircuitOpen => "circuit_open",
            CloudErrorKind::InvalidReply => "invalid_reply",
            CloudErrorKind::NotConfigured => "not_configured",
        }
    }
}

/// The link to the cloud model: a batch of raw inputs -> logits over all classes.
///
/// Implementations own deadlines, retries and circuit breaking, and must return (never hang)
/// within their configured deadline.
#[async_trait]
pub trait CloudLink: Send + Sync {
    /// Classifies a batch `(N, ...)`.
    async fn classify(&self, input: ArrayD<f32>) -> Result<CloudReply, CloudError>;
}

/// What ran for one sample, and what it moved. `None` means the block did not run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SampleCost {
    /// MACs of the main block, if it ran.
    pub main: Option<Macs>,
    /// MACs of the adaptive + extension blocks, if they ran.
    pub extension: Option<Macs>,
    /// MACs of the cloud model, if it answered.
    pub cloud: Option<Macs>,
    /// This sample's share of the bytes sent to the cloud.
    pub bytes_sent: Bytes,
    /// This sample's share of the bytes received from the cloud.
    pub bytes_received: Bytes,
    /// The uplink goodput (bits per second) the runtime measured when this sample was sent,
    /// if it measured one: its radio energy is priced at that rate rather than the configured
    /// link's.
    pub uplink_bps: Option<u64>,
    /// The burst of offloads this sample was sent in, when the runtime timed it: the radio's
    /// tail and promotion are charged per burst ([`RadioBurst`]).
    pub burst: Option<RadioBurst>,
}

/// One burst of offloads (one request), as the radio sees it: how long since the previous one
/// was sent, and how many samples share it. A radio stays in a high-power tail for a while
/// after each burst (LTE: about 11.6 s at about 1 W) and must be promoted again once it has
/// gone idle: the energy model charges each burst the tail since the previous one (at most
/// the tail's length) and a promotion when the radio had gone idle, split over its samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RadioBurst {
    /// Microseconds since the previous burst was sent (`None`: the first one).
    pub since_last_us: Option<u64>,
    /// Samples in this burst (at least 1).
    pub samples: u32,
}

/// Energy of one sample, split by where it was spent.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EnergyBreakdown {
    /// Arithmetic on the edge.
    pub edge_compute: Joules,
    /// Memory traffic on the edge.
    pub edge_memory: Joules,
    /// Radio energy to send and receive offload traffic.
    pub transmit: Joules,
    /// Compute in the cloud (reported separately; not the edge's battery).
    pub cloud: Joules,
}

impl EnergyBreakdown {
    /// Energy spent by the edge device: compute, memory and radio.
    pub fn edge(&self) -> Joules {
        self.edge_compute + self.edge_memory + self.transmit
    }
}

/// Prices what ran into joules (tract's idea: count work first, price it separately).
pub trait EnergyModel: Send + Sync {
    /// Energy of one sample given what ran for it.
    fn price(&self, cost: &SampleCost) -> EnergyBreakdown;
}
