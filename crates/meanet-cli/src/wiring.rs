//! The wiring: the only place adapters are chosen. Blocks run on ONNX Runtime (`meanet-onnx`)
//! or tract (`meanet-tract`) as `runtime.backend` says, the cloud link is HTTP or QUIC
//! (`meanet-transport`) as `cloud.transport` says, energy comes from the ONNX graphs
//! (`meanet-energy`) and data from `meanet-data`. Commands ask this module for ports and never
//! name an adapter themselves.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use meanet_core::manifest::{InputSpec, Tensors};
use meanet_core::{BoxError, Classifier, CloudLink, ExtensionBlock, MainBlock, ModelSignature};
use meanet_data::{DataSource, Splits};
use meanet_transport::protocol::{Normalisation, Payload};
use meanet_transport::{
    BatchConfig, HttpLink, HttpLinkConfig, QuicLink, QuicLinkConfig, RunningServer, ServedModel,
    Server, ServerConfig, TensorInfo, TlsFiles, Trust,
};
use ndarray::{Array2, ArrayViewD};

use crate::deploy::Deployment;
use crate::settings::{Backend, PayloadKind, RuntimeSettings, ServerSettings, Settings, Transport};

#[cfg(not(any(feature = "ort", feature = "tract")))]
compile_error!("meanet needs an inference backend: enable the `ort` or the `tract` feature");

/// A network loaded by the chosen backend, with what its file declares.
pub struct Loaded<T> {
    /// The port.
    pub block: T,
    /// Its inputs and outputs as the file declares them.
    pub signature: ModelSignature,
    /// The class count of its logits output, if declared.
    pub classes: Option<usize>,
}

/// The inference backend `runtime.backend` names, ready to load networks.
pub enum Engine {
    /// ONNX Runtime, with its loaded library.
    #[cfg(feature = "ort")]
    Ort(meanet_onnx::Runtime),
    /// tract (nothing to load).
    #[cfg(feature = "tract")]
    Tract,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.backend().name())
    }
}

/// Loads a network with the engine's adapter: `$ort` (given the runtime first) or `$tract`, by
/// `$method`, recording its signature and `$classes`.
macro_rules! load {
    ($engine:expr, $ort:ident, $tract:ident, $method:ident, $classes:ident, ($($arg:expr),*)) => {
        match $engine {
            #[cfg(feature = "ort")]
            Engine::Ort(rt) => {
                let b = meanet_onnx::$ort::$method(rt, $($arg),*)?;
                let (signature, classes) = (b.model().signature().clone(), b.$classes());
                Loaded { block: Box::new(b), signature, classes }
            }
            #[cfg(feature = "tract")]
            Engine::Tract => {
                let b = meanet_tract::$tract::$method($($arg),*)?;
                let (signature, classes) = (b.model().signature().clone(), b.$classes());
                Loaded { block: Box::new(b), signature, classes }
            }
        }
    };
}

impl Engine {
    /// Starts the backend `settings.backend` names (for ONNX Runtime: loads its library).
    pub fn new(settings: &RuntimeSettings) -> Result<Self> {
        match settings.backend {
            #[cfg(feature = "ort")]
            Backend::Ort => {
                let provider = meanet_onnx::Provider::parse(settings.provider.name())
                    .context("unknown execution provider")?;
                let options = meanet_onnx::RuntimeOptions {
                    library: settings.library.clone(),
                    provider,
                    intra_threads: settings.threads,
                    inter_threads: None,
                };
                let rt = meanet_onnx::Runtime::new(options).context("loading ONNX Runtime")?;
                Ok(Engine::Ort(rt))
            }
            #[cfg(feature = "tract")]
            Backend::Tract => Ok(Engine::Tract),
            #[allow(unreachable_patterns)] // reachable when a backend's feature is off
            other => anyhow::bail!(
                "runtime.backend = \"{}\", but this meanet was built without the `{}` cargo feature",
                other.name(),
                other.name()
            ),
        }
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self {
            #[cfg(feature = "ort")]
            Engine::Ort(_) => Backend::Ort,
            #[cfg(feature = "tract")]
            Engine::Tract => Backend::Tract,
        }
    }

    /// A human description: the backend, its version and (ONNX Runtime) its library.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        match self {
            #[cfg(feature = "ort")]
            Engine::Ort(rt) => vec![
                ("backend", "ort".into()),
                ("library", rt.library().display().to_string()),
                (
                    "expected",
                    format!("ONNX Runtime {}", meanet_onnx::ORT_VERSION),
                ),
            ],
            #[cfg(feature = "tract")]
            Engine::Tract => vec![
                ("backend", "tract".into()),
                (
                    "engine",
                    format!(
                        "tract-onnx {} (pure Rust, no shared library)",
                        meanet_tract::TRACT_VERSION
                    ),
                ),
            ],
        }
    }

    /// A main block whose tensors are called as `names` says.
    pub fn main(&self, path: &Path, names: &Tensors) -> Result<Loaded<Box<dyn MainBlock>>> {
        Ok(load!(
            self,
            OrtMainBlock,
            TractMainBlock,
            load_named,
            num_classes,
            (path, names)
        ))
    }

    /// An extension block whose tensors are called as `names` says.
    pub fn extension(
        &self,
        path: &Path,
        names: &Tensors,
    ) -> Result<Loaded<Box<dyn ExtensionBlock>>> {
        Ok(load!(
            self,
            OrtExtensionBlock,
            TractExtensionBlock,
            load_named,
            num_hard_classes,
            (path, names)
        ))
    }

    /// A classifier whose input and output are called `names` (input, output), or any one
    /// input and output when `None` (`meanet serve --model`).
    pub fn classifier(
        &self,
        path: &Path,
        names: Option<(&str, &str)>,
    ) -> Result<Loaded<Box<dyn Classifier>>> {
        Ok(match names {
            Some((input, output)) => load!(
                self,
                OrtClassifier,
                TractClassifier,
                load_named,
                num_classes,
                (path, input, output)
            ),
            None => load!(
                self,
                OrtClassifier,
                TractClassifier,
                load,
                num_classes,
                (path)
            ),
        })
    }
}

