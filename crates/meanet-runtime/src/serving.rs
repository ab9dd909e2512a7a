//! Servers: `meanet serve`'s v2 server, the bundle's cloud model on loopback, and the metrics
//! endpoint, configured by [`ServerOptions`].

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use meanet_core::Normalisation;
use meanet_core::manifest::InputSpec;
use meanet_transport::{BatchConfig, Limits, RunningServer, Server, ServerConfig, TlsFiles};

use crate::backend::Engine;
use crate::deploy::Deployment;
use crate::options::{BackendOptions, ServerOptions, ServerRole};

/// The transport's server configuration for `[server]` settings, as the server of `role`
/// (which fills in the keys left unset). Every key of `[server]` reaches it.
pub fn server_config(s: &ServerOptions, role: ServerRole) -> ServerConfig {
    ServerConfig {
        model_name: s.model_name(role).to_string(),
        http: Some(s.http(role)),
        quic: s.quic,
        batch: BatchConfig {
            max_batch: s.max_batch,
            max_delay: Duration::from_millis(s.max_delay_ms),
            queue_capacity: s.queue,
        },
        max_body_bytes: s.max_body,
        auth_token: s.token.clone(),
        tls: match (&s.tls_cert, &s.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        },
        default_deadline: Duration::from_millis(s.deadline_ms),
        uint8_input: None,
        answer_delay: Duration::ZERO,
        limits: Limits {
            header_read_timeout: Duration::from_millis(s.header_read_timeout_ms),
            idle_timeout: Duration::from_millis(s.idle_timeout_ms),
            max_connections: s.max_connections,
            quic_idle_timeout: Duration::from_millis(s.quic_idle_timeout_ms),
            quic_max_streams: s.quic_max_streams,
        },
    }
}

/// Starts serving `model_path` (an ONNX classifier) as `settings.server` describes; with
/// `input` (a bundle's), UINT8 pixels are taken too and normalised as the bundle says.
pub async fn start_server(
    backend: &BackendOptions,
    server: &ServerOptions,
    model_path: &Path,
    input: Option<&InputSpec>,
) -> Result<RunningServer> {
    let model = Engine::new(backend)?
        .classifier(model_path, None)
        .with_context(|| format!("loading the model to serve from {}", model_path.display()))?;
    let cfg = ServerConfig {
        uint8_input: input.map(Normalisation::from),
        ..server_config(server, ServerRole::Cloud)
    };
    Server::start(Box::new(model), cfg)
        .await
        .with_context(|| format!("starting the server for {}", model_path.display()))
}

/// Starts the bundle's cloud model on loopback (HTTP, and QUIC if `quic`), with the `[server]`
/// batching, limits and token; its body limit is at least a request of `batch` FP32 samples of
/// the bundle's input (the edge's batch: `policy.batch_size`).
pub async fn loopback_cloud(
    dep: &Deployment,
    server: &ServerOptions,
    model_name: &str,
    quic: bool,
    batch: usize,
) -> Result<RunningServer> {
    let model = dep.bundle.cloud(&dep.engine)?;
    let loopback: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
    // The edge's own cloud takes a whole batch of FP32 samples whatever their size: at 224x224
    // a batch of 64 is 39 MB, over the 16 MiB a public server allows by default.
    let batch_bytes = dep
        .bundle
        .manifest
        .sample_len()
        .saturating_mul(4)
        .saturating_mul(batch.max(1))
        .saturating_add(1 << 16);
    let cfg = ServerConfig {
        model_name: model_name.to_string(),
        max_body_bytes: server.max_body.max(batch_bytes),
        http: Some(loopback),
        quic: quic.then_some(loopback),
        // A loopback server has no certificate files: QUIC uses a generated one.
        tls: None,
        uint8_input: Some(Normalisation::from(&dep.bundle.manifest.input)),
        ..server_config(server, ServerRole::Cloud)
    };
    Ok(Server::start(Box::new(model), cfg).await?)
}

