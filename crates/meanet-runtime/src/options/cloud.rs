//! `[cloud]`: the link to the cloud tier.

use anyhow::{Result, bail};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use meanet_transport::RetryPolicy;
use serde::{Deserialize, Serialize};

/// How offloaded samples reach the cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Open Inference Protocol v2 over HTTP/1.1 or HTTP/2.
    #[default]
    Http,
    /// The v2 protocol over QUIC streams.
    Quic,
    /// No cloud: offloads are answered on the edge and marked degraded.
    None,
}

/// What offloaded samples carry (`cloud.payload`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadKind {
    /// FP32 tensors, normalised as the edge blocks saw them: what any v2 server takes.
    #[default]
    F32,
    /// The raw 8-bit pixels as a UINT8 tensor: four times fewer bytes, so less radio energy.
    /// The server must take UINT8 (`meanet serve` normalises them with the bundle's manifest).
    U8,
    /// Each sample's 8-bit crop as a PNG (lossless) in a `BYTES` tensor. The server must decode
    /// it (`meanet serve` does; Triton and KServe need a decoding step). Needs `binary`.
    Png,
    /// Each sample's 8-bit crop as a JPEG of `cloud.jpeg_quality`, as `png` otherwise.
    Jpeg,
}

impl Transport {
    /// The name, as `cloud.transport` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::Quic => "quic",
            Transport::None => "none",
        }
    }
}

impl PayloadKind {
    /// `f32` or `u8`.
    pub fn name(self) -> &'static str {
        match self {
            PayloadKind::F32 => "f32",
            PayloadKind::U8 => "u8",
            PayloadKind::Png => "png",
            PayloadKind::Jpeg => "jpeg",
        }
    }
}

/// Cloud link settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CloudOptions {
    /// How offloads travel.
    pub transport: Transport,
    /// Base URL of a v2 server (meanet serve, Triton, KServe).
    pub url: String,
    /// Model name on the server.
    pub model: String,
    /// Input tensor name on the server.
    pub input_name: String,
    /// Send tensors with the binary extension (false: JSON tensors).
    pub binary: bool,
    /// What an offload carries: `f32` (normalised FP32, any v2 server) or `u8` (the 8-bit
    /// pixels, four times fewer bytes; for servers that take UINT8, such as `meanet serve`).
    pub payload: PayloadKind,
    /// JPEG quality (1 to 100) of `payload = "jpeg"`.
    pub jpeg_quality: u8,
    /// Offloads in flight at once; the edge goes on with later batches while they travel.
    pub max_in_flight: usize,
    /// Bearer token (unset: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Extra CA certificate (PEM) for https (unset: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
    /// QUIC server address.
    pub quic_addr: SocketAddr,
    /// Name in the QUIC server's certificate.
    pub quic_server_name: String,
    /// PEM certificate to trust for QUIC (unset: where `meanet serve` writes its generated one
    /// by default, see [`crate::links::quic_cert`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quic_cert: Option<PathBuf>,
    /// Deadline of one offload, retries included, in milliseconds.
    pub deadline_ms: u64,
    /// Retries of failures that are safe to retry.
    pub retries: u32,
    /// First backoff, milliseconds.
    pub backoff_base_ms: u64,
    /// Largest backoff, milliseconds.
    pub backoff_max_ms: u64,
    /// Consecutive failures that open the circuit breaker.
    pub breaker_threshold: u32,
    /// How long the breaker stays open, milliseconds.
    pub breaker_cooldown_ms: u64,
}

impl Default for CloudOptions {
    fn default() -> Self {
        let r = RetryPolicy::default();
        CloudOptions {
            transport: Transport::Http,
            url: "http://127.0.0.1:8000".into(),
            model: "cloud".into(),
            input_name: "input".into(),
            binary: true,
            payload: PayloadKind::F32,
            jpeg_quality: 90,
            max_in_flight: 4,
            token: None,
            ca_cert: None,
            quic_addr: SocketAddr::from(([127, 0, 0, 1], 8001)),
            quic_server_name: "localhost".into(),
            quic_cert: None,
            deadline_ms: r.deadline.as_millis() as u64,
            retries: r.retries,
            backoff_base_ms: r.backoff_base.as_millis() as u64,
            backoff_max_ms: r.backoff_max.as_millis() as u64,
            breaker_threshold: r.breaker_threshold,
            breaker_cooldown_ms: r.breaker_cooldown.as_millis() as u64,
        }
    }
}

impl CloudOptions {
    /// The retry policy these settings describe.
    pub fn retry(&self) -> RetryPolicy {
        RetryPolicy {
            deadline: Duration::from_millis(self.deadline_ms),
            retries: self.retries,
            backoff_base: Duration::from_millis(self.backoff_base_ms),
            backoff_max: Duration::from_millis(self.backoff_max_ms),
            breaker_threshold: self.breaker_threshold.max(1),
            breaker_cooldown: Duration::from_millis(self.breaker_cooldown_ms),
        }
    }
}

impl CloudOptions {
    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<()> {
        if self.deadline_ms == 0 {
            bail!("cloud.deadline_ms must be at least 1");
        }
        if !(1..=100).contains(&self.jpeg_quality) {
            bail!(
                "cloud.jpeg_quality = {} must be between 1 and 100",
                self.jpeg_quality
            );
        }
        if matches!(self.payload, PayloadKind::Png | PayloadKind::Jpeg) && !self.binary {
            bail!(
                "cloud.payload = \"{}\" sends images as binary data: set cloud.binary = true",
                self.payload.name()
            );
        }
        Ok(())
    }
}
