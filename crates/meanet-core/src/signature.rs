//! What a model file declares (its inputs and outputs) and the checks every inference adapter
//! applies to it before a network may serve as a main block, an extension block or a
//! classifier.
//!
//! The checks live here, not in each adapter, so that ONNX Runtime, tract and any backend a user
//! adds accept and refuse exactly the same bundles, with the same messages. Adapters read the
//! signature from their runtime, call these functions, and wrap the returned problem with the
//! model's path.

use std::fmt;

use ndarray::ArrayViewD;

use crate::manifest::Tensors;

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

/// The inputs and outputs of a model, in graph order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModelSignature {
    /// Inputs, in graph order.
    pub inputs: Vec<TensorSpec>,
    /// Outputs, in graph order.
    pub outputs: Vec<TensorSpec>,
}

/// The role a model is loaded for, as named in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The main block: one input, outputs logits and features.
    Main,
    /// The adaptive + extension blocks: inputs (raw input, features), output hard logits.
    Extension,
    /// A whole-input classifier (the cloud model): one input, one output.
    Classifier,
}

impl Role {
    /// `main block`, `extension block` or `classifier`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Main => "main block",
            Role::Extension => "extension block",
            Role::Classifier => "classifier",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a main block's outputs are: indices into [`ModelSignature::outputs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MainLayout {
    /// The logits output `[N, C]`.
    pub logits: usize,
    /// The feature-map output.
    pub features: usize,
}

/// Where an extension block's inputs are: indices into [`ModelSignature::inputs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionLayout {
    /// The raw input.
    pub input: usize,
    /// The main block's feature map.
    pub features: usize,
}

/// An input batch that does not fit the model's declared input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputMismatch {
    /// The input's name.
    pub input: String,
    /// The declared shape (`N` for dynamic dimensions).
    pub expected: String,
    /// The array's shape.
    pub got: Vec<usize>,
}

impl ModelSignature {
    /// The outputs' names, in graph order (the order a run returns them in).
    pub fn output_names(&self) -> Vec<String> {
        self.outputs.iter().map(|t| t.name.clone()).collect()
    }

    /// Checks the input/output counts and that every tensor is f32 of at least rank 2.
    pub fn expect(&self, inputs: usize, outputs: usize) -> Result<(), String> {
        if self.inputs.len() != inputs {
            return Err(format!(
                "expected {inputs} input(s), the model has {}",
                self.inputs.len()
            ));
        }
        if self.outputs.len() != outputs {
            return Err(format!(
                "expected {outputs} output(s), the model has {}",
                self.outputs.len()
            ));
        }
        for t in self.inputs.iter().chain(&self.outputs) {
            if !t.is_f32 {
                return Err(format!("tensor {:?} is not float32", t.name));
            }
            if t.shape.len() < 2 {
                return Err(format!(
                    "tensor {:?} has shape {t}; a batch dimension and at least one more are needed",
                    t.name
                ));
            }
        }
        Ok(())
    }

    /// Index of the input (`output == false`) or output called `name`, or a message naming the
    /// manifest key `tensors.KEY` and the names the model has.
    pub fn named(&self, output: bool, key: &str, name: &str) -> Result<usize, String> {
        let (specs, kind) = if output {
            (&self.outputs, "output")
        } else {
            (&self.inputs, "input")
        };
        specs.iter().position(|t| t.name == name).ok_or_else(|| {
            format!(
                "tensors.{key} = {name:?} is not one of its {kind}s {:?}",
                specs.iter().map(|t| t.name.as_str()).collect::<Vec<_>>()
            )
        })
    }

    fn position(specs: &[TensorSpec], name: &str, fallback: usize) -> usize {
        specs
            .iter()
            .position(|t| t.name == name)
            .unwrap_or(fallback)
    }

    fn logits_rank(&self, index: usize) -> Result<(), String> {
        let spec = &self.outputs[index];
        if spec.shape.len() != 2 {
            return Err(format!(
                "logits output {:?} has shape {spec}, expected [N, classes]",
                spec.name
            ));
        }
        Ok(())
    }

    /// Validates a main block. With `names` (a bundle's `[tensors]`) the tensors are found by
    /// those names; without, outputs called `logits` and `features` are used if present, else
    /// the first output is the logits.
    pub fn main_layout(&self, names: Option<&Tensors>) -> Result<MainLayout, String> {
        self.expect(1, 2)?;
        let layout = match names {
            Some(t) => {
                self.named(false, "input", &t.input)?;
                let logits = self.named(true, "main_logits", &t.main_logits)?;
                let features = self.named(true, "features", &t.features)?;
                if logits == features {
                    return Err(
                        "tensors.main_logits and tensors.features name the same output".into(),
                    );
                }
                MainLayout { logits, features }
            }
            None => {
                let logits = Self::position(&self.outputs, "logits", 0);
                let features = Self::position(&self.outputs, "features", 1 - logits);
                MainLayout { logits, features }
            }
        };
        self.logits_rank(layout.logits)?;
        Ok(layout)
    }