/// Serves `metrics` at http://ADDR/metrics (`meanet run --metrics`).
pub async fn metrics_server(
    addr: std::net::SocketAddr,
    metrics: Arc<crate::metrics::RoutingMetrics>,
) -> Result<meanet_transport::MetricsServer> {
    let render: meanet_transport::RenderMetrics = Arc::new(move || metrics.encode());
    meanet_transport::MetricsServer::start(addr, render)
        .await
        .with_context(|| format!("serving metrics on {addr}"))
}

/// Stops a metrics server, if one runs.
pub async fn stop_metrics(server: Option<meanet_transport::MetricsServer>) {
    if let Some(s) = server {
        s.shutdown().await;
    }
}

/// Shuts a loopback server down, giving in-flight requests two seconds.
pub async fn stop(server: Option<RunningServer>) {
    if let Some(s) = server {
        s.shutdown(Duration::from_secs(2)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one rule for `[server]`: every key reaches the server of either role. The literal
    /// names every field, so a new key does not compile until it is checked here too.
    #[test]
    fn every_server_key_reaches_the_server_of_either_role() {
        let s = ServerOptions {
            model_name: Some("foo".into()),
            http: Some(([127, 0, 0, 2], 9100).into()),
            quic: Some(([127, 0, 0, 2], 9101).into()),
            quic_cert_out: Some("/tmp/x/cert.pem".into()),
            token: Some("t".into()),
            tls_cert: Some("c.pem".into()),
            tls_key: Some("k.pem".into()),
            deadline_ms: 1234,
            max_batch: 7,
            max_delay_ms: 9,
            queue: 11,
            max_body: 4096,
            drain_ms: 3000,
            unready_ms: 100,
            header_read_timeout_ms: 77,
            idle_timeout_ms: 88,
            max_connections: 13,
            quic_idle_timeout_ms: 99,
            quic_max_streams: 17,
        };
        for role in [ServerRole::Cloud, ServerRole::Edge] {
            let c = server_config(&s, role);
            assert_eq!(c.model_name, "foo", "{role:?}");
            assert_eq!(c.http, s.http, "{role:?}");
            assert_eq!(c.quic, s.quic, "{role:?}");
            assert_eq!(
                s.quic_cert_path(Path::new("/cache")),
                Path::new("/tmp/x/cert.pem")
            );
            assert_eq!(c.auth_token.as_deref(), Some("t"), "{role:?}");
            let tls = c.tls.as_ref().expect("tls");
            assert_eq!(
                (tls.cert.as_path(), tls.key.as_path()),
                (Path::new("c.pem"), Path::new("k.pem"))
            );
            assert_eq!(c.default_deadline, Duration::from_millis(1234));
            assert_eq!(
                (c.batch.max_batch, c.batch.max_delay, c.batch.queue_capacity),
                (7, Duration::from_millis(9), 11)
            );
            assert_eq!(c.max_body_bytes, 4096);
            assert_eq!(
                s.drain(),
                (Duration::from_millis(100), Duration::from_millis(2900))
            );
            let l = &c.limits;
            assert_eq!(
                (l.header_read_timeout, l.idle_timeout, l.max_connections),
                (Duration::from_millis(77), Duration::from_millis(88), 13)
            );
            assert_eq!(
                (l.quic_idle_timeout, l.quic_max_streams),
                (Duration::from_millis(99), 17)
            );
        }
        // Unset, the three role keys take the role's defaults, and a certificate never lands in
        // the working directory.
        let unset = ServerOptions::default();
        let (cloud, edge) = (
            server_config(&unset, ServerRole::Cloud),
            server_config(&unset, ServerRole::Edge),
        );
        assert_eq!(
            (cloud.model_name.as_str(), edge.model_name.as_str()),
            ("cloud", "meanet")
        );
        assert_eq!(cloud.http.map(|a| a.port()), Some(8000));
        assert_eq!(edge.http.map(|a| a.port()), Some(8080));
        assert_eq!(
            unset.quic_cert_path(Path::new("/cache")),
            Path::new("/cache").join(crate::options::QUIC_CERT_FILE)
        );
    }
}
