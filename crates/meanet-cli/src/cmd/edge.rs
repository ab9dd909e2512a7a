//! `meanet edge`: the edge runtime as an Open Inference Protocol v2 server. Clients post images
//! (UINT8 pixels `[N, C, H, W]`, or FP32 already normalised) to model `meanet`; each sample is
//! routed (main block, extension, or the cloud over the configured link) and answered with its
//! class, exit, degraded flag and energy receipt.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use super::Output;
use super::serve::ServerFlags;
use crate::settings::Settings;
use meanet_runtime::Deployment;
use meanet_runtime::RoutingMetrics;
use meanet_runtime::edge::{EdgeBatching, EdgeEndpoint};
use meanet_runtime::options::{ServerOptions, ServerRole};

/// The model name `meanet edge` serves unless `--model-name` or `server.model_name` says
/// otherwise.
pub const MODEL_NAME: &str = "meanet";

/// The address `meanet edge` listens on unless `--http` or `server.http` says otherwise
/// (`meanet serve` defaults to port 8000, so both fit on one machine).
pub const DEFAULT_HTTP: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

/// Options of `meanet edge`.
#[derive(Debug, Clone, clap::Args)]
pub struct EdgeArgs {
    /// The deployment bundle to run.
    pub bundle: PathBuf,
    /// Listening, limits and auth: the same flags and `[server]` keys as `meanet serve`
    /// (--http defaults to 127.0.0.1:8080 and --model-name to meanet here).
    #[command(flatten)]
    pub server: ServerFlags,
}

/// A running `meanet edge`: the server, and what it serves.
pub struct RunningEdge {
    /// The v2 server.
    pub server: meanet_transport::RunningServer,
    /// The routing metrics (also on the server's /metrics).
    pub metrics: Arc<RoutingMetrics>,
    /// The drain's parts on SIGTERM: (unready, grace) from `[server]`.
    pub drain: (Duration, Duration),
    /// The `[server]` settings it runs with (flags applied).
    pub options: ServerOptions,
}

/// Starts the edge server for `args` (inside a tokio runtime); returns once it listens.
pub async fn start(args: &EdgeArgs, settings: &Settings) -> Result<RunningEdge> {
    let server = super::serve::with_legacy_token(
        args.server.apply(settings.server.clone()),
        std::env::var(super::serve::LEGACY_TOKEN_ENV).ok(),
    );
    server.validate()?;
    let dep = Deployment::load(&args.bundle, settings)?;
    super::say_plan("edge", &dep);
    let m = &dep.bundle.manifest;
    let (worker, metrics) = dep.edge_worker(settings, None, tokio::runtime::Handle::current())?;
    let endpoint = EdgeEndpoint::start(
        worker,
        &m.tensors.input,
        dep.energy.clone(),
        Arc::clone(&metrics),
        EdgeBatching {
            // A run holds at most the plan's batch (`policy.batch_size`, by input size,
            // within `runtime.memory_mb`), whatever `server.max_batch` merges.
            max_batch: server.max_batch.min(dep.batch_size()).max(1),
            max_delay: Duration::from_millis(server.max_delay_ms),
            queue: server.queue.max(1),
        },
    )
    .context("starting the edge worker")?;
    let cfg = meanet_runtime::serving::server_config(&server, ServerRole::Edge);
    let running = meanet_transport::Server::serve(Arc::new(endpoint), cfg)
        .await
        .with_context(|| format!("starting the edge server for {}", args.bundle.display()))?;
    Ok(RunningEdge {
        server: running,
        metrics,
        drain: server.drain(),
        options: server,
    })
}

/// `meanet edge`: serves until SIGTERM or SIGINT, then drains (see `server.drain_ms`).
pub fn run(args: &EdgeArgs, settings: &Settings, out: Output) -> Result<()> {
    settings.validate()?;
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async {
        let edge = start(args, settings).await?;
        let what = format!(
            "{} (cloud: {})",
            args.bundle.display(),
            settings.cloud.transport.name()
        );
        super::serve::announce(
            "edge",
            &what,
            &edge.server,
            &edge.options,
            ServerRole::Edge,
            out,
        )?;
        crate::stdout::note(format_args!("meanet edge: metrics on /metrics"));
        super::serve_until_signal("edge", edge.server, edge.drain, out).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_defaults_are_the_runtime_role_defaults() {
        assert_eq!(ServerRole::Edge.default_model_name(), MODEL_NAME);
        assert_eq!(ServerRole::Edge.default_http(), DEFAULT_HTTP);
    }
}
