//! tract plans as core's blocks. Which tensors play which part, and whether a model fits its
//! role, is decided by core's [`meanet_core::signature`] checks, shared with every backend.

use std::path::Path;

use ndarray::{Array2, ArrayD, ArrayViewD, Ix2};

use meanet_core::manifest::Tensors;
use meanet_core::signature::{ExtensionLayout, MainLayout, Role};
use meanet_core::{BlockError, Classifier, ExtensionBlock, MainBlock, MainOutput};

use crate::{TractError, TractModel};

fn into_logits(
    model: &TractModel,
    index: usize,
    a: ArrayD<f32>,
) -> Result<Array2<f32>, TractError> {
    let shape = a.shape().to_vec();
    a.into_dimensionality::<Ix2>()
        .map_err(|_| TractError::Output {
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
pub struct TractMainBlock {
    model: TractModel,
    layout: MainLayout,
}

impl TractMainBlock {
    fn load_with(path: &Path, names: Option<&Tensors>) -> Result<Self, TractError> {
        let model = TractModel::load(path)?;
        let layout = model
            .signature()
            .main_layout(names)
            .map_err(|p| model.unfit(Role::Main, p))?;
        Ok(TractMainBlock { model, layout })
    }

    /// Loads and validates a main-block model.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, TractError> {
        Self::load_with(path.as_ref(), None)
    }

    /// Loads a main-block model whose tensors are called as `names` says (a bundle's
    /// `[tensors]`): `input`, `main_logits` and `features`. A name the model lacks is an error
    /// naming the key.
    pub fn load_named(path: impl AsRef<Path>, names: &Tensors) -> Result<Self, TractError> {
        Self::load_with(path.as_ref(), Some(names))
    }

    /// Number of classes C, if the model declares it.
    pub fn num_classes(&self) -> Option<usize> {
        self.model.signature().classes(self.layout.logits)
    }

    /// The underlying model.
    pub fn model(&self) -> &TractModel {
        &self.model
    }

    /// Runs a batch, with this adapter's error type.
    pub fn run(&mut self, input: ArrayViewD<'_, f32>) -> Result<MainOutput, TractError> {
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

impl MainBlock for TractMainBlock {
    fn infer(&mut self, input: ArrayViewD<'_, f32>) -> Result<MainOutput, BlockError> {
        Ok(self.run(input)?)
    }
}

/// The adaptive + extension blocks: inputs (`input`, `features`), one output (hard logits).
#[derive(Debug)]
pub struct TractExtensionBlock {
    model: TractModel,
    layout: ExtensionLayout,
}

impl TractExtensionBlock {
    fn load_with(path: &Path, names: Option<&Tensors>) -> Result<Self, TractError> {
        let model = TractModel::load(path)?;
        let layout = model
            .signature()
            .extension_layout(names)
            .map_err(|p| model.unfit(Role::Extension, p))?;
        Ok(TractExtensionBlock { model, layout })
    }

    /// Loads and validates an extension model.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, TractError> {
        Self::load_with(path.as_ref(), None)
    }

    /// Loads an extension model whose tensors are called as `names` says: inputs `input` and
    /// `features`, output `extension_logits`.
    pub fn load_named(path: impl AsRef<Path>, names: &Tensors) -> Result<Self, TractError> {
        Self::load_with(path.as_ref(), Some(names))
    }

    /// Number of hard classes H, if the model declares it.
    pub fn num_hard_classes(&self) -> Option<usize> {
        self.model.signature().classes(0)
    }

    /// The underlying model.
    pub fn model(&self) -> &TractModel {
        &self.model
    }

    /// Runs a batch, with this adapter's error type.
    pub fn run(
        &mut self,
        input: ArrayViewD<'_, f32>,
        features: ArrayViewD<'_, f32>,
    ) -> Result<Array2<f32>, TractError> {
        let args = if self.layout.input == 0 {
            [input, features]
        } else {
            [features, input]
        };
        let mut out = self.model.run(&args)?;
        into_logits(&self.model, 0, out.swap_remove(0))
    }
}

impl ExtensionBlock for TractExtensionBlock {
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
pub struct TractClassifier {
    model: TractModel,
}

impl TractClassifier {
    fn load_with(path: &Path, names: Option<(&str, &str)>) -> Result<Self, TractError> {
        let model = TractModel::load(path)?;
        model
            .signature()
            .classifier_layout(names)
            .map_err(|p| model.unfit(Role::Classifier, p))?;
        Ok(TractClassifier { model })
    }

    /// Loads and validates a classifier model.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, TractError> {
        Self::load_with(path.as_ref(), None)
    }

    /// Loads a classifier whose input is called `input` and output `output` (a bundle's
    /// `tensors.input` and `tensors.cloud_logits`).
    pub fn load_named(
        path: impl AsRef<Path>,
        input: &str,
        output: &str,
    ) -> Result<Self, TractError> {
        Self::load_with(path.as_ref(), Some((input, output)))
    }

    /// Number of classes C, if the model declares it.
    pub fn num_classes(&self) -> Option<usize> {
        self.model.signature().classes(0)
    }

    /// The underlying model.
    pub fn model(&self) -> &TractModel {
        &self.model
    }

    /// Classifies a batch.
    pub fn run(&mut self, input: ArrayViewD<'_, f32>) -> Result<Array2<f32>, TractError> {
        let mut out = self.model.run(&[input])?;
        into_logits(&self.model, 0, out.swap_remove(0))
    }
}

impl Classifier for TractClassifier {
    fn classify(&mut self, input: ArrayViewD<'_, f32>) -> Result<Array2<f32>, BlockError> {
        Ok(self.run(input)?)
    }
}
