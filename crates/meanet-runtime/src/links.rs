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

/// The payload `cloud.payload` names, for a bundle whose input is `input`.
pub fn payload(kind: PayloadKind, input: &InputSpec) -> Payload {
    match kind {
        PayloadKind::F32 => Payload::F32,
        PayloadKind::U8 => Payload::U8(Normalisation::from(input)),
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
                None => (c.quic_addr, Trust::PemFile(c.quic_cert.clone())),
            };
            let cfg = QuicLinkConfig {
                server_name: c.quic_server_name.clone(),
                model: c.model.clone(),
                input_name: c.input_name.clone(),
                token: c.token.clone(),
                retry,
                payload: payload(c.payload, input),
                ..QuicLinkConfig::new(addr, trust)
            };
            let q = Arc::new(QuicLink::new(cfg)?);
            let p = Arc::clone(&q);
            Ok(Some((q, Arc::new(move || breaker_name(p.breaker_state())))))
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
                payload: payload(c.payload, input),
                ..HttpLinkConfig::new(url, c.model.clone())
            };
            let h = Arc::new(HttpLink::new(cfg)?);
            let p = Arc::clone(&h);
            Ok(Some((h, Arc::new(move || breaker_name(p.breaker_state())))))
        }
    }
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
