//! The inference server: one [`service::RequestService`] behind two framings, HTTP(S)
//! ([`http`]) and QUIC ([`quic`]), in front of one batcher.

mod batcher;
mod endpoint;
mod http;
mod limits;
mod metrics;
mod metrics_server;
mod quic;
mod service;

pub use batcher::{BatchConfig, Batcher, InferError};
pub use endpoint::{Endpoint, OutputInfo};
pub use limits::Limits;
pub use metrics_server::{MetricsServer, RenderMetrics};
pub use service::{DEADLINE_HEADER, MAX_DEADLINE, ServiceError};

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use crate::ServedModel;
use crate::tls::{self, CertKey, TlsError, TlsFiles};
use metrics::Metrics;
use service::RequestService;

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
    /// Also take UINT8 pixels on the input, normalised with this before the model runs (for
    /// edges that send `cloud.payload = "u8"`). `None`: FP32 only.
    pub uint8_input: Option<crate::protocol::Normalisation>,
    /// Wait this long before answering each inference (0: none): stands in for a remote
    /// cloud's network latency in benchmarks and tests, without costing CPU here.
    pub answer_delay: Duration,
    /// Connection limits: header-read and idle timeouts, the connection cap, QUIC's idle
    /// timeout and stream cap.
    pub limits: Limits,
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
            uint8_input: None,
            answer_delay: Duration::ZERO,
            limits: Limits::default(),
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
    /// TLS material could not be loaded or configured.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// The server, before it starts.
#[derive(Debug)]
pub struct Server;

