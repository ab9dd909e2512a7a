//! ONNX models as core's blocks. Which tensors play which part, and whether a model fits its
//! role, is decided by core's [`meanet_core::signature`] checks, shared with every backend.

use std::path::Path;

use ndarray::{Array2, ArrayD, ArrayViewD, Ix2};

use meanet_core::manifest::Tensors;
use meanet_core::signature::{ExtensionLayout, MainLayout, Role};
use meanet_core::{BlockError, Classifier, ExtensionBlock, MainBlock, MainOutput};

use crate::{OnnxError, OrtModel, Runtime};

fn into_logits(model: &OrtModel, index: usize, a: ArrayD<f32>) -> Result<Array2<f32>, OnnxError> {
    let shape = a.shape().to_vec();
    a.into_dimensionality::<Ix2>()
        .map_err(|_| OnnxError::Output {
            path: model.path().to_path_buf(),
            output: model.signature().outputs[index].name.clone(),
            problem: format!("logits must have shape (batch, classes), got {shape:?}"),
        })
}

/// The main block: one input (`input`), two outputs (`logits` `[N, C]` and `features`).
///
/// Outputs are matched by name when the model uses the names `logits` and `features`, else by
/// position (logits first).
#[derive(Debug)]
pub struct OrtMainBlock {
    model: OrtModel,
    layout: MainLayout,
}

impl OrtMainBlock {
    fn load_with(
        runtime: &Runtime,
        path: &Path,
        names: Option<&Tensors>,
    ) -> Result<Self, OnnxError> {
        let model = OrtModel::load(runtime, path)?;
        let layout = model
            .signature()
            .main_layout(names)
            .map_err(|p| model.unfit(Role::Main, p))?;
        Ok(OrtMainBlock { model, layout })
    }

    /// Loads and validates a main-block model.
    pub fn load(runtime: &Runtime, path: impl AsRef<Path>) -> Result<Self, OnnxError> {
        Self::load_with(runtime, path.as_ref(), None)
    }

    /// Loads a main-block model whose tensors are called as `names` says (a bundle's
    /// `[tensors]`): `input`, `main_logits` and `features`. A name the model lacks is an error
    /// naming the key.
    pub fn load_named(
        runtime: &Runtime,
        path: impl AsRef<Path>,
        names: &Tensors,
    ) -> Result<Self, OnnxError> {
        Self::load_with(runtime, path.as_ref(), Some(names))
    }

    /// Number of classes C, if the model declares it.
    pub fn num_classes(&self) -> Option<usize> {
        self.model.signature().classes(self.layout.logits)
    }

    /// The underlying model.
    pub fn model(&self) -> &OrtModel {
        &self.model
    }

    /// Runs a batch, with this adapter's error type.
    pub fn run(&mut self, input: ArrayViewD<'_, f32>) -> Result<MainOutput, OnnxError> {
        let mut out = self.model.run(&[input])?;
        let features = std::mem::take(&mut out[self.layout.features]);
        let logits = into_logits(
            &self.model,
            self.layout.logits,
            std::mem::take(&mut out[self.layout.logits]),
        )?;
        Ok(MainOutput { logits, features })
    }
}

impl MainBlock for OrtMainBlock {
    fn infer(&mut self, input: ArrayViewD<'_, f32>) -> Result<MainOutput, BlockError> {
        Ok(self.run(input)?)
    }
}

/// The adaptive + extension blocks: inputs (`input`, `features`), one output (hard logits).
#[derive(Debug)]
pub struct OrtExtensionBlock {
    model: OrtModel,
    layout: ExtensionLayout,
}

impl OrtExtensionBlock {
    fn load_with(
        runtime: &Runtime,
        path: &Path,
        names: Option<&Tensors>,
    ) -> Result<Self, OnnxError> {
        let model = OrtModel::load(runtime, path)?;
        let layout = model
            .signature()
            .extension_layout(names)
            .map_err(|p| model.unfit(Role::Extension, p))?;
        Ok(OrtExtensionBlock { model, layout })
    }

    /// Loads and validates an extension model.
    pub fn load(runtime: &Runtime, path: impl AsRef<Path>) -> Result<Self, OnnxError> {
        Self::load_with(runtime, path.as_ref(), None)
    }

    /// Loads an extension model whose tensors are called as `names` says: inputs `input` and
    /// `features`, output `extension_logits`.
    pub fn load_named(
        runtime: &Runtime,
        path: impl AsRef<Path>,
        names: &Tensors,
    ) -> Result<Self, OnnxError> {
        Self::load_with(runtime, path.as_ref(), Some(names))
    }

    /// Number of hard classes H, if the model declares it.
    pub fn num_hard_classes(&self) -> Option<usize> {
        self.model.signature().classes(0)
    }

    /// The underlying model.
    pub fn model(&self) -> &OrtModel {
        &self.model
    }

    /// Runs a batch, with this adapter's error type.
    pub fn run(
        &mut self,
        input: ArrayViewD<'_, f32>,
        features: ArrayViewD<'_, f32>,
    ) -> Result<Array2<f32>, OnnxError> {
        let args = if self.layout.input == 0 {
            [input, features]
        } else {
            [features, input]
        };
        let mut out = self.model.run(&args)?;
        into_logits(&self.model, 0, out.swap_remove(0))
    }
}

impl ExtensionBlock for OrtExtensionBlock {
    fn infer(
        &mut self,
        input: ArrayViewD<'_, f32>,
        features: ArrayViewD<'_, f32>,
    ) -> Result<Array2<f32>, BlockError> {
        Ok(self.run(input, features)?)
    }
}

/// A whole-input classifier (the cloud model): one input, one output `[N, C]`.
#[derive(Debug)]
pub struct OrtClassifier {
    model: OrtModel,
}

impl OrtClassifier {
    fn load_with(
        runtime: &Runtime,
        path: &Path,
        names: Option<(&str, &str)>,
    ) -> Result<Self, OnnxError> {
        let model = OrtModel::load(runtime, path)?;
        model
            .signature()
            .classifier_layout(names)
            .map_err(|p| model.unfit(Role::Classifier, p))?;
        Ok(OrtClassifier { model })
    }

    /// Loads and validates a classifier model.
    pub fn load(runtime: &Runtime, path: impl AsRef<Path>) -> Result<Self, OnnxError> {
        Self::load_with(runtime, path.as_ref(), None)
    }

    /// Loads a classifier whose input is called `input` and output `output` (a bundle's
    /// `tensors.input` and `tensors.cloud_logits`).
    pub fn load_named(
        runtime: &Runtime,
        path: impl AsRef<Path>,
        input: &str,
        output: &str,
    ) -> Result<Self, OnnxError> {
        Self::load_with(runtime, path.as_ref(), Some((input, output)))
    }

    /// Number of classes C, if the model declares it.
    pub fn num_classes(&self) -> Option<usize> {
        self.model.signature().classes(0)
    }

    /// The underlying model.
    pub fn model(&self) -> &OrtModel {
        &self.model
    }

    /// Classifies a batch.
    pub fn run(&mut self, input: ArrayViewD<'_, f32>) -> Result<Array2<f32>, OnnxError> {
        let mut out = self.model.run(&[input])?;
        into_logits(&self.model, 0, out.swap_remove(0))
    }
}

impl Classifier for OrtClassifier {
    fn classify(&mut self, input: ArrayViewD<'_, f32>) -> Result<Array2<f32>, BlockError> {
        Ok(self.run(input)?)
    }
}
