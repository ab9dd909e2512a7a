//! The same v2 request and response over QUIC (quinn + rustls): one bidirectional stream per
//! request, each direction one frame (`u32` LE header length, v2 JSON header, binary tensor
//! bytes). TLS is mandatory: a server without configured certificates generates a self-signed
//! one, which a client trusts explicitly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use async_trait::async_trait;
use meanet_core::{Bytes as ByteCount, CloudError, CloudLink, CloudReply, Seconds};
use ndarray::ArrayD;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};

use crate::RetryPolicy;
use crate::protocol;
use crate::resilience::{Attempt, Resilience, server_failure};
use crate::server::{ServerError, Shared};

/// ALPN protocol id of meanet's QUIC inference protocol.
pub const ALPN: &[u8] = b"meanet-v2";

/// A generated self-signed certificate and its key.
#[derive(Debug, Clone)]
pub struct SelfSigned {
    /// Certificate, DER.
    pub cert_der: Vec<u8>,
    /// Certificate, PEM (to hand to clients).
    pub cert_pem: String,
    /// Private key, PEM.
    pub key_pem: String,
    key_der: Vec<u8>,
}

impl SelfSigned {
    /// The private key, DER.
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

/// Generates a self-signed certificate for `names` (DNS names or IP addresses).
pub fn self_signed(names: &[&str]) -> Result<SelfSigned, rcgen::Error> {
    let ck = rcgen::generate_simple_self_signed(
        names.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    )?;
    Ok(SelfSigned {
        cert_der: ck.cert.der().to_vec(),
        cert_pem: ck.cert.pem(),
        key_pem: ck.key_pair.serialize_pem(),
        key_der: ck.key_pair.serialize_der(),
    })
}

pub(crate) fn serve(
    addr: SocketAddr,
    tls: rustls::ServerConfig,
    shared: Arc<Shared>,
) -> Result<(quinn::Endpoint, tokio::task::JoinHandle<()>), ServerError> {
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    let config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let endpoint = quinn::Endpoint::server(config, addr)
        .map_err(|source| ServerError::Bind { addr, source })?;
    let ep = endpoint.clone();
    // Connections and streams live in task sets owned by the accept loop, so aborting the loop
    // (a killed server) drops every connection and frees the UDP port.
    let accept = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Some(incoming) = ep.accept().await {
            let shared = Arc::clone(&shared);
            connections.spawn(async move {
                let Ok(conn) = incoming.await else { return };
                let mut streams = tokio::task::JoinSet::new();
                while let Ok((send, recv)) = conn.accept_bi().await {
                    streams.spawn(handle_stream(Arc::clone(&shared), send, recv));
                    while streams.try_join_next().is_some() {}
                }
                while streams.join_next().await.is_some() {}
            });
            while connections.try_join_next().is_some() {}
        }
        while connections.join_next().await.is_some() {}
    });
    Ok((endpoint, accept))
}

async fn handle_stream(
    shared: Arc<Shared>,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) {
    let start = StdInstant::now();
    let limit = shared.max_body_bytes + 4;
    let reply = match recv.read_to_end(limit).await {
        Err(quinn::ReadToEndError::TooLong) => Err((
            413,
            format!("request exceeds the {} byte limit", shared.max_body_bytes),
        )),
        Err(e) => Err((400, format!("could not read the request: {e}"))),
        Ok(msg) => match protocol::unframe(&msg) {
            Err(e) => Err((400, e.0)),
            Ok((header, payload)) => {
                let deadline = serde_json::from_slice::<Value>(header)
                    .ok()
                    .and_then(|v| v.pointer("/parameters/deadline_ms").and_then(Value::as_u64))
                    .map(Duration::from_millis);
                let mut body = Vec::with_capacity(header.len() + payload.len());
                body.extend_from_slice(header);
                body.extend_from_slice(payload);
                shared.infer(&body, Some(header.len()), deadline).await
            }
        },
    };
    let (status, frame) = match reply {
        Ok((body, Some(n))) => (200, protocol::frame(&body[..n], &body[n..])),
        Ok((body, None)) => (200, protocol::frame(&body, &[])),
        Err((status, msg)) => {
            let header =
                serde_json::to_vec(&json!({"error": msg, "status": status})).unwrap_or_default();
            (status, protocol::frame(&header, &[]))
        }
    };
    shared.metrics.count("quic", status);
    shared
        .metrics
        .latency
        .observe(start.elapsed().as_secs_f64());
    if send.write_all(&frame).await.is_ok() {
        let _ = send.finish();
        // Wait until the peer has the whole answer (or gives up) before dropping the stream.
        let _ = tokio::time::timeout(Duration::from_secs(5), send.stopped()).await;
    }
}

/// How a QUIC client trusts the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// A certificate in DER (e.g. from [`crate::RunningServer::quic_certificate`]).
    Der(Vec<u8>),
    /// A PEM file (e.g. written by `meanet serve`).
    PemFile(PathBuf),
}

/// Where and how to reach a QUIC server.
#[derive(Debug, Clone, PartialEq)]
pub struct QuicLinkConfig {
    /// Server address.
    pub addr: SocketAddr,
    /// Name the certificate must carry (`localhost` for the generated default).
    pub server_name: String,
    /// Which certificate to trust.
    pub trust: Trust,
    /// Name of the model's input tensor.
    pub input_name: String,
    /// Largest response accepted.
    pub max_response_bytes: usize,
    /// Deadline, retries and circuit breaker.
    pub retry: RetryPolicy,
}

