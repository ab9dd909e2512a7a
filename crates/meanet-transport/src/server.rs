//! The inference server: v2 REST endpoints over HTTP(S), and QUIC, in front of one batcher.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::batcher::{BatchConfig, Batcher, InferError};
use crate::metrics::Metrics;
use crate::protocol::{self, ErrorBody, HEADER_LENGTH};
use crate::{ServedModel, TensorInfo, quic};

/// Header a client may set to bound how long the server works on a request, in milliseconds.
pub const DEADLINE_HEADER: &str = "x-meanet-deadline-ms";

/// PEM files for TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
}

/// How the server listens and behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// The model's name in URLs (`/v2/models/{name}`).
    pub model_name: String,
    /// HTTP listen address (`None`: no HTTP).
    pub http: Option<SocketAddr>,
    /// QUIC listen address (`None`: no QUIC).
    pub quic: Option<SocketAddr>,
    /// Dynamic batching.
    pub batch: BatchConfig,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Bearer token required on model endpoints (`None`: no auth).
    pub auth_token: Option<String>,
    /// TLS for HTTP and QUIC. Without it HTTP is plain and QUIC uses a generated self-signed
    /// certificate (see [`crate::RunningServer::quic_certificate`]).
    pub tls: Option<TlsFiles>,
    /// Deadline applied when a request carries none.
    pub default_deadline: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            model_name: "cloud".into(),
            http: Some(SocketAddr::from(([127, 0, 0, 1], 8000))),
            quic: None,
            batch: BatchConfig::default(),
            max_body_bytes: 16 << 20,
            auth_token: None,
            tls: None,
            default_deadline: Duration::from_secs(10),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listen address could not be bound.
    #[error("could not listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// TLS material could not be loaded.
    #[error("TLS setup failed: {0}")]
    Tls(String),
}

pub(crate) struct Shared {
    pub(crate) batcher: Batcher,
    pub(crate) model_name: String,
    pub(crate) input: TensorInfo,
    pub(crate) output: TensorInfo,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) token: Option<String>,
    pub(crate) default_deadline: Duration,
    pub(crate) max_body_bytes: usize,
}

/// A failed request: status code and message.
pub(crate) type Failure = (u16, String);

impl Shared {
    /// Decodes, validates, batches and encodes one inference; shared by HTTP and QUIC.
    pub(crate) async fn infer(
        &self,
        body: &[u8],
        header_len: Option<usize>,
        deadline: Option<Duration>,
    ) -> Result<(bytes::Bytes, Option<usize>), Failure> {
        let req = protocol::decode_request(body, header_len).map_err(|e| (400, e.0))?;
        let want = &self.input.shape;
        let got = req.input.shape();
        let fits = want.len() == got.len()
            && want.iter().zip(got).all(|(w, &g)| w.is_none_or(|w| w == g))
            && got.first().is_some_and(|&n| n > 0);
        if !fits {
            let dims: Vec<String> = want
                .iter()
                .map(|d| d.map_or("-1".to_string(), |d| d.to_string()))
                .collect();
            return Err((
                400,
                format!(
                    "input shape {got:?} does not match model input {:?} [{}]",
                    self.input.name,
                    dims.join(", ")
                ),
            ));
        }
        let budget = deadline.unwrap_or(self.default_deadline);
        let rx = self
            .batcher
            .submit(req.input, Some(Instant::now() + budget))
            .map_err(|e| (status_of(&e), e.to_string()))?;
        let logits = match tokio::time::timeout(budget, rx).await {
            Err(_) => return Err((504, InferError::DeadlineExceeded.to_string())),
            Ok(Err(_)) => return Err((503, InferError::Stopped.to_string())),
            Ok(Ok(Err(e))) => return Err((status_of(&e), e.to_string())),
            Ok(Ok(Ok(l))) => l,
        };
        Ok(protocol::encode_response(
            &self.model_name,
            req.id,
            &self.output.name,
            &logits,
            req.binary_output,
        ))
    }
}

