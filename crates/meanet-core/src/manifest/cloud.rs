//! `[cloud]`: what the cloud model takes and answers, recorded in the manifest so that an edge
//! bundle (main and extension only, `meanet export edge`) can price and check offloads without
//! the cloud's file.

use serde::{Deserialize, Serialize};

use super::{Manifest, ManifestError};

/// One tensor of the cloud model: its name, v2 datatype and shape, `-1` for the batch axis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudTensor {
    /// The tensor's name in the cloud model.
    pub name: String,
    /// Its Open Inference Protocol v2 datatype (`FP32`).
    pub datatype: String,
    /// Its shape, batch first as `-1`.
    pub shape: Vec<i64>,
}

/// `[cloud]`: the cloud model's interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudSpec {
    /// What it takes: `[-1, C, H, W]` FP32, as `input.shape`.
    pub input: CloudTensor,
    /// What it answers: `[-1, classes]` FP32 logits.
    pub output: CloudTensor,
}

impl CloudSpec {
    /// The interface a MEANet cloud model has for `manifest`: the input of `input.shape`, one
    /// logit per class, both FP32 and named as `[tensors]` says.
    pub fn expected(manifest: &Manifest) -> CloudSpec {
        let batch = std::iter::once(-1i64);
        let dims = |d: &[usize]| -> Vec<i64> {
            batch
                .clone()
                .chain(d.iter().map(|&x| i64::try_from(x).unwrap_or(i64::MAX)))
                .collect()
        };
        CloudSpec {
            input: CloudTensor {
                name: manifest.tensors.input.clone(),
                datatype: "FP32".into(),
                shape: dims(&manifest.input.shape),
            },
            output: CloudTensor {
                name: manifest.tensors.cloud_logits.clone(),
                datatype: "FP32".into(),
                shape: dims(&[manifest.classes.len()]),
            },
        }
    }

    /// Logits per sample the cloud answers with.
    pub fn outputs(&self) -> Option<usize> {
        match self.output.shape.as_slice() {
            [_, n] => usize::try_from(*n).ok(),
            _ => None,
        }
    }

    /// Checks the recorded interface is the one the rest of the manifest implies (a cloud the
    /// edge could not use is refused when the bundle loads, not at the first offload).
    pub(super) fn validate(&self, manifest: &Manifest) -> Result<(), ManifestError> {
        let want = CloudSpec::expected(manifest);
        for (key, got, want) in [
            ("cloud.input", &self.input, &want.input),
            ("cloud.output", &self.output, &want.output),
        ] {
            if got.datatype != want.datatype {
                return Err(ManifestError::Cloud(format!(
                    "{key}.datatype is {:?}; the edge sends and reads {:?}",
                    got.datatype, want.datatype
                )));
            }
            if got.shape != want.shape {
                return Err(ManifestError::Cloud(format!(
                    "{key}.shape is {:?}, but input.shape and classes give {:?}",
                    got.shape, want.shape
                )));
            }
            if got.name.is_empty() {
                return Err(ManifestError::Cloud(format!(
                    "{key}.name: a tensor name cannot be empty"
                )));
            }
        }
        Ok(())
    }
}
