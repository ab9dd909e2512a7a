//! `[server]`: `meanet serve` and `meanet edge` as servers.

use anyhow::{Result, bail};
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Server settings, for `meanet serve` and `meanet edge` alike: every key means the same to both.
/// The three that differ by role, when unset, take the role's default ([`ServerRole`]): the
/// model's name, the HTTP address, and where a generated QUIC certificate is written. The
/// batching and limits also apply to the loopback server of `eval`/`demo`. The commands' flags
/// override these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerOptions {
    /// The model's name in URLs: /v2/models/NAME/infer (unset: the role's,
    /// [`ServerRole::default_model_name`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    /// HTTP listen address (unset: the role's, [`ServerRole::default_http`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<SocketAddr>,
    /// QUIC listen address (unset: no QUIC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quic: Option<SocketAddr>,
    /// Where a generated QUIC certificate (PEM) is written for clients to trust (unset:
    /// `meanet-quic-cert.pem` in the cache, never the working directory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quic_cert_out: Option<PathBuf>,
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
    /// On SIGTERM or SIGINT: every request already accepted is answered within this,
    /// milliseconds (under Kubernetes' default 30 s grace period).
    pub drain_ms: u64,
    /// The first part of the drain: readiness answers 503 but requests are still served, so a
    /// load balancer that has not seen the 503 yet loses nothing; then no new connection or
    /// QUIC stream is accepted. Milliseconds, at most `drain_ms`.
    pub unready_ms: u64,
    /// HTTP/1: a request's headers must be complete within this from when the connection is
    /// ready for it (so it is also how long a keep-alive connection may wait idle for its
    /// next request), milliseconds.
    pub header_read_timeout_ms: u64,
    /// A connection with no request in flight and no byte either way for this long is closed
    /// (HTTP/1 and HTTP/2), milliseconds.
    pub idle_timeout_ms: u64,
    /// The most HTTP connections open at once; past it a new connection is closed at once.
    pub max_connections: usize,
    /// QUIC: a connection with no traffic for this long is closed, milliseconds.
    pub quic_idle_timeout_ms: u64,
    /// QUIC: the most request streams one connection may have open at once.
    pub quic_max_streams: u32,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            model_name: None,
            http: None,
            quic: None,
            quic_cert_out: None,
            token: None,
            tls_cert: None,
            tls_key: None,
            deadline_ms: 10_000,
            max_batch: 32,
            max_delay_ms: 2,
            queue: 256,
            max_body: 16 << 20,
            drain_ms: 25_000,
            unready_ms: 2_000,
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            max_connections: 1024,
            quic_idle_timeout_ms: 30_000,
            quic_max_streams: 256,
        }
    }
}

/// Which server a `[server]` section configures. The roles differ only in the defaults of the
/// keys left unset, so that both fit on one machine and each serves its own model name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerRole {
    /// `meanet serve`: a cloud model.
    Cloud,
    /// `meanet edge`: the edge runtime as a server.
    Edge,
}

impl ServerRole {
    /// The model name served when `server.model_name` is unset.
    pub fn default_model_name(self) -> &'static str {
        match self {
            ServerRole::Cloud => "cloud",
            ServerRole::Edge => "meanet",
        }
    }

    /// The HTTP address when `server.http` is unset.
    pub fn default_http(self) -> SocketAddr {
        match self {
            ServerRole::Cloud => SocketAddr::from(([127, 0, 0, 1], 8000)),
            ServerRole::Edge => SocketAddr::from(([127, 0, 0, 1], 8080)),
        }
    }
}

/// The file name of a generated QUIC certificate when `server.quic_cert_out` is unset.
pub const QUIC_CERT_FILE: &str = "meanet-quic-cert.pem";

/// Where a generated QUIC certificate goes when no setting names a file: [`QUIC_CERT_FILE`] in
/// the cache (the temporary directory when no cache is known), never the working directory.
/// `meanet serve` writes it there and the edge's link reads it there, so both meet by default.
pub fn default_quic_cert() -> PathBuf {
    meanet_data::cache_root()
        .map_or_else(std::env::temp_dir, |r| r.path)
        .join(QUIC_CERT_FILE)
}

impl ServerOptions {
    /// The model name for `role`: `model_name`, else the role's default.
    pub fn model_name(&self, role: ServerRole) -> &str {
        self.model_name
            .as_deref()
            .unwrap_or(role.default_model_name())
    }

    /// The HTTP address for `role`: `http`, else the role's default.
    pub fn http(&self, role: ServerRole) -> SocketAddr {
        self.http.unwrap_or(role.default_http())
    }

    /// Where a generated QUIC certificate goes: `quic_cert_out`, else [`QUIC_CERT_FILE`] in
    /// `cache` (the caller's cache directory).
    pub fn quic_cert_path(&self, cache: &std::path::Path) -> PathBuf {
        self.quic_cert_out
            .clone()
            .unwrap_or_else(|| cache.join(QUIC_CERT_FILE))
    }

    /// The drain's two parts: (`unready`, `grace`) (see [`ServerOptions::unready_ms`]).
    pub fn drain(&self) -> (std::time::Duration, std::time::Duration) {
        let ms = std::time::Duration::from_millis;
        let unready = self.unready_ms.min(self.drain_ms);
        (ms(unready), ms(self.drain_ms - unready))
    }
}

impl ServerOptions {
    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<()> {
        if self.model_name.as_deref().is_some_and(|n| {
            n.is_empty() || n.chars().any(|c| c.is_whitespace() || "/?#%".contains(c))
        }) {
            bail!(
                "server.model_name = {:?} must be a non-empty name without blanks, '/', '?', '#' or '%' (it is a URL path segment)",
                self.model_name.as_deref().unwrap_or_default()
            );
        }
        if self.max_batch == 0 || self.queue == 0 {
            bail!("server.max_batch and server.queue must be at least 1");
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            bail!("server.tls_cert and server.tls_key must be set together");
        }
        if self.deadline_ms == 0 {
            bail!("server.deadline_ms must be at least 1");
        }
        for (key, v) in [
            ("drain_ms", self.drain_ms),
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("idle_timeout_ms", self.idle_timeout_ms),
            ("quic_idle_timeout_ms", self.quic_idle_timeout_ms),
        ] {
            if v == 0 {
                bail!("server.{key} must be at least 1");
            }
        }
        if self.unready_ms > self.drain_ms {
            bail!(
                "server.unready_ms = {} must not exceed server.drain_ms = {}",
                self.unready_ms,
                self.drain_ms
            );
        }
        if self.max_connections == 0 || self.quic_max_streams == 0 {
            bail!("server.max_connections and server.quic_max_streams must be at least 1");
        }
        Ok(())
    }
}
