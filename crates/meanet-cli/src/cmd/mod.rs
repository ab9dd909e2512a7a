//! One module per command: its flags (clap) and what it does. Adapters come from
//! [`crate::wiring`], never from here.

#[cfg(feature = "eval")]
pub mod calibrate;
pub mod data;
pub mod edge;
#[cfg(feature = "eval")]
pub mod eval;
pub mod export;
pub mod profile;
#[cfg(feature = "eval")]
pub mod quantize;
pub mod run;
pub mod runtime;
pub mod serve;
#[cfg(feature = "train")]
pub mod train;

use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};
use meanet_core::manifest::{DatasetKind, DatasetSpec};
use meanet_data::DataSource;

/// Output options shared by the commands.
#[derive(Debug, Clone, Copy, Default)]
pub struct Output {
    /// No progress bars or chatter.
    pub quiet: bool,
    /// Machine-readable output.
    pub json: bool,
}

impl Output {
    /// Quiet, human-readable output.
    pub const QUIET: Output = Output {
        quiet: true,
        json: false,
    };
}

/// A progress bar of `len` steps, hidden when quiet or printing JSON.
pub fn bar(out: Output, len: u64, prefix: &str) -> ProgressBar {
    if out.quiet || out.json {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(len);
    if let Ok(s) = ProgressStyle::with_template("{prefix:>16} [{bar:30}] {pos}/{len} ({eta})") {
        b.set_style(s.progress_chars("=> "));
    }
    b.set_prefix(prefix.to_string());
    b
}

/// Waits for SIGTERM (what an orchestrator sends) or SIGINT (Ctrl-C); returns which came.
pub async fn shutdown_signal() -> anyhow::Result<&'static str> {
    use anyhow::Context;
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
        tokio::select! {
            _ = term.recv() => Ok("SIGTERM"),
            _ = int.recv() => Ok("SIGINT"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .context("listening for Ctrl-C")?;
        Ok("Ctrl-C")
    }
}

/// Serves until SIGTERM or SIGINT, then drains `server` (`drain`: `[server]`'s unready part
/// and grace, see `ServerOptions::drain`), saying so on stderr as `command`.
pub async fn serve_until_signal(
    command: &str,
    server: meanet_transport::RunningServer,
    (unready, grace): (std::time::Duration, std::time::Duration),
    out: Output,
) -> anyhow::Result<()> {
    let signal = shutdown_signal().await?;
    if out.json {
        // The drain happens whether or not anyone still reads the events.
        let _ = crate::stdout::line(
            serde_json::json!({"event": "draining", "command": command, "signal": signal}),
        );
    }
    crate::stdout::note(format_args!(
        "meanet {command}: {signal}: draining (readiness 503 now; new connections refused after {} ms; in-flight requests answered within {} ms)",
        unready.as_millis(),
        (unready + grace).as_millis()
    ));
    server.drain(unready, grace).await;
    crate::stdout::note(format_args!("meanet {command}: drained"));
    if out.json {
        let _ = crate::stdout::line(serde_json::json!({"event": "drained", "command": command}));
    }
    Ok(())
}

/// A line on stderr unless quiet or printing JSON.
pub fn say(out: Output, text: &str) {
    if !out.quiet && !out.json {
        crate::stdout::note(text);
    }
}

/// The data-set options shared by `train`, `calibrate`, `eval`, `demo` and `run`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DataArgs {
    /// The data set's format: fashion-mnist, mnist, cifar10, cifar100 or folder (default: the
    /// one recorded in the bundle, else fashion-mnist).
    #[arg(long, value_name = "KIND")]
    pub dataset: Option<DatasetKind>,
    /// Its directory: IDX files (fashion-mnist, mnist), the CIFAR binary version's directory,
    /// or a folder with train/CLASS/* and test/CLASS/* (or val/). Fashion-MNIST is
    /// found in /usr/share/datasets or fetched when this is not given.
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,
    /// Side, in pixels, that folder images are resized to (default: the bundle's, else 32).
    #[arg(long, value_name = "PIXELS", value_parser = clap::value_parser!(u32).range(1..=i64::from(meanet_data::MAX_IMAGE_SIZE)))]
    pub image_size: Option<u32>,
    /// How folder images become squares: stretch (resize whatever the aspect ratio), or crop
    /// (the ImageNet convention: centre crop for evaluation, random-resized crops and flips for
    /// training) (default: the bundle's, else crop from 128 pixels up and stretch below).
    #[arg(long, value_name = "HOW")]
    pub resize: Option<meanet_data::Resize>,
    /// Where fetched data sets are kept (default: `datasets/` under `$MEANET_CACHE`, else under
    /// the checkout's `.cache` when run inside it, else under the user's cache directory).
    #[arg(long, default_value_os_t = meanet_data::default_dataset_cache())]
    pub cache: PathBuf,
}

