//! `meanet serve`: an ONNX model behind the Open Inference Protocol v2 (HTTP) and QUIC.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use meanet_core::BoxError;
use meanet_onnx::{OrtClassifier, Runtime};
use meanet_transport::{
    BatchConfig, RunningServer, ServedModel, Server, ServerConfig, TensorInfo, TlsFiles,
};
use ndarray::{Array2, ArrayViewD};

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

/// Options of `meanet serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// A deployment bundle directory: serves its cloud model (instead of --model).
    pub bundle: Option<PathBuf>,
    /// The ONNX model to serve (one input, one output [N, classes]).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The model's name in URLs: /v2/models/NAME/infer.
    #[arg(long, default_value = "cloud")]
    pub model_name: String,
    /// HTTP listen address.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub http: SocketAddr,
    /// Also listen on QUIC at this address (TLS is mandatory; a self-signed certificate is
    /// generated unless --tls-cert/--tls-key are given).
    #[arg(long)]
    pub quic: Option<SocketAddr>,
    /// Where to write the generated QUIC certificate (PEM) for clients to trust.
    #[arg(long, default_value = "meanet-quic-cert.pem")]
    pub quic_cert_out: PathBuf,
    /// Most samples merged into one model run (1 turns dynamic batching off).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_batch: u32,
    /// Longest a request waits for others to join its batch, in milliseconds.
    #[arg(long, default_value_t = 2)]
    pub max_delay_ms: u64,
    /// Requests that may wait before new ones get 503 + Retry-After.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub queue: u32,
    /// Largest accepted request body, in bytes.
    #[arg(long, default_value_t = 16 << 20)]
    pub max_body: usize,
    /// Require this bearer token on model endpoints (or set MEANET_SERVE_TOKEN).
    #[arg(long, env = "MEANET_SERVE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// TLS certificate chain (PEM) for HTTPS and QUIC.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// ONNX Runtime threads inside one operator.
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Starts the server described by `args` (used by `meanet serve` and the demo).
pub async fn start(args: &ServeArgs, model_path: &Path) -> Result<RunningServer> {
    let rt = Runtime::new(meanet_onnx::RuntimeOptions {
        intra_threads: args.threads,
        ..meanet_onnx::RuntimeOptions::default()
    })
    .context("loading ONNX Runtime")?;
    let model = OrtClassifier::load(&rt, model_path)
        .with_context(|| format!("loading the model to serve from {}", model_path.display()))?;
    let config = ServerConfig {
        model_name: args.model_name.clone(),
        http: Some(args.http),
        quic: args.quic,
        batch: BatchConfig {
            max_batch: args.max_batch as usize,
            max_delay: Duration::from_millis(args.max_delay_ms),
            queue_capacity: args.queue as usize,
        },
        max_body_bytes: args.max_body,
        auth_token: args.token.clone(),
        tls: match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        },
        ..ServerConfig::default()
    };
    Server::start(Box::new(OrtServed(model)), config)
        .await
        .with_context(|| format!("starting the server for {}", model_path.display()))
}

/// `meanet serve`: runs until Ctrl-C, then drains in-flight requests.
pub fn run(args: ServeArgs) -> Result<()> {
    let model_path = match (&args.model, &args.bundle) {
        (Some(m), None) => m.clone(),
        (None, Some(b)) => crate::bundle::cloud_model(b)?,
        (Some(_), Some(_)) => bail!("give either a bundle or --model, not both"),
        (None, None) => bail!("nothing to serve: give a bundle directory or --model FILE.onnx"),
    };
    let tokio_rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    tokio_rt.block_on(async {
        let server = start(&args, &model_path).await?;
        let scheme = if args.tls_cert.is_some() { "https" } else { "http" };
        if let Some(addr) = server.http_addr() {
            eprintln!(
                "meanet serve: {} as {:?} on {scheme}://{addr}/v2/models/{}/infer",
                model_path.display(),
                args.model_name,
                args.model_name
            );
        }
        if let Some(addr) = server.quic_addr() {
            if let Some(pem) = server.generated_quic_certificate_pem() {
                std::fs::write(&args.quic_cert_out, pem).with_context(|| {
                    format!("writing the QUIC certificate to {}", args.quic_cert_out.display())
                })?;
                eprintln!(
                    "meanet serve: QUIC on {addr} (self-signed certificate for \"localhost\" in {})",
                    args.quic_cert_out.display()
                );
            } else {
                eprintln!("meanet serve: QUIC on {addr}");
            }
        }
        tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
        eprintln!("meanet serve: shutting down, draining in-flight requests");
        server.shutdown(Duration::from_secs(10)).await;
        Ok(())
    })
}
