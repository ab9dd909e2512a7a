//! `meanet serve`: an ONNX model behind the Open Inference Protocol v2 (HTTP) and QUIC.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use super::Output;
use crate::settings::Settings;
use meanet_runtime::options::{ServerOptions, ServerRole};
use meanet_runtime::serving::start_server;

/// Options of `meanet serve`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// A deployment bundle directory: serves its cloud model (instead of --model), taking FP32
    /// inputs and UINT8 pixels (normalised as the bundle's manifest says).
    pub bundle: Option<PathBuf>,
    /// The ONNX model to serve (one input, one output [N, classes]); FP32 inputs only.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Listening, limits and auth.
    #[command(flatten)]
    pub server: ServerFlags,
    /// ONNX Runtime threads inside one operator [runtime.threads].
    #[arg(long, value_parser = clap::value_parser!(usize))]
    pub threads: Option<usize>,
}

/// The server flags of `meanet serve` and `meanet edge`. Each overrides the `[server]` setting
/// of the same name (configuration file, `MEANET_SERVER__*`, `--set server.KEY=VALUE`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServerFlags {
    /// The model's name in URLs: /v2/models/NAME/infer [server.model_name; default: cloud for
    /// meanet serve, meanet for meanet edge].
    #[arg(long)]
    pub model_name: Option<String>,
    /// HTTP listen address [server.http; default: 127.0.0.1:8000 for meanet serve,
    /// 127.0.0.1:8080 for meanet edge].
    #[arg(long)]
    pub http: Option<SocketAddr>,
    /// Also listen on QUIC at this address [server.quic]. TLS is mandatory; a self-signed
    /// certificate is generated unless --tls-cert/--tls-key are given.
    #[arg(long)]
    pub quic: Option<SocketAddr>,
    /// Where to write the generated QUIC certificate (PEM) for clients to trust
    /// [server.quic_cert_out; default: meanet-quic-cert.pem in the cache ($MEANET_CACHE, else
    /// the checkout's .cache, else ~/.cache/meanet), never the working directory].
    #[arg(long)]
    pub quic_cert_out: Option<PathBuf>,
    /// Most samples merged into one model run, 1 turns dynamic batching off
    /// [server.max_batch; default 32].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_batch: Option<u32>,
    /// Longest a request waits for others to join its batch, in milliseconds
    /// [server.max_delay_ms; default 2].
    #[arg(long)]
    pub max_delay_ms: Option<u64>,
    /// Requests that may wait before new ones get 503 + Retry-After [server.queue; default 256].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub queue: Option<u32>,
    /// Largest accepted request body, in bytes [server.max_body; default 16 MiB].
    #[arg(long)]
    pub max_body: Option<usize>,
    /// Require this bearer token on model endpoints, over HTTP and QUIC [server.token; or the
    /// environment variable MEANET_SERVER__TOKEN, which keeps it out of the process list].
    #[arg(long)]
    pub token: Option<String>,
    /// TLS certificate chain (PEM) for HTTPS and QUIC [server.tls_cert].
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) [server.tls_key].
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// The environment variable `--token` used to read before `[server]` took the token from
/// `MEANET_SERVER__TOKEN` like every other setting. Still honoured, with a warning.
pub const LEGACY_TOKEN_ENV: &str = "MEANET_SERVE_TOKEN";

/// `server` with the token from [`LEGACY_TOKEN_ENV`] (`legacy`, its value) when nothing else
/// set one, saying so once on stderr with the variable to use instead.
pub fn with_legacy_token(mut server: ServerOptions, legacy: Option<String>) -> ServerOptions {
    if let Some(t) = legacy.filter(|t| !t.is_empty()) {
        if server.token.is_none() {
            server.token = Some(t);
            tracing::warn!(
                "{LEGACY_TOKEN_ENV} is deprecated: set MEANET_SERVER__TOKEN instead (it is the server.token setting, read by meanet serve and meanet edge alike)"
            );
        } else {
            tracing::warn!(
                "{LEGACY_TOKEN_ENV} is ignored: the token is already set (--token, server.token or MEANET_SERVER__TOKEN); unset {LEGACY_TOKEN_ENV}"
            );
        }
    }
    server
}

impl ServerFlags {
    /// The `[server]` settings with these flags on top.
    pub fn apply(&self, mut s: ServerOptions) -> ServerOptions {
        fn set<T: Clone>(slot: &mut T, flag: Option<&T>) {
            if let Some(v) = flag {
                *slot = v.clone();
            }
        }
        s.model_name = self.model_name.clone().or(s.model_name);
        s.http = self.http.or(s.http);
        s.quic_cert_out = self.quic_cert_out.clone().or(s.quic_cert_out);
        set(&mut s.max_delay_ms, self.max_delay_ms.as_ref());
        set(&mut s.max_body, self.max_body.as_ref());
        s.quic = self.quic.or(s.quic);
        s.token = self.token.clone().or(s.token);
        if self.tls_cert.is_some() {
            s.tls_cert.clone_from(&self.tls_cert);
            s.tls_key.clone_from(&self.tls_key);
        }
        if let Some(b) = self.max_batch {
            s.max_batch = b as usize;
        }
        if let Some(q) = self.queue {
            s.queue = q as usize;
        }
        s
    }
}

