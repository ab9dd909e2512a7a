//! ONNX models as core's blocks.

use std::path::Path;

use ndarray::{Array2, ArrayD, ArrayViewD, Ix2};

use meanet_core::manifest::Tensors;
use meanet_core::{BlockError, ExtensionBlock, MainBlock, MainOutput};

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

fn check_logits_spec(model: &OrtModel, role: &'static str, index: usize) -> Result<(), OnnxError> {
    let spec = &model.signature().outputs[index];
    if spec.shape.len() != 2 {
        return Err(OnnxError::Signature {
            path: model.path().to_path_buf(),
            role,
            problem: format!(
                "logits output {:?} has shape {spec}, expected [N, classes]",
                spec.name
            ),
        });
    }
    Ok(())
}

/// The main block: one input (`input`), two outputs (`logits` `[N, C]` and `features`).
///
/// Outputs are matched by name when the model uses the names `logits` and `features`, else by
/// position (logits first).
#[derive(Debug)]
pub struct OrtMainBlock {
    model: OrtModel,
    logits: usize,
    features: usize,
}

impl OrtMainBlock {
    /// Loads and validates a main-block model.
    pub fn load(runtime: &Runtime, path: impl AsRef<Path>) -> Result<Self, OnnxError> {
        let model = OrtModel::load(runtime, path)?;
        model.expect("main block", 1, 2)?;
        let outs = &model.signature().outputs;
        let logits = OrtModel::position(outs, "logits", 0);
        let features = OrtModel::position(outs, "features", 1 - logits);
        check_logits_spec(&model, "main block", logits)?;
        Ok(OrtMainBlock {
            model,
            logits,
            features,
        })
    }

    /// Loads a main-block model whose tensors are called as `names` says (a bundle's
    /// `[tensors]`): `input`, `main_logits` and `features`. A name the model lacks is an error
    /// naming the key.
    pub fn load_named(
        runtime: &Runtime,
        path: impl AsRef<Path>,
        names: &Tensors,
    ) -> Result<Self, OnnxError> {
        const ROLE: &str = "main block";
        let model = OrtModel::load(runtime, path)?;
        model.expect(ROLE, 1, 2)?;
        model.named(ROLE, "input", "input", &names.input)?;
        let logits = model.named(ROLE, "output", "main_logits", &names.main_logits)?;
        let features = model.named(ROLE, "output", "features", &names.features)?;
        if logits == features {
            return Err(OnnxError::Signature {
                path: model.path().to_path_buf(),
                role: ROLE,
                problem: "tensors.main_logits and tensors.features name the same output".into(),
            });
        }
        check_logits_spec(&model, ROLE, logits)?;
        Ok(OrtMainBlock {
            model,
            logits,
            features,
        })
    }

    /// Number of classes C, if the model declares it.
    pub fn num_classes(&self) -> Option<usize> {
        self.model.signature().outputs[self.logits].shape[1]
    }

    /// The underlying model.
    pub fn model(&self) -> &OrtModel {
        &self.model
    }

    /// Runs a batch, with this adapter's error type.
    pub fn run(&mut self, input: ArrayViewD<'_, f32>) -> Result<MainOutput, OnnxError> {
        let mut out = self.model.run(&[input])?;
        let features = std::mem::take(&mut out[self.features]);
        let logits = into_logits(
            &self.model,
            self.logits,
            std::mem::take(&mut out[self.logits]),
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
    input: usize,
}

impl OrtExtensionBlock {
    /// Loads and validates an extension model.
    pub fn load(runtime: &Runtime, path: impl AsRef<Path>) -> Result<Self, OnnxError> {
        let model = OrtModel::load(runtime, path)?;
        model.expect("extension block", 2, 1)?;
        check_logits_spec(&model, "extension block", 0)?;
        let ins = &model.signature().inputs;
        let features = OrtModel::position(ins, "features", 1);
        let input = OrtModel::position(ins, "input", 1 - features);
        Ok(OrtExtensionBlock { model, input })
    }

    /// Loads an extension model whose tensors are called as `names` says: inputs `input` and
    /// `features`, output `extension_logits`.
    pub fn load_named(
        runtime: &Runtime,
        path: impl AsRef<Path>,
        names: &Tensors,
    ) -> Result<Self, OnnxError> {
        const ROLE: &str = "extension block";
        let model = OrtModel::load(runtime, path)?;
        model.expect(ROLE, 2, 1)?;
        model.named(ROLE, "output", "extension_logits", &names.extension_logits)?;
        check_logits_spec(&model, ROLE, 0)?;
        let input = model.named(ROLE, "input", "input", &names.input)?;
        let features = model.named(ROLE, "input", "features", &names.features)?;
        if input == features {
            return Err(OnnxError::Signature {
                path: model.path().to_path_buf(),
                role: ROLE,
                problem: "tensors.input and tensors.features name the same input".into(),
            });
        }
        Ok(OrtExtensionBlock { model, input })
    }

    /// Number of hard classes H, if the model declares it.
    pub fn num_hard_classes(&self) -> Option<usize> {
        self.model.signature().outputs[0].shape[1]
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
        let args = if self.input == 0 {
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
    /// Loads and validates a classifier model.
    pub fn load(runtime: &Runtime, path: impl AsRef<Path>) -> Result<Self, OnnxError> {
        let model = OrtModel::load(runtime, path)?;
        model.expect("classifier", 1, 1)?;
        check_logits_spec(&model, "classifier", 0)?;
        Ok(OrtClassifier { model })
    }

    /// Loads a classifier whose input is called `input` and output `output` (a bundle's
    /// `tensors.input` and `tensors.cloud_logits`).
    pub fn load_named(
        runtime: &Runtime,
        path: impl AsRef<Path>,
        input: &str,
        output: &str,
    ) -> Result<Self, OnnxError> {
        const ROLE: &str = "classifier";
        let model = OrtModel::load(runtime, path)?;
        model.expect(ROLE, 1, 1)?;
        model.named(ROLE, "input", "input", input)?;
        model.named(ROLE, "output", "cloud_logits", output)?;
        check_logits_spec(&model, ROLE, 0)?;
        Ok(OrtClassifier { model })
    }

    /// Number of classes C, if the model declares it.
    pub fn num_classes(&self) -> Option<usize> {
        self.model.signature().outputs[0].shape[1]
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