impl QuicLinkConfig {
    /// A config with defaults for everything but the address and the trusted certificate.
    pub fn new(addr: SocketAddr, trust: Trust) -> Self {
        QuicLinkConfig {
            addr,
            server_name: "localhost".into(),
            trust,
            input_name: "input".into(),
            max_response_bytes: 64 << 20,
            retry: RetryPolicy::default(),
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

impl QuicLink {
    /// Builds the client endpoint (no connection is made until the first call).
    pub fn new(config: QuicLinkConfig) -> Result<Self, CloudError> {
        use rustls::pki_types::pem::PemObject;
        let bad = |m: String| CloudError::Unreachable(m.into());
        let der = match &config.trust {
            Trust::Der(d) => vec![CertificateDer::from(d.clone())],
            Trust::PemFile(p) => CertificateDer::pem_file_iter(p)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| bad(format!("reading certificate {}: {e}", p.display())))?,
        };
        let mut roots = rustls::RootCertStore::empty();
        for c in der {
            roots
                .add(c)
                .map_err(|e| bad(format!("untrustworthy certificate: {e}")))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| bad(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![ALPN.to_vec()];
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
            .map_err(|e| bad(e.to_string()))?;
        let bind: SocketAddr = if config.addr.is_ipv6() {
            "[::]:0".parse().map_err(|_| bad("bind address".into()))?
        } else {
            "0.0.0.0:0"
                .parse()
                .map_err(|_| bad("bind address".into()))?
        };
        let mut endpoint =
            quinn::Endpoint::client(bind).map_err(|e| CloudError::Unreachable(Box::new(e)))?;
        endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
        Ok(QuicLink {
            endpoint,
            resilience: Resilience::new(config.retry),
            config,
            conn: tokio::sync::Mutex::new(None),
        })
    }

    async fn connection(&self) -> Result<quinn::Connection, Attempt> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref().filter(|c| c.close_reason().is_none()) {
            return Ok(c.clone());
        }
        let connecting = self
            .endpoint
            .connect(self.config.addr, &self.config.server_name)
            .map_err(|e| Attempt::Fatal(CloudError::Unreachable(Box::new(e))))?;
        let conn = connecting
            .await
            .map_err(|e| Attempt::Retry(CloudError::Unreachable(Box::new(e)), None))?;
        *guard = Some(conn.clone());
        Ok(conn)
    }

    async fn forget(&self) {
        *self.conn.lock().await = None;
    }

    async fn attempt(&self, frame: bytes::Bytes) -> Result<(ndarray::Array2<f32>, u64), Attempt> {
        let conn = self.connection().await?;
        let broken = |e: String| Attempt::Retry(CloudError::Unreachable(e.into()), None);
        let io = async {
            let (mut send, mut recv) = conn.open_bi().await.map_err(|e| broken(e.to_string()))?;
            send.write_all(&frame)
                .await
                .map_err(|e| broken(e.to_string()))?;
            send.finish().map_err(|e| broken(e.to_string()))?;
            recv.read_to_end(self.config.max_response_bytes)
                .await
                .map_err(|e| broken(e.to_string()))
        };
        let msg = match io.await {
            Ok(m) => m,
            Err(e) => {
                self.forget().await;
                return Err(e);
            }
        };
        let (header, payload) =
            protocol::unframe(&msg).map_err(|e| Attempt::Fatal(CloudError::InvalidReply(e.0)))?;
        if let Ok(v) = serde_json::from_slice::<Value>(header)
            && let Some(error) = v.get("error").and_then(Value::as_str)
        {
            let status = v.get("status").and_then(Value::as_u64).unwrap_or(500) as u16;
            return Err(server_failure(
                status,
                error.to_string(),
                None,
                self.config.retry.deadline,
            ));
        }
        let mut body = Vec::with_capacity(header.len() + payload.len());
        body.extend_from_slice(header);
        body.extend_from_slice(payload);
        let logits = protocol::decode_response(&body, Some(header.len()))
            .map_err(|e| Attempt::Fatal(CloudError::InvalidReply(e.0)))?;
        Ok((logits, msg.len() as u64))
    }
}

#[async_trait]
impl CloudLink for QuicLink {
    async fn classify(&self, input: ArrayD<f32>) -> Result<CloudReply, CloudError> {
        let (body, header_len) = protocol::encode_request(&self.config.input_name, &input, true);
        let n = header_len.unwrap_or(body.len());
        let start = StdInstant::now();
        let (logits, received, sent) = self
            .resilience
            .call(|remaining| {
                // The deadline travels in the v2 header's parameters.
                let mut header: Value = serde_json::from_slice(&body[..n]).unwrap_or(Value::Null);
                if let Some(p) = header.get_mut("parameters").and_then(Value::as_object_mut) {
                    p.insert(
                        "deadline_ms".into(),
                        Value::from(remaining.as_millis().max(1) as u64),
                    );
                }
                let header = serde_json::to_vec(&header).unwrap_or_default();
                let frame = protocol::frame(&header, &body[n..]);
                let sent = frame.len() as u64;
                async move {
                    let (l, r) = self.attempt(frame).await?;
                    Ok((l, r, sent))
                }
            })
            .await?;
        Ok(CloudReply {
            logits,
            bytes_sent: ByteCount(sent),
            bytes_received: ByteCount(received),
            latency: Seconds(start.elapsed().as_secs_f64()),
        })
    }
}