fn status_of(e: &InferError) -> u16 {
    match e {
        InferError::Overloaded | InferError::Stopped => 503,
        InferError::DeadlineExceeded => 504,
        InferError::Model(_) => 500,
    }
}

fn error_response(status: u16, message: String) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (code, axum::Json(ErrorBody { error: message })).into_response();
    if status == 503 {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

/// The server, before it starts.
#[derive(Debug)]
pub struct Server;

/// A started server: its bound addresses and a handle to stop it.
#[derive(Debug)]
pub struct RunningServer {
    http_addr: Option<SocketAddr>,
    quic_addr: Option<SocketAddr>,
    quic_cert: Option<Vec<u8>>,
    quic_generated_pem: Option<String>,
    handle: axum_server::Handle,
    http_task: Option<tokio::task::JoinHandle<()>>,
    quic_endpoint: Option<quinn::Endpoint>,
    quic_task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningServer {
    /// The bound HTTP address.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// The bound QUIC address.
    pub fn quic_addr(&self) -> Option<SocketAddr> {
        self.quic_addr
    }

    /// DER of the QUIC server certificate (the generated self-signed one, or the configured one).
    pub fn quic_certificate(&self) -> Option<&[u8]> {
        self.quic_cert.as_deref()
    }

    /// PEM of the self-signed QUIC certificate the server generated (when no TLS files were
    /// configured), for clients to trust.
    pub fn generated_quic_certificate_pem(&self) -> Option<&str> {
        self.quic_generated_pem.as_deref()
    }

    /// Stops accepting, lets in-flight requests finish (up to `grace`), then returns.
    pub async fn shutdown(mut self, grace: Duration) {
        self.handle.graceful_shutdown(Some(grace));
        if let Some(ep) = self.quic_endpoint.take() {
            // Stop accepting; streams in flight finish within the grace period.
            ep.set_server_config(None);
            if let Some(t) = self.quic_task.as_mut() {
                let _ = tokio::time::timeout(grace, t).await;
            }
            ep.close(0u32.into(), b"shutdown");
            let _ = tokio::time::timeout(grace, ep.wait_idle()).await;
        }
        if let Some(t) = self.quic_task.take() {
            t.abort();
        }
        if let Some(t) = self.http_task.take() {
            let _ = tokio::time::timeout(grace + Duration::from_secs(1), t).await;
        }
    }

    /// Stops at once, dropping connections (for tests that kill a server).
    pub fn abort(mut self) {
        self.handle.shutdown();
        if let Some(ep) = self.quic_endpoint.take() {
            ep.close(0u32.into(), b"killed");
        }
        if let Some(t) = self.quic_task.take() {
            t.abort();
        }
        if let Some(t) = self.http_task.take() {
            t.abort();
        }
    }
}

impl Server {
    /// Starts serving `model` as configured; returns once every listener is bound.
    pub async fn start(
        model: Box<dyn ServedModel>,
        config: ServerConfig,
    ) -> Result<RunningServer, ServerError> {
        let metrics = Arc::new(Metrics::new());
        let (input, output) = (model.input(), model.output());
        let batcher = Batcher::start(model, config.batch, Arc::clone(&metrics));
        let shared = Arc::new(Shared {
            batcher,
            model_name: config.model_name.clone(),
            input,
            output,
            metrics,
            token: config.auth_token.clone(),
            default_deadline: config.default_deadline,
            max_body_bytes: config.max_body_bytes,
        });
        let tls = match &config.tls {
            Some(files) => Some(load_tls(files)?),
            None => None,
        };

        let handle = axum_server::Handle::new();
        let (mut http_addr, mut http_task) = (None, None);
        if let Some(addr) = config.http {
            let app = router(Arc::clone(&shared));
            let std_listener = std::net::TcpListener::bind(addr)
                .map_err(|source| ServerError::Bind { addr, source })?;
            std_listener
                .set_nonblocking(true)
                .map_err(|source| ServerError::Bind { addr, source })?;
            let bound = std_listener
                .local_addr()
                .map_err(|source| ServerError::Bind { addr, source })?;
            let h = handle.clone();
            let task = match &tls {
                Some((certs, key)) => {
                    let cfg = rustls_server_config(
                        certs.clone(),
                        key.clone_key(),
                        vec![b"h2".to_vec(), b"http/1.1".to_vec()],
                    )?;
                    let rustls = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(cfg));
                    tokio::spawn(async move {
                        let server = axum_server::from_tcp_rustls(std_listener, rustls).handle(h);
                        if let Err(e) = server.serve(app.into_make_service()).await {
                            tracing::error!("HTTPS server stopped: {e}");
                        }
                    })
                }
                None => tokio::spawn(async move {
                    let server = axum_server::from_tcp(std_listener).handle(h);
                    if let Err(e) = server.serve(app.into_make_service()).await {
                        tracing::error!("HTTP server stopped: {e}");
                    }
                }),
            };
            http_addr = Some(bound);
            http_task = Some(task);
        }

        let quic = match config.quic {
            Some(addr) => match start_quic(addr, tls.as_ref(), &shared) {
                Ok(q) => Some(q),
                Err(e) => {
                    // Leave nothing running behind a failed start.
                    handle.shutdown();
                    if let Some(t) = http_task.take() {
                        t.abort();
                    }
                    return Err(e);
                }
            },
            None => None,
        };
        let (quic_addr, quic_cert, quic_generated_pem, quic_endpoint, quic_task) = match quic {
            Some(q) => (
                q.endpoint.local_addr().ok(),
                q.cert,
                q.generated_pem,
                Some(q.endpoint),
                Some(q.task),
            ),
            None => (None, None, None, None, None),
        };
        Ok(RunningServer {
            http_addr,
            quic_addr,
            quic_cert,
            quic_generated_pem,
            handle,
            http_task,
            quic_endpoint,
            quic_task,
        })
    }
}

struct QuicParts {
    endpoint: quinn::Endpoint,
    task: tokio::task::JoinHandle<()>,
    cert: Option<Vec<u8>>,
    generated_pem: Option<String>,
}

fn start_quic(
    addr: SocketAddr,
    tls: Option<&CertKey>,
    shared: &Arc<Shared>,
) -> Result<QuicParts, ServerError> {
    let mut generated_pem = None;
    let (certs, key) = match tls {
        Some((c, k)) => (c.clone(), k.clone_key()),
        None => {
            let s = quic::self_signed(&["localhost", "127.0.0.1"])
                .map_err(|e| ServerError::Tls(e.to_string()))?;
            generated_pem = Some(s.cert_pem.clone());
            (vec![s.cert_der.clone().into()], s.key_der())
        }
    };
    let cert = certs.first().map(|c| c.to_vec());
    let cfg = rustls_server_config(certs, key, vec![quic::ALPN.to_vec()])?;
    let (endpoint, task) = quic::serve(addr, cfg, Arc::clone(shared))?;
    Ok(QuicParts {
        endpoint,
        task,
        cert,
        generated_pem,
    })
}

type CertKey = (
    Vec<rustls::pki_types::CertificateDer<'static>>,
    rustls::pki_types::PrivateKeyDer<'static>,
);

fn load_tls(files: &TlsFiles) -> Result<CertKey, ServerError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ServerError::Tls(format!("certificate {}: {e}", files.cert.display())))?;
    if certs.is_empty() {
        return Err(ServerError::Tls(format!(
            "no certificate in {}",
            files.cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| ServerError::Tls(format!("private key {}: {e}", files.key.display())))?;
    Ok((certs, key))
}

pub(crate) fn rustls_server_config(
    certs: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
    alpn: Vec<Vec<u8>>,
) -> Result<rustls::ServerConfig, ServerError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    cfg.alpn_protocols = alpn;
    Ok(cfg)
}

fn router(shared: Arc<Shared>) -> Router {
    let limit = shared.max_body_bytes;
    let models = Router::new()
        .route("/v2/models/{name}", get(model_metadata))
        .route("/v2/models/{name}/ready", get(model_ready))
        .route("/v2/models/{name}/infer", post(infer))
        .route_layer(middleware::from_fn_with_state(Arc::clone(&shared), auth));
    Router::new()
        .route("/v2", get(server_metadata))
        .route("/v2/health/live", get(|| async { StatusCode::OK }))
        .route("/v2/health/ready", get(|| async { StatusCode::OK }))
        .route("/metrics", get(metrics))
        .merge(models)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(shared)
}

async fn auth(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let Some(token) = &s.token else {
        return next.run(req).await;
    };
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let ok = presented.is_some_and(|p| {
        p.len() == token.len()
            && p.bytes()
                .zip(token.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    if ok {
        next.run(req).await
    } else {
        s.metrics.count("http", 401);
        let mut resp = error_response(401, "missing or invalid bearer token".into());
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        resp
    }
}

async fn server_metadata() -> Response {
    axum::Json(json!({
        "name": "meanet",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": ["binary_tensor_data"],
    }))
    .into_response()
}

fn shape_json(t: &TensorInfo) -> Vec<i64> {
    t.shape.iter().map(|d| d.map_or(-1, |d| d as i64)).collect()
}

async fn model_metadata(State(s): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    if name != s.model_name {
        return error_response(404, format!("unknown model {name:?}"));
    }
    axum::Json(json!({
        "name": s.model_name,
        "versions": ["1"],
        "platform": "onnxruntime_onnx",
        "inputs": [{"name": s.input.name, "datatype": "FP32", "shape": shape_json(&s.input)}],
        "outputs": [{"name": s.output.name, "datatype": "FP32", "shape": shape_json(&s.output)}],
    }))
    .into_response()
}

async fn model_ready(State(s): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    if name == s.model_name {
        StatusCode::OK.into_response()
    } else {
        error_response(404, format!("unknown model {name:?}"))
    }
}

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.encode(),
    )
        .into_response()
}

async fn infer(
    State(s): State<Arc<Shared>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let start = Instant::now();
    let result = infer_http(&s, &name, &headers, body).await;
    let resp = match result {
        Ok((body, header_len)) => {
            let mut resp = (StatusCode::OK, body).into_response();
            let h = resp.headers_mut();
            match header_len {
                Some(n) => {
                    h.insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/octet-stream"),
                    );
                    h.insert(HEADER_LENGTH, HeaderValue::from(n));
                }
                None => {
                    h.insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                }
            }
            resp
        }
        Err((status, msg)) => error_response(status, msg),
    };
    s.metrics.count("http", resp.status().as_u16());
    s.metrics.latency.observe(start.elapsed().as_secs_f64());
    resp
}

async fn infer_http(
    s: &Shared,
    name: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(bytes::Bytes, Option<usize>), Failure> {
    if name != s.model_name {
        return Err((404, format!("unknown model {name:?}")));
    }
    let body = body.map_err(|r| {
        let status = r.status().as_u16();
        if status == 413 {
            (
                413,
                format!("request body exceeds the {} byte limit", s.max_body_bytes),
            )
        } else {
            (
                status,
                format!("could not read the request body: {}", r.body_text()),
            )
        }
    })?;
    let header_len = match headers.get(HEADER_LENGTH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or((400, format!("{HEADER_LENGTH} is not a byte count")))?,
        ),
    };
    let deadline = match headers.get(DEADLINE_HEADER) {
        None => None,
        Some(v) => Some(Duration::from_millis(
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or((
                    400,
                    format!("{DEADLINE_HEADER} is not a number of milliseconds"),
                ))?,
        )),
    };
    s.infer(&body, header_len, deadline).await
}
