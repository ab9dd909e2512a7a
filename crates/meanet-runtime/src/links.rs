//! Cloud links: the one [`CloudOptions::transport`] names (HTTP or QUIC, from `meanet-transport`), with
//! its payload and a probe of its circuit breaker; and the link that is never there.

use std::sync::Arc;

use anyhow::{Context, Result};
use meanet_core::CloudLink;
use meanet_core::Normalisation;
use meanet_core::manifest::InputSpec;
use meanet_transport::protocol::Payload;
use meanet_transport::{HttpLink, HttpLinkConfig, QuicLink, QuicLinkConfig, RunningServer, Trust};

use crate::options::{CloudOptions, PayloadKind, Transport};

/// The cloud link `cloud.transport` names, pointed at `server` if given; `None` for
/// `transport = "none"`. Must be called inside the async runtime (a QUIC endpoint binds its
/// socket on the runtime it is made in).
pub fn link(
    cloud: &CloudOptions,
    input: &InputSpec,
    server: Option<&RunningServer>,
) -> Result<Option<Arc<dyn CloudLink>>> {
    Ok(watched_link(cloud, input, server)?.map(|(l, _)| l))
}

/// The payload `cloud.payload` names, for a bundle whose input is `input` (`jpeg_quality` for
/// `jpeg`).
pub fn payload(kind: PayloadKind, jpeg_quality: u8, input: &InputSpec) -> Payload {
    use meanet_transport::protocol::ImageCodec;
    match kind {
        PayloadKind::F32 => Payload::F32,
        PayloadKind::U8 => Payload::U8(Normalisation::from(input)),
        PayloadKind::Png => Payload::Image(Normalisation::from(input), ImageCodec::Png),
        PayloadKind::Jpeg => {
            Payload::Image(Normalisation::from(input), ImageCodec::Jpeg(jpeg_quality))
        }
    }
}

/// The link `cloud.transport` names (as [`link`]) and a probe of its circuit breaker.
pub fn watched_link(
    cloud: &CloudOptions,
    input: &InputSpec,
    server: Option<&RunningServer>,
) -> Result<Option<(Arc<dyn CloudLink>, crate::metrics::BreakerProbe)>> {
    let c = cloud;
    let retry = c.retry();
    match c.transport {
        Transport::None => Ok(None),
        Transport::Quic => {
            let (addr, trust) = match server {
                Some(s) => (
                    s.quic_addr()
                        .context("the loopback server has no QUIC listener")?,
                    Trust::Der(
                        s.quic_certificate()
                            .context("no QUIC certificate")?
                            .to_vec(),
                    ),
                ),
                None => (c.quic_addr, Trust::PemFile(quic_cert(c))),
            };
            let cfg = QuicLinkConfig {
                server_name: c.quic_server_name.clone(),
                model: c.model.clone(),
                input_name: c.input_name.clone(),
                token: c.token.clone(),
                retry,
                payload: payload(c.payload, c.jpeg_quality, input),
                ..QuicLinkConfig::new(addr, trust)
            };
            let q = Arc::new(QuicLink::new(cfg)?);
            let p = Arc::clone(&q);
            let reported = Arc::new(Reported::new(q, format!("QUIC {addr}")));
            Ok(Some((
                reported,
                Arc::new(move || breaker_name(p.breaker_state())),
            )))
        }
        Transport::Http => {
            let url = match server {
                Some(s) => format!("http://{}", s.http_addr().context("no HTTP listener")?),
                None => c.url.clone(),
            };
            let cfg = HttpLinkConfig {
                input_name: c.input_name.clone(),
                binary: c.binary,
                token: c.token.clone(),
                ca_cert: c.ca_cert.clone(),
                retry,
                payload: payload(c.payload, c.jpeg_quality, input),
                ..HttpLinkConfig::new(url, c.model.clone())
            };
            let what = cfg.url.clone();
            let h = Arc::new(HttpLink::new(cfg)?);
            let p = Arc::clone(&h);
            let reported = Arc::new(Reported::new(h, what));
            Ok(Some((
                reported,
                Arc::new(move || breaker_name(p.breaker_state())),
            )))
        }
    }
}

/// The QUIC certificate the edge trusts: `cloud.quic_cert`, else the file `meanet serve` writes
/// its generated one to by default ([`crate::options::QUIC_CERT_FILE`] in the cache), so the two
/// meet on one machine without a setting.
pub fn quic_cert(c: &CloudOptions) -> std::path::PathBuf {
    c.quic_cert
        .clone()
        .unwrap_or_else(crate::options::default_quic_cert)
}

/// The name of a circuit-breaker state, as the metrics report it.
pub fn breaker_name(state: meanet_transport::BreakerState) -> &'static str {
    match state {
        meanet_transport::BreakerState::Closed { .. } => "closed",
        meanet_transport::BreakerState::Open { .. } => "open",
        meanet_transport::BreakerState::HalfOpen => "half_open",
    }
}

/// A link that is never there: offloads degrade (`cloud.transport = "none"`).
#[derive(Debug, Clone, Copy)]
pub struct NoCloud;

#[async_trait::async_trait]
impl CloudLink for NoCloud {
    async fn classify(
        &self,
        _: ndarray::ArrayD<f32>,
    ) -> Result<meanet_core::CloudReply, meanet_core::CloudError> {
        Err(meanet_core::CloudError::NotConfigured)
    }
}