    /// Validates an extension block (inputs found by `names`, or by the names `input` and
    /// `features`, else in that order).
    pub fn extension_layout(&self, names: Option<&Tensors>) -> Result<ExtensionLayout, String> {
        self.expect(2, 1)?;
        let layout = match names {
            Some(t) => {
                self.named(true, "extension_logits", &t.extension_logits)?;
                let input = self.named(false, "input", &t.input)?;
                let features = self.named(false, "features", &t.features)?;
                if input == features {
                    return Err("tensors.input and tensors.features name the same input".into());
                }
                ExtensionLayout { input, features }
            }
            None => {
                let features = Self::position(&self.inputs, "features", 1);
                let input = Self::position(&self.inputs, "input", 1 - features);
                ExtensionLayout { input, features }
            }
        };
        self.logits_rank(0)?;
        Ok(layout)
    }

    /// Validates a classifier; with `names` = (input, output), the tensors must be called so.
    pub fn classifier_layout(&self, names: Option<(&str, &str)>) -> Result<(), String> {
        self.expect(1, 1)?;
        if let Some((input, output)) = names {
            self.named(false, "input", input)?;
            self.named(true, "cloud_logits", output)?;
        }
        self.logits_rank(0)
    }

    /// The declared size of dimension 1 of output `index` (the class count of a logits output).
    pub fn classes(&self, index: usize) -> Option<usize> {
        self.outputs
            .get(index)
            .and_then(|s| s.shape.get(1).copied().flatten())
    }

    /// Checks a batch against the declared inputs (given in graph order): each must have the
    /// declared rank and sizes (dynamic dimensions accept any), none may be empty, and all must
    /// share the batch size.
    pub fn check_inputs(&self, inputs: &[ArrayViewD<'_, f32>]) -> Result<(), InputMismatch> {
        let batch = inputs.first().and_then(|x| x.shape().first().copied());
        for (i, spec) in self.inputs.iter().enumerate() {
            let x = inputs.get(i);
            let fits = x.is_some_and(|x| {
                spec.shape.len() == x.ndim()
                    && spec
                        .shape
                        .iter()
                        .zip(x.shape())
                        .all(|(d, &n)| d.is_none_or(|d| d == n))
                    && x.shape().first().copied() == batch
                    && !x.is_empty()
            });
            if !fits {
                return Err(InputMismatch {
                    input: spec.name.clone(),
                    expected: spec.to_string(),
                    got: x.map(|x| x.shape().to_vec()).unwrap_or_default(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};

    fn spec(name: &str, shape: &[Option<usize>]) -> TensorSpec {
        TensorSpec {
            name: name.into(),
            is_f32: true,
            shape: shape.to_vec(),
        }
    }

    fn main_sig() -> ModelSignature {
        ModelSignature {
            inputs: vec![spec("input", &[None, Some(1), Some(8), Some(8)])],
            outputs: vec![
                spec("features", &[None, Some(4), Some(2), Some(2)]),
                spec("logits", &[None, Some(6)]),
            ],
        }
    }

    #[test]
    fn main_outputs_are_found_by_name_or_position() {
        let s = main_sig();
        assert_eq!(
            s.main_layout(None).unwrap(),
            MainLayout {
                logits: 1,
                features: 0
            }
        );
        assert_eq!(s.main_layout(Some(&Tensors::default())).unwrap().logits, 1);
        assert_eq!(s.classes(1), Some(6));
        let bad = Tensors {
            main_logits: "scores".into(),
            ..Tensors::default()
        };
        let e = s.main_layout(Some(&bad)).unwrap_err();
        assert!(e.contains("tensors.main_logits = \"scores\""), "{e}");
        assert!(e.contains("[\"features\", \"logits\"]"), "{e}");
    }

    #[test]
    fn wrong_counts_types_and_ranks_are_refused() {
        let mut s = main_sig();
        assert!(s.classifier_layout(None).unwrap_err().contains("1 output"));
        s.outputs[1].is_f32 = false;
        assert!(s.main_layout(None).unwrap_err().contains("not float32"));
        let mut s = main_sig();
        s.outputs[1].shape = vec![None, Some(6), Some(1)];
        assert!(s.main_layout(None).unwrap_err().contains("[N, classes]"));
        let mut s = main_sig();
        s.inputs[0].shape = vec![None];
        assert!(s.main_layout(None).unwrap_err().contains("batch dimension"));
    }

    #[test]
    fn inputs_must_fit_the_declared_shape_and_share_the_batch() {
        let s = ModelSignature {
            inputs: vec![spec("a", &[None, Some(3)]), spec("b", &[None, Some(2)])],
            outputs: vec![],
        };
        let a = ArrayD::<f32>::zeros(IxDyn(&[4, 3]));
        let b = ArrayD::<f32>::zeros(IxDyn(&[4, 2]));
        let b5 = ArrayD::<f32>::zeros(IxDyn(&[5, 2]));
        let empty = ArrayD::<f32>::zeros(IxDyn(&[0, 3]));
        assert!(s.check_inputs(&[a.view(), b.view()]).is_ok());
        let e = s.check_inputs(&[a.view(), b5.view()]).unwrap_err();
        assert_eq!((e.input.as_str(), e.got.as_slice()), ("b", &[5, 2][..]));
        assert_eq!(
            s.check_inputs(&[b.view(), b.view()]).unwrap_err().input,
            "a"
        );
        assert_eq!(s.check_inputs(&[a.view()]).unwrap_err().input, "b");
        assert_eq!(
            s.check_inputs(&[empty.view(), b.view()])
                .unwrap_err()
                .expected,
            "[N, 3]"
        );
    }
}
