//! The `meanet` binary: command-line parsing over the `meanet_cli` composition root.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use meanet_onnx::{Provider, Runtime, RuntimeOptions};

use meanet_cli::{profile, serve};

/// Complexity-aware edge-cloud inference (MEANet).
#[derive(Debug, Parser)]
#[command(name = "meanet", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show which ONNX Runtime library meanet loads, and check that it works.
    Runtime {
        /// Execution provider to check (cpu, cuda, tensorrt, coreml, openvino).
        #[arg(long, default_value = "cpu")]
        provider: String,
    },
    /// Serve an ONNX model (or a bundle's cloud model) over the Open Inference Protocol v2
    /// (HTTP) and optionally QUIC, with dynamic batching.
    Serve(Box<serve::ServeArgs>),
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
        /// Print one JSON object (keys: total_macs, total_params, total_energy_j,
        /// unsupported_ops, layers[name, op_type, macs, params, energy_j], ...).
        #[arg(long)]
        json: bool,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Runtime { provider } => runtime(&provider),
        Command::Profile { model, batch, json } => profile::run(&model, batch as usize, json),
        Command::Serve(args) => serve::run(*args),
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
