//! The `meanet` binary: command-line parsing over the `meanet_cli` composition root.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use meanet_cli::commands::{self, EvalOptions, Output, RunOptions};
use meanet_cli::settings::Settings;
use meanet_cli::{profile, serve, train};
use meanet_onnx::{Provider, Runtime, RuntimeOptions};

/// Complexity-aware edge-cloud inference (MEANet): easy classes exit at a small main block,
/// hard classes go on to an extension block, and what the edge is unsure of goes to the cloud.
#[derive(Debug, Parser)]
#[command(name = "meanet", version)]
struct Cli {
    /// Configuration file (TOML; see meanet.example.toml). Layers: defaults < file <
    /// MEANET_SECTION__KEY environment variables < --set.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Override one setting, e.g. --set cloud.deadline_ms=300 (repeatable).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// No progress bars.
    #[arg(long, global = true)]
    quiet: bool,
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct DataArgs {
    /// Directory with the Fashion-MNIST IDX files (default: Debian's, else fetched).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Where fetched data sets are kept.
    #[arg(long, default_value = ".cache/datasets")]
    cache: PathBuf,
}

#[derive(Debug, Subcommand)]
enum DataCommand {
    /// Fetch a data set (idempotent): fashion-mnist from a directory you give, Debian's
    /// /usr/share/datasets, or `apt-get download dataset-fashion-mnist` into the cache.
    Fetch {
        /// The data set.
        dataset: String,
        #[command(flatten)]
        data: DataArgs,
    },
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Data sets.
    #[command(subcommand)]
    Data(DataCommand),
    /// Train a MEANet deployment (main, extension with adaptive block, cloud) on Fashion-MNIST
    /// and write it as a bundle: three ONNX files, meanet.toml, results.json and train.log.
    Train(Box<train::TrainArgs>),
    /// Count MACs, parameters, bytes and energy per layer of an ONNX model.
    ///
    /// Prices use the 45 nm table of Horowitz (ISSCC 2014) with weights read from DRAM.
    /// Operators that cannot be counted are listed, never counted as zero.
    Profile {
        /// The ONNX model file.
        model: PathBuf,
        /// Batch size to infer shapes for (the dynamic batch dimension).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        batch: u32,
    },
    /// Serve an ONNX model (or a bundle's cloud model) over the Open Inference Protocol v2
    /// (HTTP) and optionally QUIC, with dynamic batching.
    Serve(Box<serve::ServeArgs>),
    /// Choose thresholds for a target on the validation split and write them into the bundle:
    /// --target offload=0.2 | energy=JOULES_PER_SAMPLE | accuracy=0.9.
    Calibrate {
        /// The bundle directory.
        bundle: PathBuf,
        /// The target (default: calibration.target, offload=0.2).
        #[arg(long)]
        target: Option<String>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Run the edge runtime on inputs, offloading over the configured cloud link; prints one
    /// outcome per sample (class, exit, energy, degraded).
    Run {
        /// The bundle directory.
        bundle: PathBuf,
        /// `-` for raw u8 samples (C*H*W bytes each) on stdin, an IDX images file, or a
        /// directory of PNG/JPEG images.
        #[arg(long)]
        input: String,
    },
    /// Evaluate MEANet and every baseline (main only, cloud only, main + extension, entropy
    /// exit) on the test split with a real loopback cloud server and the energy model; writes
    /// report.json, report.md and plots.
    Eval(EvalArgs),
    /// The end-to-end demo: fetch Fashion-MNIST, load the reference bundle, start a cloud server
    /// on loopback, evaluate every method, print the table and write the report.
    Demo(EvalArgs),
    /// Show which ONNX Runtime library meanet loads, and check that it works.
    Runtime {
        /// Execution provider to check (cpu, cuda, tensorrt, coreml, openvino).
        #[arg(long, default_value = "cpu")]
        provider: String,
    },
}

#[derive(Debug, Args)]
struct EvalArgs {
    /// The bundle directory.
    #[arg(default_value = "models/fashion-mnist")]
    bundle: PathBuf,
    /// Report directory.
    #[arg(long, default_value = "meanet-report")]
    out: PathBuf,
    /// Only the first N test samples.
    #[arg(long)]
    limit: Option<usize>,
    /// Offload to the configured cloud (cloud.url / cloud.quic_addr) instead of starting one.
    #[arg(long)]
    external_cloud: bool,
    #[command(flatten)]
    data: DataArgs,
}

impl EvalArgs {
    fn options(&self) -> EvalOptions {
        EvalOptions {
            bundle: self.bundle.clone(),
            out: self.out.clone(),
            limit: self.limit,
            external_cloud: self.external_cloud,
            data: self.data.data.clone(),
            cache: self.data.cache.clone(),
        }
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let out = Output {
        quiet: cli.quiet,
        json: cli.json,
    };
    let settings = || Settings::load(cli.config.as_deref(), &cli.overrides);
    match cli.command {
        Command::Data(DataCommand::Fetch { dataset, data }) => {
            commands::fetch(&dataset, data.data.as_deref(), &data.cache, out)
        }
        Command::Train(mut args) => {
            args.quiet |= cli.quiet;
            train::run(&args)
        }
        Command::Profile { model, batch } => profile::run(&model, batch as usize, cli.json),
        Command::Serve(args) => serve::run(*args, &settings()?),
        Command::Calibrate {
            bundle,
            target,
            data,
        } => {
            let mut s = settings()?;
            if let Some(t) = target {
                s.calibration.target = t;
                s.validate()?;
            }
            commands::calibrate(&bundle, &s, data.data.as_deref(), &data.cache, out)
        }
        Command::Run { bundle, input } => {
            commands::run(&RunOptions { bundle, input }, &settings()?, out)
        }
        Command::Eval(args) => commands::eval(&args.options(), &settings()?, out).map(drop),
        Command::Demo(args) => {
            let s = settings()?;
            if !out.quiet && !out.json {
                eprintln!(
                    "meanet demo: Fashion-MNIST test split, bundle {}, cloud model on loopback",
                    args.bundle.display()
                );
            }
            commands::fetch(
                "fashion-mnist",
                args.data.data.as_deref(),
                &args.data.cache,
                Output {
                    quiet: true,
                    json: false,
                },
            )
            .context("getting Fashion-MNIST")?;
            commands::eval(&args.options(), &s, out).map(drop)
        }
        Command::Runtime { provider } => runtime(&provider),
    }
}

fn runtime(provider: &str) -> Result<()> {
    let provider = Provider::parse(provider).with_context(|| {
        format!("unknown execution provider {provider:?} (expected cpu, cuda, tensorrt, coreml or openvino)")
    })?;
    let rt = Runtime::new(RuntimeOptions {
        provider,
        ..RuntimeOptions::default()
    })
    .context("loading ONNX Runtime")?;
    println!("library:  {}", rt.library().display());
    println!("expected: ONNX Runtime {}", meanet_onnx::ORT_VERSION);
    println!("provider: {}", provider.name());
    Ok(())
}
