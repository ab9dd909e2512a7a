//! `[runtime]`: the inference backend and ONNX Runtime's options.

use std::path::PathBuf;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

/// The inference backend that runs the networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum Backend {
    /// ONNX Runtime through `ort` (cargo feature `ort`, the default): the fastest on CPUs and
    /// the one with GPU providers; needs the `libonnxruntime` shared library.
    Ort,
    /// tract (cargo feature `tract`): pure Rust, needs no shared library; the backend for boards
    /// without ONNX Runtime.
    Tract,
}

impl Default for Backend {
    /// ONNX Runtime when this build has it, else tract.
    fn default() -> Self {
        if cfg!(feature = "ort") {
            Backend::Ort
        } else {
            Backend::Tract
        }
    }
}

impl TryFrom<String> for Backend {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        match name.as_str() {
            "ort" => Ok(Backend::Ort),
            "tract" => Ok(Backend::Tract),
            _ => Err(format!(
                "unknown backend {name:?} (expected \"ort\" or \"tract\")"
            )),
        }
    }
}

impl Backend {
    /// `ort` or `tract`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Ort => "ort",
            Backend::Tract => "tract",
        }
    }

    /// Whether this build of meanet includes the backend (its cargo feature).
    pub fn compiled(self) -> bool {
        match self {
            Backend::Ort => cfg!(feature = "ort"),
            Backend::Tract => cfg!(feature = "tract"),
        }
    }
}

/// ONNX Runtime's execution provider (`runtime.provider`); only `cpu` applies to tract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// The CPU (always available).
    #[default]
    Cpu,
    /// NVIDIA CUDA (cargo feature `cuda` of meanet-onnx, and an ONNX Runtime built with it).
    Cuda,
    /// NVIDIA TensorRT.
    Tensorrt,
    /// Apple CoreML.
    Coreml,
    /// Intel OpenVINO.
    Openvino,
}

impl std::str::FromStr for Provider {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        [
            Provider::Cpu,
            Provider::Cuda,
            Provider::Tensorrt,
            Provider::Coreml,
            Provider::Openvino,
        ]
        .into_iter()
        .find(|p| p.name() == name)
        .ok_or_else(|| {
            format!("unknown execution provider {name:?} (expected cpu, cuda, tensorrt, coreml or openvino)")
        })
    }
}

impl Provider {
    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Cpu => "cpu",
            Provider::Cuda => "cuda",
            Provider::Tensorrt => "tensorrt",
            Provider::Coreml => "coreml",
            Provider::Openvino => "openvino",
        }
    }
}

/// `[runtime]`: the inference backend and its options.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackendOptions {
    /// Which backend runs the networks: `ort` or `tract`.
    pub backend: Backend,
    /// ONNX Runtime library path (unset: ORT_DYLIB_PATH, .cache/onnxruntime, Python
    /// onnxruntime). `ort` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub library: Option<PathBuf>,
    /// Execution provider. `ort` only; tract runs on the CPU.
    pub provider: Provider,
    /// Intra-op threads (unset: ONNX Runtime's default). `ort` only; tract runs each model on
    /// the calling thread.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    /// A memory budget for the edge, in MiB (unset: none). `meanet run`, `meanet edge` and the
    /// runtime library pick their batch size to stay inside it, and ONNX Runtime gives memory
    /// back after each batch (no arena, no memory pattern) instead of keeping its peak. A budget
    /// the bundle cannot meet at batch 1 is refused at start, naming the smallest that works.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
}

impl BackendOptions {
    /// Checks values serde cannot, and that this build has the backend.
    pub fn validate(&self) -> Result<()> {
        if !self.backend.compiled() {
            bail!(
                "runtime.backend = \"{}\", but this meanet was built without the `{}` cargo feature (rebuild with `--features {}`, or choose runtime.backend = \"{}\")",
                self.backend.name(),
                self.backend.name(),
                self.backend.name(),
                Backend::default().name()
            );
        }
        if self.backend == Backend::Tract && self.provider != Provider::Cpu {
            bail!(
                "runtime.provider = \"{}\" applies to ONNX Runtime only; tract runs on the CPU (use runtime.backend = \"ort\" for a GPU provider)",
                self.provider.name()
            );
        }
        if self.memory_mb == Some(0) {
            bail!("runtime.memory_mb must be at least 1 (leave it unset for no budget)");
        }
        if self.threads == Some(0) {
            bail!("runtime.threads must be at least 1 (leave it unset for ONNX Runtime's default)");
        }
        Ok(())
    }
}
