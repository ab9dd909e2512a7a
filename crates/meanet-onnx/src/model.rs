//! One ONNX model: a session, its validated signature, and f32 batch inference.

use std::fmt;
use std::path::{Path, PathBuf};

use meanet_core::BoxError;
use meanet_core::network::Network;
use meanet_core::signature::{ModelSignature, TensorSpec};
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use ort::session::{Session, SessionInputValue};
use ort::value::{TensorElementType, TensorRef, ValueType};

use crate::{OnnxError, Runtime};

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
}

impl Network for OrtModel {
    fn path(&self) -> &Path {
        &self.path
    }

    fn signature(&self) -> &ModelSignature {
        &self.signature
    }

    /// Runs one batch on the session (inputs already checked by core against the signature).
    fn run(&mut self, inputs: &[ArrayViewD<'_, f32>]) -> Result<Vec<ArrayD<f32>>, BoxError> {
        // ONNX Runtime needs contiguous memory; `as_standard_layout` copies only views that are not.
        let contiguous: Vec<_> = inputs.iter().map(|x| x.as_standard_layout()).collect();
        let mut values: Vec<SessionInputValue<'_>> = Vec::with_capacity(inputs.len());
        for x in &contiguous {
            values.push(TensorRef::from_array_view(x.view())?.into());
        }
        let outputs = self.session.run(values.as_slice())?;
        let mut result = Vec::with_capacity(self.signature.outputs.len());
        for (spec, (_, value)) in self.signature.outputs.iter().zip(outputs.iter()) {
            let (shape, data) = value
                .try_extract_tensor::<f32>()
                .map_err(|e| format!("output {:?}: {e}", spec.name))?;
            let dims: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
            let array = ArrayD::from_shape_vec(IxDyn(&dims), data.to_vec())
                .map_err(|e| format!("output {:?}: {e}", spec.name))?;
            result.push(array);
        }
        Ok(result)
    }
}
