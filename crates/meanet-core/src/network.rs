//! The [`Network`] port (one loaded model file, whatever runs it) and the generic blocks over
//! it: [`MainNet`], [`ExtensionNet`] and [`ClassifierNet`].
//!
//! An inference backend implements [`Network`] alone: open a file, say what it declares, run a
//! batch. Everything a block adds on top (which output is the logits, whether the file fits the
//! role, checking a batch against the declared inputs before it reaches the backend, reading
//! `(N, C)` logits, and the errors that name the file) lives here, once, so that ONNX Runtime,
//! tract and any backend a user adds accept and refuse exactly the same bundles with the same
//! messages.
//!
//! ```
//! use meanet_core::network::{ClassifierNet, Network};
//! use meanet_core::testing::FakeNetwork;
//! use meanet_core::Classifier;
//! use ndarray::{ArrayD, IxDyn};
//!
//! let net: Box<dyn Network> = Box::new(FakeNetwork::classifier(&[1, 4, 4], 3));
//! let mut cloud = ClassifierNet::new(net)?;
//! let logits = cloud.classify(ArrayD::zeros(IxDyn(&[2, 1, 4, 4])).view())?;
//! assert_eq!(logits.dim(), (2, 3));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayD, ArrayViewD, Ix2};

use crate::manifest::Tensors;
use crate::ports::{BlockError, BoxError, Classifier, ExtensionBlock, MainBlock, MainOutput};
use crate::signature::{ExtensionLayout, MainLayout, ModelSignature, Role};

/// One loaded model file, run by some backend: the port every inference adapter implements.
///
/// Object safe: a backend is chosen at run time as `Box<dyn Network>`.
pub trait Network: Send + fmt::Debug {
    /// The model file (named in every error).
    fn path(&self) -> &Path;

    /// Inputs and outputs as the file declares them.
    fn signature(&self) -> &ModelSignature;

