//! `QuicLink`: core's `CloudLink` over QUIC (quinn + rustls), one bidirectional stream per
//! request. The request and reply are the HTTP ones in [`protocol::encode_frame`] messages, so
//! the token, deadline and replies are handled exactly as over HTTP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use async_trait::async_trait;
use meanet_core::{Bytes as ByteCount, CloudError, CloudLink, CloudReply, Seconds};
use ndarray::ArrayD;

use super::{
    Attempt, BreakerState, RawReply, Resilience, RetryPolicy, byte_count, interpret, too_large,
};
use crate::protocol::{self, HEADER_LENGTH, Meta};
use crate::server::DEADLINE_HEADER;
use crate::tls::{self, Trust};

/// Where and how to reach a QUIC server.
#[derive(Debug, Clone, PartialEq)]
pub struct QuicLinkConfig {
    /// Server address.
    pub addr: SocketAddr,
    /// Name the certificate must carry (`localhost` for the generated default).
    pub server_name: String,
    /// Which certificate to trust.
    pub trust: Trust,
    /// Model name on the server.
    pub model: String,
    /// Name of the model's input tensor.
    pub input_name: String,
    /// Bearer token, sent in the request metadata as HTTP sends it in `Authorization`.
    pub token: Option<String>,
    /// Largest response accepted.
    pub max_response_bytes: usize,
    /// Deadline, retries and circuit breaker.
    pub retry: RetryPolicy,
    /// FP32 tensors (default) or 8-bit pixels, four times fewer bytes.
    pub payload: crate::protocol::Payload,
}

impl QuicLinkConfig {
    /// A config with defaults for everything but the address and the trusted certificate.
    pub fn new(addr: SocketAddr, trust: Trust) -> Self {
        QuicLinkConfig {
            addr,
            server_name: "localhost".into(),
            trust,
            model: "cloud".into(),
            input_name: "input".into(),
            token: None,
            max_response_bytes: 64 << 20,
            retry: RetryPolicy::default(),
            payload: crate::protocol::Payload::F32,
        }
    }
}

/// The QUIC cloud link: one connection, reused, re-established when it breaks.
#[derive(Debug)]
pub struct QuicLink {
    endpoint: quinn::Endpoint,
    config: QuicLinkConfig,
    conn: tokio::sync::Mutex<Option<quinn::Connection>>,
    resilience: Resilience,
}

fn unreachable(e: impl std::error::Error + Send + Sync + 'static) -> CloudError {
    CloudError::Unreachable(Box::new(e))
}

