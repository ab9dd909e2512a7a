//! The `meanet` binary: the composition root. It is the only crate that picks adapters (ONNX
//! Runtime for blocks, HTTP or QUIC for the cloud link, the ONNX-graph energy model) and wires
//! them into `meanet-core`'s pipeline.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use meanet_onnx::{Provider, Runtime, RuntimeOptions};

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
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
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