    /// Runs one batch. `inputs` are in graph order and have been checked against
    /// [`Network::signature`] (callers go through [`run_checked`]); returns every output, in
    /// graph order.
    fn run(&mut self, inputs: &[ArrayViewD<'_, f32>]) -> Result<Vec<ArrayD<f32>>, BoxError>;
}

impl<N: Network + ?Sized> Network for Box<N> {
    fn path(&self) -> &Path {
        (**self).path()
    }

    fn signature(&self) -> &ModelSignature {
        (**self).signature()
    }

    fn run(&mut self, inputs: &[ArrayViewD<'_, f32>]) -> Result<Vec<ArrayD<f32>>, BoxError> {
        (**self).run(inputs)
    }
}

/// What can go wrong using a [`Network`] as a block. Every variant names the model file.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The model's inputs or outputs do not fit the role it was loaded for.
    #[error("model {path} cannot serve as {role}: {problem}")]
    Signature {
        /// The model file.
        path: PathBuf,
        /// `main block`, `extension block` or `classifier`.
        role: &'static str,
        /// What does not fit.
        problem: String,
    },
    /// An input array did not match the model's declared shape.
    #[error("input {input:?} of {path} expects shape {expected}, got {got:?}")]
    InputShape {
        /// The model file.
        path: PathBuf,
        /// Input name (or position, for a named call that lacks one).
        input: String,
        /// The declared shape (`N` for dynamic dimensions).
        expected: String,
        /// The array's shape.
        got: Vec<usize>,
    },
    /// The backend failed while running the model.
    #[error("inference failed in {path}")]
    Run {
        /// The model file.
        path: PathBuf,
        /// The backend's error.
        #[source]
        source: BoxError,
    },
    /// An output was missing or not of the shape its role needs.
    #[error("output {output:?} of {path} is unusable: {problem}")]
    Output {
        /// The model file.
        path: PathBuf,
        /// Output name.
        output: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl From<NetworkError> for BlockError {
    fn from(e: NetworkError) -> Self {
        match e {
            NetworkError::InputShape { .. } => BlockError::InvalidInput(e.to_string()),
            NetworkError::Output { .. } | NetworkError::Signature { .. } => {
                BlockError::InvalidOutput(e.to_string())
            }
            NetworkError::Run { .. } => BlockError::Backend(Box::new(e)),
        }
    }
}

/// Runs `net` on positional `inputs` after checking them against its signature, and checks it
/// returned one array per declared output.
pub fn run_checked<N: Network + ?Sized>(
    net: &mut N,
    inputs: &[ArrayViewD<'_, f32>],
) -> Result<Vec<ArrayD<f32>>, NetworkError> {
    net.signature()
        .check_inputs(inputs)
        .map_err(|m| NetworkError::InputShape {
            path: net.path().to_path_buf(),
            input: m.input,
            expected: m.expected,
            got: m.got,
        })?;
    let out = net.run(inputs).map_err(|source| NetworkError::Run {
        path: net.path().to_path_buf(),
        source,
    })?;
    let declared = net.signature().outputs.len();
    if out.len() != declared {
        return Err(NetworkError::Output {
            path: net.path().to_path_buf(),
            output: format!("#{}", out.len().min(declared)),
            problem: format!(
                "the backend returned {} outputs, the file declares {declared}",
                out.len()
            ),
        });
    }
    Ok(out)
}

/// Runs `net` on inputs given by name, in any order: each declared input must be given once.
pub fn run_named<N: Network + ?Sized>(
    net: &mut N,
    inputs: &[(&str, ArrayViewD<'_, f32>)],
) -> Result<Vec<ArrayD<f32>>, NetworkError> {
    let mut ordered = Vec::with_capacity(inputs.len());
    for spec in &net.signature().inputs {
        let x = inputs
            .iter()
            .find(|(name, _)| *name == spec.name)
            .ok_or_else(|| NetworkError::InputShape {
                path: net.path().to_path_buf(),
                input: spec.name.clone(),
                expected: spec.to_string(),
                got: Vec::new(),
            })?;
        ordered.push(x.1.view());
    }
    if let Some((name, x)) = inputs
        .iter()
        .find(|(name, _)| !net.signature().inputs.iter().any(|s| s.name == *name))
    {
        return Err(NetworkError::InputShape {
            path: net.path().to_path_buf(),
            input: (*name).to_string(),
            expected: "no such input".into(),
            got: x.shape().to_vec(),
        });
    }
    run_checked(net, &ordered)
}

fn unfit<N: Network + ?Sized>(net: &N, role: Role, problem: String) -> NetworkError {
    NetworkError::Signature {
        path: net.path().to_path_buf(),
        role: role.name(),
        problem,
    }
}

fn into_logits<N: Network + ?Sized>(
    net: &N,
    index: usize,
    a: ArrayD<f32>,
) -> Result<Array2<f32>, NetworkError> {
    let shape = a.shape().to_vec();
    a.into_dimensionality::<Ix2>()
        .map_err(|_| NetworkError::Output {
            path: net.path().to_path_buf(),
            output: net.signature().outputs[index].name.clone(),
            problem: format!("logits must have shape (batch, classes), got {shape:?}"),
        })
}

/// The main block over any [`Network`]: one input, two outputs (`logits` `[N, C]` and
/// `features`).
///
/// Outputs are matched by name when the model uses the names `logits` and `features` (or a
/// bundle's `[tensors]` names them), else by position (logits first).
#[derive(Debug)]
pub struct MainNet<N = Box<dyn Network>> {
    net: N,
    layout: MainLayout,
}

impl<N: Network> MainNet<N> {
    /// Checks that `net` fits the main block's role.
    pub fn new(net: N) -> Result<Self, NetworkError> {
        Self::with_names(net, None)
    }

    /// Checks that `net` fits, with its tensors called as `names` says (a bundle's
    /// `[tensors]`: `input`, `main_logits`, `features`); a name the model lacks is an error
    /// naming the key.
    pub fn named(net: N, names: &Tensors) -> Result<Self, NetworkError> {
        Self::with_names(net, Some(names))
    }

    fn with_names(net: N, names: Option<&Tensors>) -> Result<Self, NetworkError> {
        let layout = net
            .signature()
            .main_layout(names)
            .map_err(|p| unfit(&net, Role::Main, p))?;
        Ok(MainNet { net, layout })
    }

    /// Number of classes C, if the model declares it.
    pub fn num_classes(&self) -> Option<usize> {
        self.net.signature().classes(self.layout.logits)
    }

    /// The underlying network.
    pub fn network(&self) -> &N {
        &self.net
    }

    /// Runs a batch, with errors that name the file.
    pub fn run(&mut self, input: ArrayViewD<'_, f32>) -> Result<MainOutput, NetworkError> {
        let mut out = run_checked(&mut self.net, &[input])?;
        let features = std::mem::take(&mut out[self.layout.features]);
        let logits = std::mem::take(&mut out[self.layout.logits]);
        let logits = into_logits(&self.net, self.layout.logits, logits)?;
        Ok(MainOutput { logits, features })
    }
}

impl<N: Network> MainBlock for MainNet<N> {
    fn infer(&mut self, input: ArrayViewD<'_, f32>) -> Result<MainOutput, BlockError> {
        Ok(self.run(input)?)
    }
}

/// The adaptive + extension blocks over any [`Network`]: inputs (`input`, `features`) in
/// either order, one output (logits over the hard classes).
#[derive(Debug)]
pub struct ExtensionNet<N = Box<dyn Network>> {
    net: N,
    layout: ExtensionLayout,
}

impl<N: Network> ExtensionNet<N> {
    /// Checks that `net` fits the extension block's role.
    pub fn new(net: N) -> Result<Self, NetworkError> {
        Self::with_names(net, None)
    }

    /// Checks that `net` fits, with its tensors called as `names` says: inputs `input` and
    /// `features`, output `extension_logits`.
    pub fn named(net: N, names: &Tensors) -> Result<Self, NetworkError> {
        Self::with_names(net, Some(names))
    }

    fn with_names(net: N, names: Option<&Tensors>) -> Result<Self, NetworkError> {
        let layout = net
            .signature()
            .extension_layout(names)
            .map_err(|p| unfit(&net, Role::Extension, p))?;
        Ok(ExtensionNet { net, layout })
    }

    /// Number of hard classes H, if the model declares it.
    pub fn num_hard_classes(&self) -> Option<usize> {
        self.net.signature().classes(0)
    }

    /// The underlying network.
    pub fn network(&self) -> &N {
        &self.net
    }

    /// Runs a batch, with errors that name the file.
    pub fn run(
        &mut self,
        input: ArrayViewD<'_, f32>,
        features: ArrayViewD<'_, f32>,
    ) -> Result<Array2<f32>, NetworkError> {
        let args = if self.layout.input == 0 {
            [input, features]
        } else {
            [features, input]
        };
        let mut out = run_checked(&mut self.net, &args)?;
        into_logits(&self.net, 0, out.swap_remove(0))
    }
}

impl<N: Network> ExtensionBlock for ExtensionNet<N> {
    fn infer(
        &mut self,
        input: ArrayViewD<'_, f32>,
        features: ArrayViewD<'_, f32>,
    ) -> Result<Array2<f32>, BlockError> {
        Ok(self.run(input, features)?)
    }
}

/// A whole-input classifier (the cloud model) over any [`Network`]: one input, one output
/// `[N, C]`.
#[derive(Debug)]
pub struct ClassifierNet<N = Box<dyn Network>> {
    net: N,
}

impl<N: Network> ClassifierNet<N> {
    /// Checks that `net` fits a classifier's role.
    pub fn new(net: N) -> Result<Self, NetworkError> {
        Self::with_names(net, None)
    }

    /// Checks that `net` fits, with its input called `input` and its output `output` (a
    /// bundle's `tensors.input` and `tensors.cloud_logits`).
    pub fn named(net: N, input: &str, output: &str) -> Result<Self, NetworkError> {
        Self::with_names(net, Some((input, output)))
    }

    fn with_names(net: N, names: Option<(&str, &str)>) -> Result<Self, NetworkError> {
        net.signature()
            .classifier_layout(names)
            .map_err(|p| unfit(&net, Role::Classifier, p))?;
        Ok(ClassifierNet { net })
    }

    /// Number of classes C, if the model declares it.
    pub fn num_classes(&self) -> Option<usize> {
        self.net.signature().classes(0)
    }

    /// The underlying network.
    pub fn network(&self) -> &N {
        &self.net
    }

    /// Classifies a batch, with errors that name the file.
    pub fn run(&mut self, input: ArrayViewD<'_, f32>) -> Result<Array2<f32>, NetworkError> {
        let mut out = run_checked(&mut self.net, &[input])?;
        into_logits(&self.net, 0, out.swap_remove(0))
    }
}

impl<N: Network> Classifier for ClassifierNet<N> {
    fn classify(&mut self, input: ArrayViewD<'_, f32>) -> Result<Array2<f32>, BlockError> {
        Ok(self.run(input)?)
    }
}

#[cfg(test)]
mod tests;