/// How long open connections must carry no request before a drain closes them.
const QUIET: Duration = Duration::from_millis(250);

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
    draining: Arc<AtomicBool>,
    closing: Arc<AtomicBool>,
    activity: Arc<limits::Activity>,
    quic_drain: watch::Sender<bool>,
    /// The HTTP listening socket (a second handle), to refuse new connections without
    /// touching the ones already accepted.
    listener: Option<std::net::TcpListener>,
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

    /// Whether the server is draining (readiness answers 503).
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Turns readiness to 503 at once, from now on, without closing anything (the first step
    /// of [`drain`](Self::drain), for callers that time the steps themselves).
    pub fn mark_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Drains the server, as an orchestrator expects on SIGTERM:
    ///
    /// 1. readiness (`/v2/health/ready`, `/v2/models/{name}/ready`) answers 503 at once;
    /// 2. for `unready`, requests are still answered as before, so a load balancer that has
    ///    not yet seen the 503 loses nothing;
    /// 3. then new connections are refused (the listening socket is shut, so a client is told
    ///    at connect time) and QUIC takes no new connection or stream; each open HTTP/1
    ///    connection is answered with `Connection: close` and closed by its client;
    /// 4. whatever is still open after `grace` is shut down gracefully, and the server stops.
    pub async fn drain(self, unready: Duration, grace: Duration) {
        self.mark_draining();
        tokio::time::sleep(unready).await;
        self.shutdown(grace).await;
    }

    /// Steps 3 and 4 of [`drain`](Self::drain): refuses new connections and streams, lets
    /// in-flight requests finish (up to `grace`), then returns.
    pub async fn shutdown(mut self, grace: Duration) {
        self.mark_draining();
        let deadline = tokio::time::Instant::now() + grace;
        if let Some(l) = self.listener.take() {
            // Refuse new connections at the socket; accepted ones carry on, each closing after
            // its next answer.
            let _ = socket2::SockRef::from(&l).shutdown(std::net::Shutdown::Read);
        }
        self.closing.store(true, Ordering::SeqCst);
        if let Some(ep) = &self.quic_endpoint {
            // Refuse new connections; the accept loop stops taking streams, answers those it
            // has, and closes each connection.
            ep.set_server_config(None);
            let _ = self.quic_drain.send(true);
        }
        // Open HTTP connections end by themselves once answered (they were asked to close).
        // Those that stay open with no request for a while are idle keep-alives: the graceful
        // shutdown below closes them.
        while self.handle.connection_count() > 0
            && !self.activity.quiet_for(QUIET)
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.handle.graceful_shutdown(Some(left));
        if let Some(ep) = self.quic_endpoint.take() {
            if let Some(t) = self.quic_task.as_mut() {
                let _ = tokio::time::timeout_at(deadline, t).await;
            }
            ep.close(0u32.into(), b"shutdown");
            let _ = tokio::time::timeout_at(deadline, ep.wait_idle()).await;
        }
        if let Some(t) = self.quic_task.take() {
            t.abort();
        }
        if let Some(t) = self.http_task.take() {
            let _ = tokio::time::timeout_at(deadline + Duration::from_secs(1), t).await;
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
    /// Starts serving `model` as configured (its runs dynamically batched); returns once every
    /// listener is bound.
    pub async fn start(
        model: Box<dyn ServedModel>,
        config: ServerConfig,
    ) -> Result<RunningServer, ServerError> {
        let metrics = Arc::new(Metrics::new());
        let (input, output) = (model.input(), model.output());
        let batcher = Batcher::start(model, config.batch, Arc::clone(&metrics));
        let endpoint =
            endpoint::BatchedModel::new(batcher, input, &output, config.uint8_input.clone());
        Self::start_with(Arc::new(endpoint), metrics, config).await
    }

    /// Starts serving `endpoint` as configured: the same auth, limits, deadlines, framings and
    /// metrics as [`start`](Self::start); `config.batch` and `config.uint8_input` are the
    /// endpoint's own business.
    pub async fn serve(
        endpoint: Arc<dyn Endpoint>,
        config: ServerConfig,
    ) -> Result<RunningServer, ServerError> {
        Self::start_with(endpoint, Arc::new(Metrics::new()), config).await
    }

    async fn start_with(
        endpoint: Arc<dyn Endpoint>,
        metrics: Arc<Metrics>,
        config: ServerConfig,
    ) -> Result<RunningServer, ServerError> {
        let service = Arc::new(RequestService {
            endpoint,
            model_name: config.model_name.clone(),
            metrics,
            token: config.auth_token.clone(),
            default_deadline: config.default_deadline,
            max_body_bytes: config.max_body_bytes,
            answer_delay: config.answer_delay,
            draining: Arc::new(AtomicBool::new(false)),
            closing: Arc::new(AtomicBool::new(false)),
            activity: Arc::new(limits::Activity::new()),
        });
        let activity = Arc::clone(&service.activity);
        let draining = Arc::clone(&service.draining);
        let closing = Arc::clone(&service.closing);
        let (quic_drain, drain_rx) = watch::channel(false);
        let limits = config.limits;
        let tls = match &config.tls {
            Some(files) => Some(tls::load(files)?),
            None => None,
        };

        let handle = axum_server::Handle::new();
        let (mut http_addr, mut http_task, mut listener) = (None, None, None);
        if let Some(addr) = config.http {
            let app = http::router(Arc::clone(&service));
            let (std_listener, bound) = bind_tcp(addr)?;
            listener = std_listener.try_clone().ok();
            let h = handle.clone();
            let task = match &tls {
                Some((certs, key)) => {
                    let cfg = tls::server_config(
                        (certs.clone(), key.clone_key()),
                        vec![b"h2".to_vec(), b"http/1.1".to_vec()],
                    )?;
                    let rustls = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(cfg));
                    let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(rustls)
                        .acceptor(limits::Limited::new(&limits));
                    tokio::spawn(async move {
                        let mut server = axum_server::from_tcp(std_listener)
                            .acceptor(acceptor)
                            .handle(h);
                        http_limits(&mut server, &limits);
                        if let Err(e) = server.serve(app.into_make_service()).await {
                            tracing::error!("HTTPS server stopped: {e}");
                        }
                    })
                }
                None => tokio::spawn(async move {
                    let mut server = axum_server::from_tcp(std_listener)
                        .acceptor(limits::Limited::new(&limits))
                        .handle(h);
                    http_limits(&mut server, &limits);
                    if let Err(e) = server.serve(app.into_make_service()).await {
                        tracing::error!("HTTP server stopped: {e}");
                    }
                }),
            };
            http_addr = Some(bound);
            http_task = Some(task);
        }

        let quic = match config.quic {
            Some(addr) => match start_quic(addr, tls.as_ref(), &service, &limits, drain_rx) {
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
            draining,
            closing,
            activity,
            quic_drain,
            listener,
        })
    }
}

/// HTTP/1's header-read timeout (hyper's timer).
fn http_limits<A>(server: &mut axum_server::Server<A>, limits: &Limits) {
    server
        .http_builder()
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
}

/// A non-blocking TCP listener on `addr` (for the async server), and the address it got.
fn bind_tcp(addr: SocketAddr) -> Result<(std::net::TcpListener, SocketAddr), ServerError> {
    let bind = |source| ServerError::Bind { addr, source };
    let listener = std::net::TcpListener::bind(addr).map_err(bind)?;
    listener.set_nonblocking(true).map_err(bind)?;
    let bound = listener.local_addr().map_err(bind)?;
    Ok((listener, bound))
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
    service: &Arc<RequestService>,
    limits: &Limits,
    drain: watch::Receiver<bool>,
) -> Result<QuicParts, ServerError> {
    let mut generated_pem = None;
    let (certs, key) = match tls {
        Some((c, k)) => (c.clone(), k.clone_key()),
        None => {
            let s = tls::self_signed(&["localhost", "127.0.0.1"]).map_err(|e| TlsError {
                what: "generating a self-signed QUIC certificate".into(),
                source: Box::new(e),
            })?;
            generated_pem = Some(s.cert_pem.clone());
            (vec![s.cert_der.clone().into()], s.key_der())
        }
    };
    let cert = certs.first().map(|c| c.to_vec());
    let cfg = tls::server_config((certs, key), vec![tls::ALPN.to_vec()])?;
    let (endpoint, task) = quic::serve(addr, cfg, Arc::clone(service), limits, drain)?;
    Ok(QuicParts {
        endpoint,
        task,
        cert,
        generated_pem,
    })
}