impl QuicLink {
    /// Builds the client endpoint (no connection is made until the first call). Needs a tokio
    /// runtime to be entered.
    pub fn new(config: QuicLinkConfig) -> Result<Self, CloudError> {
        let tls = tls::client_config(&config.trust).map_err(unreachable)?;
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).map_err(unreachable)?;
        let bind = if config.addr.is_ipv6() {
            SocketAddr::from(([0u16; 8], 0))
        } else {
            SocketAddr::from(([0u8; 4], 0))
        };
        let mut endpoint = quinn::Endpoint::client(bind).map_err(unreachable)?;
        endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
        Ok(QuicLink {
            endpoint,
            resilience: Resilience::new(config.retry),
            config,
            conn: tokio::sync::Mutex::new(None),
        })
    }

    /// The circuit breaker's state.
    pub fn breaker_state(&self) -> BreakerState {
        self.resilience.breaker_state()
    }

    async fn connection(&self) -> Result<quinn::Connection, Attempt> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref().filter(|c| c.close_reason().is_none()) {
            return Ok(c.clone());
        }
        let connecting = self
            .endpoint
            .connect(self.config.addr, &self.config.server_name)
            .map_err(|e| Attempt::Fatal(unreachable(e)))?;
        let conn = connecting.await.map_err(|e| {
            let code = match &e {
                quinn::ConnectionError::TransportError(t) => Some(u64::from(t.code)),
                quinn::ConnectionError::ConnectionClosed(c) => Some(u64::from(c.error_code)),
                _ => None,
            };
            if code.is_some_and(super::is_crypto_code) {
                Attempt::Fatal(CloudError::Tls(Box::new(e)))
            } else {
                Attempt::Retry(unreachable(e), None)
            }
        })?;
        *guard = Some(conn.clone());
        Ok(conn)
    }

    async fn forget(&self) {
        *self.conn.lock().await = None;
    }

    async fn attempt(
        &self,
        frame: bytes::Bytes,
        rows: usize,
        remaining: Duration,
    ) -> Result<(super::Answered, u64), Attempt> {
        let conn = self.connection().await?;
        let limit = self.config.max_response_bytes;
        let io = async {
            // The whole chain: "connection lost: closed by peer: 0 (draining)", not only
            // "connection lost", so a refusal by a draining server says so.
            let broken = |e: &dyn std::error::Error| {
                let mut text = e.to_string();
                let mut next = e.source();
                while let Some(cause) = next {
                    text = format!("{text}: {cause}");
                    next = cause.source();
                }
                Attempt::Retry(CloudError::Unreachable(text.into()), None)
            };
            let (mut send, mut recv) = conn.open_bi().await.map_err(|e| broken(&e))?;
            send.write_all(&frame).await.map_err(|e| broken(&e))?;
            send.finish().map_err(|e| broken(&e))?;
            recv.read_to_end(limit.saturating_add(protocol::MAX_META_BYTES + 4))
                .await
                .map_err(|e| match e {
                    quinn::ReadToEndError::TooLong => too_large(limit),
                    e => broken(&e),
                })
        };
        let msg = match io.await {
            Ok(m) => bytes::Bytes::from(m),
            Err(e) => {
                self.forget().await;
                return Err(e);
            }
        };
        let (meta, body) = protocol::decode_frame(&msg)
            .map_err(|e| Attempt::Fatal(CloudError::InvalidReply(Box::new(e))))?;
        let status = meta
            .get("status")
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| {
                Attempt::Fatal(CloudError::InvalidReply(
                    "QUIC reply metadata has no valid status".into(),
                ))
            })?;
        let reply = RawReply {
            status,
            retry_after: meta.get("retry-after").cloned(),
            header_length: meta.get(HEADER_LENGTH).cloned(),
            server_timing: meta.get(protocol::SERVER_TIMING).cloned(),
            body: msg.slice_ref(body),
        };
        Ok((interpret(reply, rows, remaining)?, byte_count(msg.len())))
    }
}

#[async_trait]
impl CloudLink for QuicLink {
    async fn classify(&self, input: ArrayD<f32>) -> Result<CloudReply, CloudError> {
        let (body, header_len) =
            protocol::encode_input(&self.config.input_name, &input, &self.config.payload, true)
                .map_err(|message| CloudError::Rejected {
                    status: 400,
                    message,
                })?;
        let rows = crate::rows(&input);
        let mut meta = Meta::new();
        meta.insert("model".into(), self.config.model.clone());
        if let Some(n) = header_len {
            meta.insert(HEADER_LENGTH.into(), n.to_string());
        }
        if let Some(t) = &self.config.token {
            meta.insert("authorization".into(), format!("Bearer {t}"));
        }
        let start = StdInstant::now();
        let ((logits, server), received, sent) = self
            .resilience
            .call(|remaining| {
                let mut meta = meta.clone();
                meta.insert(
                    DEADLINE_HEADER.into(),
                    remaining.as_millis().max(1).to_string(),
                );
                let frame = protocol::encode_frame(&meta, &body);
                let sent = byte_count(frame.len());
                async move {
                    let (l, r) = self.attempt(frame, rows, remaining).await?;
                    Ok((l, r, sent))
                }
            })
            .await?;
        Ok(CloudReply {
            logits,
            bytes_sent: ByteCount(sent),
            bytes_received: ByteCount(received),
            latency: Seconds(start.elapsed().as_secs_f64()),
            server_time: server.map(|d| Seconds(d.as_secs_f64())),
        })
    }
}