/// The most distinct failure causes [`Reported`] remembers; past it, nothing more is logged
/// (a server that answers with ever new messages cannot grow the set without bound).
const MAX_REPORTED_CAUSES: usize = 64;

/// A cloud link that says why it fails: the first failure of each cause (its kind and the
/// innermost reason, such as rustls' verdict on a certificate) is logged at warn level with
/// its whole chain of reasons, once. The samples are degraded as before; this only makes the
/// reason visible, where a degraded outcome carries the kind alone.
pub struct Reported {
    inner: Arc<dyn CloudLink>,
    what: String,
    seen: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl std::fmt::Debug for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reported")
            .field("what", &self.what)
            .finish()
    }
}

impl Reported {
    /// Wraps `inner`; `what` names the cloud in the log (its URL or address).
    pub fn new(inner: Arc<dyn CloudLink>, what: impl Into<String>) -> Self {
        Reported {
            inner,
            what: what.into(),
            seen: std::sync::Mutex::default(),
        }
    }

    /// Logs `e` unless its cause was logged already; returns whether it logged.
    pub fn report(&self, e: &meanet_core::CloudError) -> bool {
        let (reason, innermost) = explain(e);
        // A failure without a source (a timeout, a status) is one cause per kind, whatever
        // numbers its text holds; one with a source is one cause per innermost reason.
        let key = match std::error::Error::source(e) {
            Some(_) => format!("{}: {innermost}", e.kind().name()),
            None => e.kind().name().to_string(),
        };
        {
            let mut seen = match self.seen.lock() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            if seen.len() >= MAX_REPORTED_CAUSES || !seen.insert(key) {
                return false;
            }
        }
        let hint = hint(e, &reason);
        tracing::warn!(
            "cloud link to {}: {reason}{hint} (samples are answered on the edge, marked degraded \"{}\"; this cause is reported once)",
            self.what,
            e.kind().name()
        );
        true
    }
}

/// `e` and every reason under it, joined with `": "`, and the innermost reason alone.
pub fn explain(e: &meanet_core::CloudError) -> (String, String) {
    let mut parts = vec![e.to_string()];
    let mut next = std::error::Error::source(e);
    while let Some(err) = next {
        let text = err.to_string();
        // Layers often repeat the layer below in their own text.
        if parts.last().is_none_or(|last| !last.contains(&text)) {
            parts.push(text);
        }
        if parts.len() > 16 {
            break;
        }
        next = err.source();
    }
    let innermost = parts.last().cloned().unwrap_or_default();
    (parts.join(": "), innermost)
}

/// What to do about the failures whose fix is known.
fn hint(e: &meanet_core::CloudError, reason: &str) -> &'static str {
    match e.kind() {
        meanet_core::CloudErrorKind::Tls if reason.contains("CaUsedAsEndEntity") => {
            ". The server presents a CA certificate (basicConstraints CA:TRUE) as its own; TLS \
             refuses that. Make a CA, sign a server certificate with it, serve the server \
             certificate and trust the CA (cloud.ca_cert): docs/transport.md, TLS"
        }
        meanet_core::CloudErrorKind::Tls if reason.contains("UnknownIssuer") => {
            ". The server's certificate is not signed by a CA this edge trusts: set \
             cloud.ca_cert to the CA that signed it (docs/transport.md, TLS)"
        }
        meanet_core::CloudErrorKind::Tls if reason.contains("not valid for name") => {
            ". The certificate does not name the host in cloud.url: give it that name in \
             subjectAltName (docs/transport.md, TLS)"
        }
        meanet_core::CloudErrorKind::Unauthorized => {
            ". Set the server's token in cloud.token (MEANET_CLOUD__TOKEN)"
        }
        _ => "",
    }
}

#[async_trait::async_trait]
impl CloudLink for Reported {
    async fn classify(
        &self,
        input: ndarray::ArrayD<f32>,
    ) -> Result<meanet_core::CloudReply, meanet_core::CloudError> {
        let reply = self.inner.classify(input).await;
        if let Err(e) = &reply {
            self.report(e);
        }
        reply
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meanet_core::CloudError;

    #[derive(Debug, thiserror::Error)]
    #[error("invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))")]
    struct Cert;

    #[test]
    fn each_cause_is_reported_once_with_its_reason_and_a_hint() {
        let link = Reported::new(Arc::new(NoCloud), "https://cloud:8443");
        let tls = || CloudError::Tls(Box::new(Cert));
        let (reason, innermost) = explain(&tls());
        assert_eq!(
            reason,
            "TLS handshake with the cloud failed: invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))"
        );
        assert!(innermost.contains("CaUsedAsEndEntity"));
        assert!(hint(&tls(), &reason).contains("CA:TRUE"));
        assert!(link.report(&tls()), "the first TLS failure is logged");
        assert!(!link.report(&tls()), "the same cause is not logged twice");
        assert!(link.report(&CloudError::Unreachable("connection refused".into())));
        assert!(link.report(&CloudError::Timeout(meanet_core::Seconds(0.5))));
        assert!(!link.report(&CloudError::Timeout(meanet_core::Seconds(0.2))));
        for k in 0..2 * MAX_REPORTED_CAUSES {
            link.report(&CloudError::Unreachable(format!("reason {k}").into()));
        }
        assert_eq!(
            link.seen.lock().map(|s| s.len()).unwrap_or(0),
            MAX_REPORTED_CAUSES,
            "the set of causes is bounded"
        );
    }
}
