//! `HttpLink`: core's `CloudLink` over the Open Inference Protocol v2 (HTTP/1.1 or HTTP/2).

use std::path::PathBuf;
use std::time::Instant as StdInstant;

use async_trait::async_trait;
use meanet_core::{Bytes as ByteCount, CloudError, CloudLink, CloudReply, Seconds};
use ndarray::ArrayD;

use super::{Attempt, RawReply, Resilience, RetryPolicy, byte_count, interpret, too_large};
use crate::protocol::{self, HEADER_LENGTH};
use crate::server::DEADLINE_HEADER;

/// Where and how to reach a v2 server.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpLinkConfig {
    /// Base URL, e.g. `http://127.0.0.1:8000` (or `https://...`).
    pub url: String,
    /// Model name on the server.
    pub model: String,
    /// Name of the model's input tensor.
    pub input_name: String,
    /// Use the binary tensor data extension (default) instead of JSON tensors.
    pub binary: bool,
    /// Bearer token.
    pub token: Option<String>,
    /// Extra CA certificate (PEM) to trust for `https://` (self-signed servers).
    pub ca_cert: Option<PathBuf>,
    /// Largest response body accepted; a larger one is an invalid reply, never read whole.
    pub max_response_bytes: usize,
    /// Deadline, retries and circuit breaker.
    pub retry: RetryPolicy,
    /// FP32 tensors (default) or 8-bit pixels, four times fewer bytes.
    pub payload: crate::protocol::Payload,
}

impl HttpLinkConfig {
    /// A config for `url` and `model` with defaults elsewhere.
    pub fn new(url: impl Into<String>, model: impl Into<String>) -> Self {
        HttpLinkConfig {
            url: url.into(),
            model: model.into(),
            input_name: "input".into(),
            binary: true,
            token: None,
            ca_cert: None,
            max_response_bytes: 64 << 20,
            retry: RetryPolicy::default(),
            payload: crate::protocol::Payload::F32,
        }
    }
}

/// The HTTP cloud link. Cheap to share: the connection pool lives inside.
#[derive(Debug)]
pub struct HttpLink {
    client: reqwest::Client,
    infer_url: String,
    config: HttpLinkConfig,
    resilience: Resilience,
}

impl HttpLink {
    /// Builds the client (no connection is made until the first call).
    pub fn new(config: HttpLinkConfig) -> Result<Self, CloudError> {
        let mut builder = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true);
        if let Some(path) = &config.ca_cert {
            let pem = std::fs::read(path).map_err(|e| {
                CloudError::Unreachable(
                    format!("reading CA certificate {}: {e}", path.display()).into(),
                )
            })?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| CloudError::Unreachable(Box::new(e)))?;
            builder = builder.add_root_certificate(cert);
        }
        let client = builder
            .build()
            .map_err(|e| CloudError::Unreachable(Box::new(e)))?;
        let infer_url = format!(
            "{}/v2/models/{}/infer",
            config.url.trim_end_matches('/'),
            config.model
        );
        Ok(HttpLink {
            client,
            infer_url,
            resilience: Resilience::new(config.retry),
            config,
        })
    }

    /// The circuit breaker's state.
    pub fn breaker_state(&self) -> super::BreakerState {
        self.resilience.breaker_state()
    }

    async fn attempt(
        &self,
        body: bytes::Bytes,
        header_len: Option<usize>,
        rows: usize,
        remaining: std::time::Duration,
    ) -> Result<(super::Answered, u64), Attempt> {
        let mut req = self
            .client
            .post(&self.infer_url)
            .timeout(remaining)
            .header(DEADLINE_HEADER, remaining.as_millis().max(1).to_string())
            .body(body);
        req = match header_len {
            Some(n) => req
                .header(HEADER_LENGTH, n.to_string())
                .header("content-type", "application/octet-stream"),
            None => req.header("content-type", "application/json"),
        };
        if let Some(t) = &self.config.token {
            req = req.bearer_auth(t);
        }
        let failed = |e: reqwest::Error, retry_connect: bool| {
            if e.is_timeout() {
                Attempt::Fatal(CloudError::Timeout(Seconds(remaining.as_secs_f64())))
            } else if super::is_tls_failure(&e) {
                Attempt::Fatal(CloudError::Tls(Box::new(e)))
            } else if retry_connect && e.is_connect() {
                Attempt::Retry(CloudError::Unreachable(Box::new(e)), None)
            } else {
                Attempt::Fatal(CloudError::Unreachable(Box::new(e)))
            }
        };
        let mut resp = req.send().await.map_err(|e| failed(e, true))?;
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        let (retry_after, header_length) = (header("retry-after"), header(HEADER_LENGTH));
        let server_timing = header(protocol::SERVER_TIMING);
        let status = resp.status().as_u16();
        let limit = self.config.max_response_bytes;
        if resp
            .content_length()
            .is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX))
        {
            return Err(too_large(limit));
        }
        // Read the body in chunks, so a server that lies about (or omits) its length cannot
        // make the client hold more than the limit.
        let mut body = bytes::BytesMut::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| failed(e, false))? {
            if body.len().saturating_add(chunk.len()) > limit {
                return Err(too_large(limit));
            }
            body.extend_from_slice(&chunk);
        }
        let received = byte_count(body.len());
        let reply = RawReply {
            status,
            retry_after,
            header_length,
            server_timing,
            body: body.freeze(),
        };
        Ok((interpret(reply, rows, remaining)?, received))
    }
}

#[async_trait]
impl CloudLink for HttpLink {
    async fn classify(&self, input: ArrayD<f32>) -> Result<CloudReply, CloudError> {
        let (body, header_len) = protocol::encode_input(
            &self.config.input_name,
            &input,
            &self.config.payload,
            self.config.binary,
        )
        .map_err(|message| CloudError::Rejected {
            status: 400,
            message,
        })?;
        let sent = byte_count(body.len());
        let rows = crate::rows(&input);
        let start = StdInstant::now();
        let ((logits, server), received) = self
            .resilience
            .call(|remaining| self.attempt(body.clone(), header_len, rows, remaining))
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