impl DataArgs {
    /// The data source these flags name, falling back to `recorded` (a bundle's `[dataset]`)
    /// for whatever they leave out, then to Fashion-MNIST.
    pub fn source(&self, recorded: Option<&DatasetSpec>) -> DataSource {
        // A recorded data set only fills in for flags that name the same kind (or none).
        let recorded = recorded.filter(|r| self.dataset.is_none_or(|k| k == r.kind));
        let kind = self
            .dataset
            .or(recorded.map(|r| r.kind))
            .unwrap_or(DatasetKind::FashionMnist);
        DataSource {
            kind,
            path: self
                .data
                .clone()
                .or_else(|| recorded.and_then(|r| r.path.clone())),
            image_size: self.image_size.or(recorded.and_then(|r| r.image_size)),
            resize: self.resize.or(recorded.and_then(|r| r.resize)),
        }
    }

    /// What a bundle trained on `source` records in its `[dataset]`.
    pub fn spec(source: &DataSource) -> DatasetSpec {
        DatasetSpec {
            kind: source.kind,
            path: source
                .path
                .as_ref()
                .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone())),
            image_size: match source.kind {
                DatasetKind::Folder => {
                    Some(source.image_size.unwrap_or(meanet_data::DEFAULT_IMAGE_SIZE))
                }
                _ => None,
            },
            resize: match source.kind {
                DatasetKind::Folder => Some(
                    source.resize_for(source.image_size.unwrap_or(meanet_data::DEFAULT_IMAGE_SIZE)),
                ),
                _ => None,
            },
        }
    }
}

/// Says what batch size and memory estimate `meanet <command>` chose: on stderr when a
/// `runtime.memory_mb` budget is set (the user asked for it), else in the log at info level.
pub(crate) fn say_plan(command: &str, dep: &meanet_runtime::Deployment) {
    let what = dep.describe_plan();
    if dep.plan.budget.is_some() {
        crate::stdout::note(format_args!("meanet {command}: memory: {what}"));
    } else {
        tracing::info!("memory: {what}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_fall_back_to_the_recorded_data_set_of_the_same_kind() {
        let recorded = DatasetSpec {
            kind: DatasetKind::Folder,
            path: Some("/photos".into()),
            image_size: Some(64),
            resize: None,
        };
        let none = DataArgs::default();
        let s = none.source(Some(&recorded));
        assert_eq!(
            (s.kind, s.path.as_deref(), s.image_size),
            (
                DatasetKind::Folder,
                Some(std::path::Path::new("/photos")),
                Some(64)
            )
        );
        let other = DataArgs {
            dataset: Some(DatasetKind::Cifar10),
            data: Some("/c10".into()),
            ..DataArgs::default()
        };
        let s = other.source(Some(&recorded));
        assert_eq!((s.kind, s.image_size), (DatasetKind::Cifar10, None));
        assert_eq!(none.source(None).kind, DatasetKind::FashionMnist);
        let path = DataArgs {
            data: Some("/elsewhere".into()),
            ..DataArgs::default()
        };
        let s = path.source(Some(&recorded));
        assert_eq!(s.path.as_deref(), Some(std::path::Path::new("/elsewhere")));
        assert_eq!(s.kind, DatasetKind::Folder);
    }
}
