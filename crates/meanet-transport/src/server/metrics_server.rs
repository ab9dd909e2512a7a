//! The metrics endpoint alone: a small HTTP server for `GET /metrics` (`meanet run
//! --metrics`), apart from the inference server, which serves its own `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::{ServerError, bind_tcp};

/// What a [`MetricsServer`] serves: the Prometheus text, rendered at each scrape.
pub type RenderMetrics = Arc<dyn Fn() -> String + Send + Sync>;

/// A small HTTP server for `GET /metrics` alone (for `meanet run --metrics`).
pub struct MetricsServer {
    addr: SocketAddr,
    handle: axum_server::Handle,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl MetricsServer {
    /// Listens on `addr` and answers `GET /metrics` with `render()`.
    pub async fn start(addr: SocketAddr, render: RenderMetrics) -> Result<Self, ServerError> {
        use axum::http::header;
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let text = render();
                async move { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text) }
            }),
        );
        let (listener, bound) = bind_tcp(addr)?;
        let handle = axum_server::Handle::new();
        let h = handle.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = axum_server::from_tcp(listener)
                .handle(h)
                .serve(app.into_make_service())
                .await
            {
                tracing::error!("metrics server stopped: {e}");
            }
        });
        Ok(MetricsServer {
            addr: bound,
            handle,
            task,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server.
    pub async fn shutdown(self) {
        self.handle
            .graceful_shutdown(Some(Duration::from_millis(200)));
        let _ = tokio::time::timeout(Duration::from_secs(1), self.task).await;
    }
}
