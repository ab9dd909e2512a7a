//! One ONNX model: a session, its validated signature, and f32 batch inference.

use std::fmt;
use std::path::{Path, PathBuf};

use ndarray::{ArrayD, ArrayViewD, IxDyn};
use ort::session::{Session, SessionInputValue};
use ort::value::{TensorElementType, TensorRef, ValueType};

use crate::{OnnxError, Runtime};

/// Name, element type and shape of one model input or output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// Tensor name in the graph.
    pub name: String,
    /// Whether the element type is f32 (the only type meanet's blocks exchange).
    pub is_f32: bool,
    /// Declared shape; `None` for dynamic dimensions (such as the batch).
    pub shape: Vec<Option<usize>>,
}

impl fmt::Display for TensorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self
            .shape
            .iter()
            .map(|d| d.map_or_else(|| "N".to_string(), |d| d.to_string()))
            .collect();
        write!(f, "[{}]", dims.join(", "))
    }
}

/// The inputs and outputs of a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSignature {
    /// Inputs, in graph order.
    pub inputs: Vec<TensorSpec>,
    /// Outputs, in graph order.
    pub outputs: Vec<TensorSpec>,
}

/// A loaded model that runs f32 batches.
pub struct OrtModel {
    session: Session,
    path: PathBuf,
    signature: ModelSignature,
}

impl fmt::Debug for OrtModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrtModel")
            .field("path", &self.path)
            .field("signature", &self.signature)
            .finish()
    }
}

fn spec(name: &str, ty: &ValueType) -> TensorSpec {
    match ty {
        ValueType::Tensor { ty, shape, .. } => TensorSpec {
            name: name.to_string(),
            is_f32: *ty == TensorElementType::Float32,
            shape: shape
                .iter()
                .map(|&d| usize::try_from(d).ok().filter(|_| d > 0))
                .collect(),
        },
        _ => TensorSpec {
            name: name.to_string(),
            is_f32: false,
            shape: Vec::new(),
        },
    }
}

impl OrtModel {
    /// Loads the model at `path`.
    pub fn load(runtime: &Runtime, path: impl AsRef<Path>) -> Result<Self, OnnxError> {
        let path = path.as_ref().to_path_buf();
        let session = runtime.session(&path)?;
        let signature = ModelSignature {
            inputs: session
                .inputs()
                .iter()
                .map(|o| spec(o.name(), o.dtype()))
                .collect(),
            outputs: session
                .outputs()
                .iter()
                .map(|o| spec(o.name(), o.dtype()))
                .collect(),
        };
        Ok(OrtModel {
            session,
            path,
            signature,
        })
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Inputs and outputs as declared in the file.
    pub fn signature(&self) -> &ModelSignature {
        &self.signature
    }

    /// Checks the input/output counts and that every tensor is f32 of at least rank 2, for a
    /// model serving as `role`.
    pub(crate) fn expect(
        &self,
        role: &'static str,
        inputs: usize,
        outputs: usize,
    ) -> Result<(), OnnxError> {
        let bad = |problem: String| OnnxError::Signature {
            path: self.path.clone(),
            role,
            problem,
        };
        let s = &self.signature;
        if s.inputs.len() != inputs {
            return Err(bad(format!(
                "expected {inputs} input(s), the model has {}",
                s.inputs.len()
            )));
        }
        if s.outputs.len() != outputs {
            return Err(bad(format!(
                "expected {outputs} output(s), the model has {}",
                s.outputs.len()
            )));
        }
        for t in s.inputs.iter().chain(&s.outputs) {
            if !t.is_f32 {
                return Err(bad(format!("tensor {:?} is not float32", t.name)));
            }
            if t.shape.len() < 2 {
                return Err(bad(format!(
                    "tensor {:?} has shape {t}; a batch dimension and at least one more are needed",
                    t.name
                )));
            }
        }
        Ok(())
    }

    /// Index of the tensor called `name` among `specs` (the model's inputs or outputs, as
    /// `kind` says), or an error naming the manifest key `tensors.KEY` and the names there are.
    pub(crate) fn named(
        &self,
        role: &'static str,
        kind: &str,
        key: &str,
        name: &str,
    ) -> Result<usize, OnnxError> {
        let specs = match kind {
            "input" => &self.signature.inputs,
            _ => &self.signature.outputs,
        };
        specs
            .iter()
            .position(|t| t.name == name)
            .ok_or_else(|| OnnxError::Signature {
                path: self.path.clone(),
                role,
                problem: format!(
                    "tensors.{key} = {name:?} is not one of its {kind}s {:?}",
                    specs.iter().map(|t| t.name.as_str()).collect::<Vec<_>>()
                ),
            })
    }

    /// Index of the input or output named `name`, else `fallback`.
    pub(crate) fn position(specs: &[TensorSpec], name: &str, fallback: usize) -> usize {
        specs
            .iter()
            .position(|t| t.name == name)
            .unwrap_or(fallback)
    }

    /// Runs one batch. `inputs` are given in graph order; each must match its declared shape
    /// (dynamic dimensions accept any size) and all must share the batch size.
    pub fn run(&mut self, inputs: &[ArrayViewD<'_, f32>]) -> Result<Vec<ArrayD<f32>>, OnnxError> {
        for (spec, x) in self.signature.inputs.iter().zip(inputs) {
            let fits = spec.shape.len() == x.ndim()
                && spec
                    .shape
                    .iter()
                    .zip(x.shape())
                    .all(|(d, &n)| d.is_none_or(|d| d == n))
                && x.shape().first() == inputs[0].shape().first()
                && !x.is_empty();
            if !fits {
                return Err(OnnxError::InputShape {
                    path: self.path.clone(),
                    input: spec.name.clone(),
                    expected: spec.to_string(),
                    got: x.shape().to_vec(),
                });
            }
        }
        let run_err = |source| OnnxError::Run {
            path: self.path.clone(),
            source,
        };
        // ONNX Runtime needs contiguous memory; `as_standard_layout` copies only views that are not.
        let contiguous: Vec<_> = inputs.iter().map(|x| x.as_standard_layout()).collect();
        let mut values: Vec<SessionInputValue<'_>> = Vec::with_capacity(inputs.len());
        for x in &contiguous {
            values.push(
                TensorRef::from_array_view(x.view())
                    .map_err(run_err)?
                    .into(),
            );
        }
        let outputs = self
            .session
            .run(values.as_slice())
            .map_err(|source| OnnxError::Run {
                path: self.path.clone(),
                source,
            })?;
        let mut result = Vec::with_capacity(self.signature.outputs.len());
        for (spec, (_, value)) in self.signature.outputs.iter().zip(outputs.iter()) {
            let (shape, data) =
                value
                    .try_extract_tensor::<f32>()
                    .map_err(|e| OnnxError::Output {
                        path: self.path.clone(),
                        output: spec.name.clone(),
                        problem: e.to_string(),
                    })?;
            let dims: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
            let array = ArrayD::from_shape_vec(IxDyn(&dims), data.to_vec()).map_err(|e| {
                OnnxError::Output {
                    path: self.path.clone(),
                    output: spec.name.clone(),
                    problem: e.to_string(),
                }
            })?;
            result.push(array);
        }
        Ok(result)
    }
}
