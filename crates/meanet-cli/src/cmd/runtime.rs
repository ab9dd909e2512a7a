//! `meanet runtime`: which ONNX Runtime library meanet loads, and whether it works.

use anyhow::{Context, Result};
use meanet_onnx::{Provider, Runtime, RuntimeOptions};

/// Loads ONNX Runtime with `provider` and prints what was found.
pub fn run(provider: &str) -> Result<()> {
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
