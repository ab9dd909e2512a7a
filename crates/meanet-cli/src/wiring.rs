//! The wiring: the only place adapters are chosen. Blocks run on ONNX Runtime
//! (`meanet-onnx`), the cloud link is HTTP or QUIC (`meanet-transport`) as `cloud.transport`
//! says, energy comes from the ONNX graphs (`meanet-energy`) and data from `meanet-data`.
//! Commands ask this module for ports and never name an adapter themselves.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use meanet_core::{BoxError, CloudLink};
use meanet_data::{DataSource, Splits};
use meanet_onnx::{OrtClassifier, Runtime};
use meanet_transport::{
    BatchConfig, HttpLink, HttpLinkConfig, QuicLink, QuicLinkConfig, RunningServer, ServedModel,
    Server, ServerConfig, TensorInfo, TlsFiles, Trust,
};
use ndarray::{Array2, ArrayViewD};

use crate::deploy::Deployment;
use crate::settings::{ServerSettings, Settings, Transport};

/// An ONNX classifier as the transport's served model.
pub struct OrtServed(pub OrtClassifier);

impl ServedModel for OrtServed {
    fn input(&self) -> TensorInfo {
        let s = &self.0.model().signature().inputs[0];
        TensorInfo {
            name: s.name.clone(),
            shape: s.shape.clone(),
        }
    }

    fn output(&self) -> TensorInfo {
        let s = &self.0.model().signature().outputs[0];
        TensorInfo {
            name: s.name.clone(),
            shape: s.shape.clone(),
        }
    }

    fn infer(&mut self, input: ArrayViewD<'_, f32>) -> Result<Array2<f32>, BoxError> {
        Ok(self.0.run(input)?)
    }
}

/// The transport's server configuration for `[server]` settings.
pub fn server_config(s: &ServerSettings) -> ServerConfig {
    ServerConfig {
        model_name: s.model_name.clone(),
        http: Some(s.http),
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
    }
}

/// Starts serving `model_path` (an ONNX classifier) as `settings.server` describes.
pub async fn start_server(settings: &Settings, model_path: &Path) -> Result<RunningServer> {
    let rt = Runtime::new(settings.runtime_options()).context("loading ONNX Runtime")?;
    let model = OrtClassifier::load(&rt, model_path)
        .with_context(|| format!("loading the model to serve from {}", model_path.display()))?;
    Server::start(Box::new(OrtServed(model)), server_config(&settings.server))
        .await
        .with_context(|| format!("starting the server for {}", model_path.display()))
}

/// Starts the bundle's cloud model on loopback (HTTP, and QUIC if `quic`), with the `[server]`
/// batching, limits and token.
pub async fn loopback_cloud(
    dep: &Deployment,
    settings: &Settings,
    quic: bool,
) -> Result<RunningServer> {
    let t = &dep.bundle.manifest.tensors;
    let model = OrtClassifier::load_named(
        &dep.runtime,
        dep.bundle.cloud_path(),
        &t.input,
        &t.cloud_logits,
    )
    .context("loading the cloud model")?;
    let loopback: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
    let cfg = ServerConfig {
        model_name: settings.cloud.model.clone(),
        http: Some(loopback),
        quic: quic.then_some(loopback),
        // A loopback server has no certificate files: QUIC uses a generated one.
        tls: None,
        ..server_config(&settings.server)
    };
    Ok(Server::start(Box::new(OrtServed(model)), cfg).await?)
}

/// The cloud link `cloud.transport` names, pointed at `server` if given; `None` for
/// `transport = "none"`. Must be called inside the async runtime (a QUIC endpoint binds its
/// socket on the runtime it is made in).
pub fn link(
    settings: &Settings,
    server: Option<&RunningServer>,
) -> Result<Option<Arc<dyn CloudLink>>> {
    let c = &settings.cloud;
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
                ..QuicLinkConfig::new(addr, trust)
            };
            Ok(Some(Arc::new(QuicLink::new(cfg)?)))
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
                ..HttpLinkConfig::new(url, c.model.clone())
            };
            Ok(Some(Arc::new(HttpLink::new(cfg)?)))
        }
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

/// Reads the training and test splits of `source` (Fashion-MNIST is fetched into `cache`).
pub fn data(source: &DataSource, cache: &Path) -> Result<Splits> {
    source.load(cache).with_context(|| {
        format!(
            "loading the {} data set{}",
            source.kind,
            source
                .path
                .as_ref()
                .map_or(String::new(), |p| format!(" from {}", p.display()))
        )
    })
}

/// Shuts a loopback server down, giving in-flight requests two seconds.
pub async fn stop(server: Option<RunningServer>) {
    if let Some(s) = server {
        s.shutdown(Duration::from_secs(2)).await;
    }
}
