//! `[server]`: `meanet serve` and `meanet edge` as servers.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Server settings (`meanet serve`; the batching and limits also apply to the loopback server of
/// `eval`/`demo`). `meanet serve`'s flags override them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerOptions {
    /// The model's name in URLs: /v2/models/NAME/infer.
    pub model_name: String,
    /// HTTP listen address.
    pub http: SocketAddr,
    /// QUIC listen address (unset: no QUIC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quic: Option<SocketAddr>,
    /// Where `meanet serve` writes its generated QUIC certificate (PEM).
    pub quic_cert_out: PathBuf,
    /// Bearer token required on model endpoints, over HTTP and QUIC (unset: no auth).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// TLS certificate chain (PEM) for HTTPS and QUIC (set together with tls_key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// Deadline of a request that carries none, milliseconds.
    pub deadline_ms: u64,
    /// Most samples per model run (1: batching off).
    pub max_batch: usize,
    /// Longest wait for a batch to fill, milliseconds.
    pub max_delay_ms: u64,
    /// Queue capacity before 503.
    pub queue: usize,
    /// Largest request body, bytes.
    pub max_body: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            model_name: "cloud".into(),
            http: SocketAddr::from(([127, 0, 0, 1], 8000)),
            quic: None,
            quic_cert_out: PathBuf::from("meanet-quic-cert.pem"),
            token: None,
            tls_cert: None,
            tls_key: None,
            deadline_ms: 10_000,
            max_batch: 32,
            max_delay_ms: 2,
            queue: 256,
            max_body: 16 << 20,
        }
    }
}
