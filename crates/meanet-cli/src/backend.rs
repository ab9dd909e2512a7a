//! The inference backend `runtime.backend` names: the only place a block adapter (ONNX Runtime
//! in `meanet-onnx`, tract in `meanet-tract`) is chosen.

use std::path::Path;

#[cfg(feature = "ort")]
use anyhow::Context;
use anyhow::Result;
use meanet_core::manifest::Tensors;
use meanet_core::{BoxError, Classifier, ExtensionBlock, MainBlock, ModelSignature};
use meanet_transport::{ServedModel, TensorInfo};
use ndarray::{Array2, ArrayViewD};

use crate::settings::{Backend, RuntimeSettings};

#[cfg(not(any(feature = "ort", feature = "tract")))]
compile_error!("meanet needs an inference backend: enable the `ort` or the `tract` feature");

/// A network loaded by the chosen backend, with what its file declares.
pub struct Loaded<T> {
    /// The port.
    pub block: T,
    /// Its inputs and outputs as the file declares them.
    pub signature: ModelSignature,
    /// The class count of its logits output, if declared.
    pub classes: Option<usize>,
}

/// The inference backend `runtime.backend` names, ready to load networks.
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

/// Loads a network with the engine's adapter: `$ort` (given the runtime first) or `$tract`, by
/// `$method`, recording its signature and `$classes`.
macro_rules! load {
    ($engine:expr, $ort:ident, $tract:ident, $method:ident, $classes:ident, ($($arg:expr),*)) => {
        match $engine {
            #[cfg(feature = "ort")]
            Engine::Ort(rt) => {
                let b = meanet_onnx::$ort::$method(rt, $($arg),*)?;
                let (signature, classes) = (b.model().signature().clone(), b.$classes());
                Loaded { block: Box::new(b), signature, classes }
            }
            #[cfg(feature = "tract")]
            Engine::Tract => {
                let b = meanet_tract::$tract::$method($($arg),*)?;
                let (signature, classes) = (b.model().signature().clone(), b.$classes());
                Loaded { block: Box::new(b), signature, classes }
            }
        }
    };
}

impl Engine {
    /// Starts the backend `settings.backend` names (for ONNX Runtime: loads its library).
    pub fn new(settings: &RuntimeSettings) -> Result<Self> {
        match settings.backend {
            #[cfg(feature = "ort")]
            Backend::Ort => {
                let provider = meanet_onnx::Provider::parse(settings.provider.name())
                    .context("unknown execution provider")?;
                let options = meanet_onnx::RuntimeOptions {
                    library: settings.library.clone(),
                    provider,
                    intra_threads: settings.threads,
                    inter_threads: None,
                };
                let rt = meanet_onnx::Runtime::new(options).context("loading ONNX Runtime")?;
                Ok(Engine::Ort(rt))
            }
            #[cfg(feature = "tract")]
            Backend::Tract => Ok(Engine::Tract),
            #[allow(unreachable_patterns)] // reachable when a backend's feature is off
            other => anyhow::bail!(
                "runtime.backend = \"{}\", but this meanet was built without the `{}` cargo feature",
                other.name(),
                other.name()
            ),
        }
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
    pub fn main(&self, path: &Path, names: &Tensors) -> Result<Loaded<Box<dyn MainBlock>>> {
        Ok(load!(
            self,
            OrtMainBlock,
            TractMainBlock,
            load_named,
            num_classes,
            (path, names)
        ))
    }

    /// An extension block whose tensors are called as `names` says.
    pub fn extension(
        &self,
        path: &Path,
        names: &Tensors,
    ) -> Result<Loaded<Box<dyn ExtensionBlock>>> {
        Ok(load!(
            self,
            OrtExtensionBlock,
            TractExtensionBlock,
            load_named,
            num_hard_classes,
            (path, names)
        ))
    }

    /// A classifier whose input and output are called `names` (input, output), or any one
    /// input and output when `None` (`meanet serve --model`).
    pub fn classifier(
        &self,
        path: &Path,
        names: Option<(&str, &str)>,
    ) -> Result<Loaded<Box<dyn Classifier>>> {
        Ok(match names {
            Some((input, output)) => load!(
                self,
                OrtClassifier,
                TractClassifier,
                load_named,
                num_classes,
                (path, input, output)
            ),
            None => load!(
                self,
                OrtClassifier,
                TractClassifier,
                load,
                num_classes,
                (path)
            ),
        })
    }
}

/// A classifier from either backend as the transport's served model.
pub struct Served(pub Loaded<Box<dyn Classifier>>);

impl Served {
    fn info(spec: &meanet_core::TensorSpec) -> TensorInfo {
        TensorInfo {
            name: spec.name.clone(),
            shape: spec.shape.clone(),
        }
    }
}

#[cfg(feature = "ort")]
impl From<meanet_onnx::OrtClassifier> for Served {
    fn from(b: meanet_onnx::OrtClassifier) -> Self {
        let (signature, classes) = (b.model().signature().clone(), b.num_classes());
        Served(Loaded {
            block: Box::new(b),
            signature,
            classes,
        })
    }
}

#[cfg(feature = "tract")]
impl From<meanet_tract::TractClassifier> for Served {
    fn from(b: meanet_tract::TractClassifier) -> Self {
        let (signature, classes) = (b.model().signature().clone(), b.num_classes());
        Served(Loaded {
            block: Box::new(b),
            signature,
            classes,
        })
    }
}

impl ServedModel for Served {
    fn input(&self) -> TensorInfo {
        Self::info(&self.0.signature.inputs[0])
    }

    fn output(&self) -> TensorInfo {
        Self::info(&self.0.signature.outputs[0])
    }

    fn infer(&mut self, input: ArrayViewD<'_, f32>) -> Result<Array2<f32>, BoxError> {
        Ok(self.0.block.classify(input)?)
    }
}