/// Where a generated QUIC certificate goes for `server`: `server.quic_cert_out`, else
/// [`meanet_runtime::options::QUIC_CERT_FILE`] in the cache (the temporary directory when no
/// cache is known), never the working directory.
pub fn quic_cert_path(server: &ServerOptions) -> PathBuf {
    server
        .quic_cert_out
        .clone()
        .unwrap_or_else(meanet_runtime::options::default_quic_cert)
}

/// Says where `running` listens (stderr; with `--json` also one JSON line on stdout) and writes
/// its generated QUIC certificate, if it made one, where [`quic_cert_path`] says: the one path
/// for `meanet serve` and `meanet edge`, so every `[server]` key means the same to both.
pub fn announce(
    command: &str,
    what: &str,
    running: &meanet_transport::RunningServer,
    server: &ServerOptions,
    role: ServerRole,
    out: Output,
) -> Result<()> {
    let name = server.model_name(role);
    let scheme = if server.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    let auth = if server.token.is_some() {
        " (bearer token required)"
    } else {
        ""
    };
    let mut event = serde_json::json!({"event": "listening", "command": command, "serving": what, "model": name});
    if let Some(addr) = running.http_addr() {
        let url = format!("{scheme}://{addr}/v2/models/{name}/infer");
        crate::stdout::note(format_args!(
            "meanet {command}: {what} as {name:?} on {url}{auth}"
        ));
        event["http"] = url.into();
    }
    if let Some(addr) = running.quic_addr() {
        event["quic"] = addr.to_string().into();
        if let Some(pem) = running.generated_quic_certificate_pem() {
            let path = quic_cert_path(server);
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| {
                    format!("creating {} for the QUIC certificate", dir.display())
                })?;
            }
            std::fs::write(&path, pem).with_context(|| {
                format!(
                    "writing the QUIC certificate to {} (server.quic_cert_out)",
                    path.display()
                )
            })?;
            crate::stdout::note(format_args!(
                "meanet {command}: QUIC on {addr}{auth} (self-signed certificate for \"localhost\" in {})",
                path.display()
            ));
            event["quic_cert"] = path.display().to_string().into();
        } else {
            crate::stdout::note(format_args!("meanet {command}: QUIC on {addr}{auth}"));
        }
    }
    if out.json {
        // A server keeps serving when whoever read its events has gone (crate::stdout).
        let _ = crate::stdout::line(event);
    }
    Ok(())
}

/// `meanet serve`: runs until SIGTERM or SIGINT, then drains (see `server.drain_ms`).
pub fn run(args: &ServeArgs, settings: &Settings, out: Output) -> Result<()> {
    let (model_path, input) = match (&args.model, &args.bundle) {
        (Some(m), None) => (m.clone(), None),
        (None, Some(b)) => {
            let b = meanet_runtime::Bundle::load(b)?;
            // A bundle's server also takes UINT8 pixels (`cloud.payload = "u8"`).
            (b.cloud_file()?, Some(b.manifest.input))
        }
        (Some(_), Some(_)) => bail!("give either a bundle or --model, not both"),
        (None, None) => bail!("nothing to serve: give a bundle directory or --model FILE.onnx"),
    };
    let mut settings = settings.clone();
    settings.options.server = with_legacy_token(
        args.server.apply(settings.options.server),
        std::env::var(LEGACY_TOKEN_ENV).ok(),
    );
    if let Some(t) = args.threads {
        settings.runtime.threads = Some(t);
    }
    settings.validate()?;
    let tokio_rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    tokio_rt.block_on(async {
        let server = start_server(
            &settings.runtime,
            &settings.server,
            &model_path,
            input.as_ref(),
        )
        .await?;
        announce(
            "serve",
            &model_path.display().to_string(),
            &server,
            &settings.server,
            ServerRole::Cloud,
            out,
        )?;
        super::serve_until_signal("serve", server, settings.server.drain(), out).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_server_settings_and_settings_fill_the_rest() {
        let settings = Settings::load(
            None,
            &[
                "server.max_batch=8".into(),
                "server.quic=127.0.0.1:9001".into(),
                "server.token=from-config".into(),
                "server.model_name=big".into(),
            ],
        )
        .unwrap();
        let none = ServerFlags::default().apply(settings.server.clone());
        assert_eq!(none, settings.server, "no flags: the settings as loaded");
        assert_eq!(none.max_batch, 8);
        assert_eq!(none.quic, Some("127.0.0.1:9001".parse().unwrap()));
        let flags = ServerFlags {
            max_batch: Some(4),
            token: Some("from-flag".into()),
            http: Some("127.0.0.1:0".parse().unwrap()),
            ..ServerFlags::default()
        }
        .apply(settings.server.clone());
        assert_eq!(flags.max_batch, 4);
        assert_eq!(flags.token.as_deref(), Some("from-flag"));
        assert_eq!(flags.model_name.as_deref(), Some("big"));
        let cfg = meanet_runtime::serving::server_config(&flags, ServerRole::Cloud);
        assert_eq!(cfg.auth_token.as_deref(), Some("from-flag"));
        assert_eq!(cfg.batch.max_batch, 4);
        assert_eq!(cfg.quic, Some("127.0.0.1:9001".parse().unwrap()));
    }
}