/// A classifier from either backend as the transport's served model.
pub struct Served(pub Loaded<Box<dyn Classifier>>);

impl Served {
    fn info(spec: &meanet_core::TensorSpec) -> TensorInfo {
        TensorInfo {
            name: spec.name.clone(),
            shape: spec.shape.clone(),
        }
    }
}

#[cfg(feature = "ort")]
impl From<meanet_onnx::OrtClassifier> for Served {
    fn from(b: meanet_onnx::OrtClassifier) -> Self {
        let (signature, classes) = (b.model().signature().clone(), b.num_classes());
        Served(Loaded {
            block: Box::new(b),
            signature,
            classes,
        })
    }
}

#[cfg(feature = "tract")]
impl From<meanet_tract::TractClassifier> for Served {
    fn from(b: meanet_tract::TractClassifier) -> Self {
        let (signature, classes) = (b.model().signature().clone(), b.num_classes());
        Served(Loaded {
            block: Box::new(b),
            signature,
            classes,
        })
    }
}

impl ServedModel for Served {
    fn input(&self) -> TensorInfo {
        Self::info(&self.0.signature.inputs[0])
    }

    fn output(&self) -> TensorInfo {
        Self::info(&self.0.signature.outputs[0])
    }

    fn infer(&mut self, input: ArrayViewD<'_, f32>) -> Result<Array2<f32>, BoxError> {
        Ok(self.0.block.classify(input)?)
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
        uint8_input: None,
        answer_delay: Duration::ZERO,
    }
}

/// Starts serving `model_path` (an ONNX classifier) as `settings.server` describes; with
/// `input` (a bundle's), UINT8 pixels are taken too and normalised as the bundle says.
pub async fn start_server(
    settings: &Settings,
    model_path: &Path,
    input: Option<&InputSpec>,
) -> Result<RunningServer> {
    let model = Engine::new(&settings.runtime)?
        .classifier(model_path, None)
        .with_context(|| format!("loading the model to serve from {}", model_path.display()))?;
    let cfg = ServerConfig {
        uint8_input: input.map(normalisation),
        ..server_config(&settings.server)
    };
    Server::start(Box::new(Served(model)), cfg)
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
    let model = dep
        .engine
        .classifier(&dep.bundle.cloud_path(), Some((&t.input, &t.cloud_logits)))
        .context("loading the cloud model")?;
    let loopback: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
    let cfg = ServerConfig {
        model_name: settings.cloud.model.clone(),
        http: Some(loopback),
        quic: quic.then_some(loopback),
        // A loopback server has no certificate files: QUIC uses a generated one.
        tls: None,
        uint8_input: Some(normalisation(&dep.bundle.manifest.input)),
        ..server_config(&settings.server)
    };
    Ok(Server::start(Box::new(Served(model)), cfg).await?)
}

/// The cloud link `cloud.transport` names, pointed at `server` if given; `None` for
/// `transport = "none"`. Must be called inside the async runtime (a QUIC endpoint binds its
/// socket on the runtime it is made in).
pub fn link(
    settings: &Settings,
    input: &InputSpec,
    server: Option<&RunningServer>,
) -> Result<Option<Arc<dyn CloudLink>>> {
    Ok(watched_link(settings, input, server)?.map(|(l, _)| l))
}

/// The payload `cloud.payload` names, for a bundle whose input is `input`.
pub fn payload(kind: PayloadKind, input: &InputSpec) -> Payload {
    match kind {
        PayloadKind::F32 => Payload::F32,
        PayloadKind::U8 => Payload::U8(normalisation(input)),
    }
}

/// The normalisation of a bundle's input, for servers that take UINT8 pixels.
pub fn normalisation(input: &InputSpec) -> Normalisation {
    Normalisation {
        mean: input.mean.clone(),
        std: input.std.clone(),
    }
}

/// The link `cloud.transport` names (as [`link`]) and a probe of its circuit breaker.
pub fn watched_link(
    settings: &Settings,
    input: &InputSpec,
    server: Option<&RunningServer>,
) -> Result<Option<(Arc<dyn CloudLink>, crate::metrics::BreakerProbe)>> {
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

/// Reads the test split of `source` alone (the training files are not read).
pub fn test_data(source: &DataSource, cache: &Path) -> Result<meanet_data::Dataset> {
    source.load_test(cache).with_context(|| {
        format!(
            "loading the {} test split{}",
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
