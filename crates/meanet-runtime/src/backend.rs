//! The inference backend `runtime.backend` names: the only place a backend (ONNX Runtime in
//! `meanet-onnx`, tract in `meanet-tract`) is chosen. A backend opens a model file as core's
//! [`Network`]; core's generic blocks do everything else, the same for every backend.

use std::path::Path;

#[cfg(feature = "ort")]
use anyhow::Context;
use anyhow::Result;
use meanet_core::manifest::Tensors;
use meanet_core::{ClassifierNet, ExtensionNet, MainNet, Network};

use crate::options::{Backend, BackendOptions};

/// The inference backend `runtime.backend` names, ready to open networks.
pub enum Engine {
    /// ONNX Runtime, with its loaded library.
    #[cfg(feature = "ort")]
    Ort(meanet_onnx::Runtime),
    /// tract (nothing to load).
    #[cfg(feature = "tract")]
    Tract,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.backend().name())
    }
}

impl Engine {
    /// Starts the backend `options.backend` names (for ONNX Runtime: loads its library).
    pub fn new(options: &BackendOptions) -> Result<Self> {
        Self::start(options, false)
    }

    /// As [`Engine::new`], for a memory plan: when it holds a budget, ONNX Runtime's sessions
    /// give memory back after each run (no arena, no memory pattern) instead of keeping their
    /// peak. tract allocates per run already.
    pub fn with_plan(
        options: &BackendOptions,
        plan: &meanet_core::memory::MemoryPlan,
    ) -> Result<Self> {
        Self::start(options, plan.frugal())
    }

    #[cfg_attr(not(feature = "ort"), allow(unused_variables))]
    fn start(options: &BackendOptions, frugal: bool) -> Result<Self> {
        match options.backend {
            #[cfg(feature = "ort")]
            Backend::Ort => {
                let provider = meanet_onnx::Provider::parse(options.provider.name())
                    .context("unknown execution provider")?;
                let opts = meanet_onnx::RuntimeOptions {
                    library: options.library.clone(),
                    provider,
                    intra_threads: options.threads,
                    inter_threads: None,
                    frugal,
                };
                let rt = meanet_onnx::Runtime::new(opts).context("loading ONNX Runtime")?;
                Ok(Engine::Ort(rt))
            }
            #[cfg(feature = "tract")]
            Backend::Tract => Ok(Engine::Tract),
            #[allow(unreachable_patterns)] // reachable when a backend's feature is off
            other => anyhow::bail!(
                "runtime.backend = \"{}\", but this build has no `{}` cargo feature",
                other.name(),
                other.name()
            ),
        }
    }

    /// Opens the model file at `path` as a network.
    pub fn open(&self, path: &Path) -> Result<Box<dyn Network>> {
        Ok(match self {
            #[cfg(feature = "ort")]
            Engine::Ort(rt) => Box::new(meanet_onnx::open(rt, path)?),
            #[cfg(feature = "tract")]
            Engine::Tract => Box::new(meanet_tract::open(path)?),
        })
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self {
            #[cfg(feature = "ort")]
            Engine::Ort(_) => Backend::Ort,
            #[cfg(feature = "tract")]
            Engine::Tract => Backend::Tract,
        }
    }

    /// A human description: the backend, its version and (ONNX Runtime) its library.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        match self {
            #[cfg(feature = "ort")]
            Engine::Ort(rt) => vec![
                ("backend", "ort".into()),
                ("library", rt.library().display().to_string()),
                (
                    "expected",
                    format!("ONNX Runtime {}", meanet_onnx::ORT_VERSION),
                ),
            ],
            #[cfg(feature = "tract")]
            Engine::Tract => vec![
                ("backend", "tract".into()),
                (
                    "engine",
                    format!(
                        "tract-onnx {} (pure Rust, no shared library)",
                        meanet_tract::TRACT_VERSION
                    ),
                ),
            ],
        }
    }

    /// A main block whose tensors are called as `names` says.
    pub fn main(&self, path: &Path, names: &Tensors) -> Result<MainNet> {
        Ok(MainNet::named(self.open(path)?, names)?)
    }

    /// An extension block whose tensors are called as `names` says.
    pub fn extension(&self, path: &Path, names: &Tensors) -> Result<ExtensionNet> {
        Ok(ExtensionNet::named(self.open(path)?, names)?)
    }

    /// A classifier whose input and output are called `names` (input, output), or any one
    /// input and output when `None` (`meanet serve --model`).
    pub fn classifier(&self, path: &Path, names: Option<(&str, &str)>) -> Result<ClassifierNet> {
        let net = self.open(path)?;
        Ok(match names {
            Some((input, output)) => ClassifierNet::named(net, input, output)?,
            None => ClassifierNet::new(net)?,
        })
    }
}
