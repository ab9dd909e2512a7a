//! One ONNX model as an optimised tract plan with a symbolic batch dimension.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use meanet_core::network::Network;
use meanet_core::signature::{ModelSignature, TensorSpec};
use ndarray::{ArrayD, ArrayViewD};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::{DimLike, Factoid};

use crate::TractError;

type Plan = Arc<TypedRunnableModel>;

/// How many batch sizes get a plan of their own; other sizes run on the symbolic plan.
pub const PLANS_PER_MODEL: usize = 8;

/// A loaded model that runs f32 batches of any size.
///
/// One plan, typed and optimised with the batch dimension as the symbol `N`, runs every batch
/// size. The first [`PLANS_PER_MODEL`] batch sizes a model sees also get a plan optimised for
/// that size (tract picks faster kernels for known shapes: about 1.3x to 1.5x on the reference
/// main block), built on first use; later sizes use the symbolic plan. So a fixed batch size,
/// the common case on an edge device, always runs its own plan, and memory stays bounded
/// whatever sizes a server sees.
pub struct TractModel {
    plan: Plan,
    plans: Vec<(usize, Plan)>,
    /// The graph as read, with the input types fixed, for building per-size plans.
    source: InferenceModel,
    path: PathBuf,
    signature: ModelSignature,
}

impl fmt::Debug for TractModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TractModel")
            .field("path", &self.path)
            .field("signature", &self.signature)
            .finish()
    }
}

/// A panic inside tract (a malformed graph can trigger one) as an error.
fn panic_message(p: Box<dyn std::any::Any + Send>) -> BoxError {
    let msg = p
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("tract panicked: {msg}").into()
}

type BoxError = meanet_core::BoxError;

/// Reads the file, fixes each input's type to f32 with its declared sizes (the first
/// dimension, and any other the file leaves open, become symbols), then types and optimises
/// the graph into one plan. Returns the plan, the graph before optimisation and the signature
/// as the file declares it.
fn build(path: &Path) -> Result<(Plan, InferenceModel, ModelSignature), BoxError> {
    let mut model = tract_onnx::onnx().model_for_path(path)?;
    let batch = model.symbols.sym("N");
    let mut inputs = Vec::new();
    for i in 0..model.inputs.len() {
        let outlet = model.input_outlets()?[i];
        let name = model.node(outlet.node).name.clone();
        let fact = model.input_fact(i)?.clone();
        let is_f32 = fact.datum_type.concretize() == Some(DatumType::F32);
        let rank = fact
            .shape
            .rank()
            .concretize()
            .and_then(|r| usize::try_from(r).ok())
            .ok_or_else(|| format!("input {name:?} declares no shape"))?;
        let declared: Vec<Option<usize>> = (0..rank)
            .map(|k| {
                fact.shape
                    .dim(k)
                    .and_then(|d| d.concretize())
                    .and_then(|d| d.to_usize().ok())
            })
            .collect();
        let dims: TVec<TDim> = declared
            .iter()
            .enumerate()
            .map(|(k, d)| match (k, d) {
                (_, Some(d)) => TDim::from(*d),
                (0, None) => TDim::from(batch.clone()),
                (k, None) => TDim::from(model.symbols.sym(&format!("{name}_{k}"))),
            })
            .collect();
        if is_f32 {
            model.set_input_fact(i, InferenceFact::dt_shape(DatumType::F32, dims))?;
        }
        inputs.push(TensorSpec {
            name,
            is_f32,
            shape: declared,
        });
    }
    if inputs.iter().any(|t| !t.is_f32) {
        // Leave typing to the signature check, which names the tensor.
        return Ok((
            Arc::new(TypedModel::default()).into_runnable()?,
            model,
            ModelSignature {
                inputs,
                outputs: Vec::new(),
            },
        ));
    }
    let typed = model.clone().into_optimized()?;
    let mut outputs = Vec::new();
    for (i, outlet) in typed.output_outlets()?.iter().enumerate() {
        let fact = typed.output_fact(i)?;
        let name = typed
            .outlet_label(*outlet)
            .map_or_else(|| typed.node(outlet.node).name.clone(), str::to_string);
        outputs.push(TensorSpec {
            name,
            is_f32: fact.datum_type == DatumType::F32,
            shape: fact.shape.iter().map(|d| d.to_usize().ok()).collect(),
        });
    }
    Ok((
        typed.into_runnable()?,
        model,
        ModelSignature { inputs, outputs },
    ))
}

/// A plan for batches of exactly `n`: `source` with every input's first dimension set to `n`.
fn build_for(source: &InferenceModel, n: usize) -> Result<Plan, BoxError> {
    let mut model = source.clone();
    for i in 0..model.inputs.len() {
        let fact = model.input_fact(i)?.clone();
        let rank = fact.shape.rank().concretize().unwrap_or(0);
        let mut dims: TVec<TDim> = (0..rank)
            .map(|k| {
                usize::try_from(k)
                    .ok()
                    .and_then(|k| fact.shape.dim(k))
                    .and_then(|d| d.concretize())
                    .unwrap_or_default()
            })
            .collect();
        if let Some(d) = dims.first_mut() {
            *d = TDim::from(n);
        }
        model.set_input_fact(i, InferenceFact::dt_shape(DatumType::F32, dims))?;
    }
    Ok(model.into_optimized()?.into_runnable()?)
}

impl TractModel {
    /// Loads the model at `path` and optimises it for f32 batches of any size.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, TractError> {
        let path = path.as_ref().to_path_buf();
        let load = |source| TractError::Load {
            path: path.clone(),
            source,
        };
        if !path.is_file() {
            return Err(load("no such file".into()));
        }
        let (plan, source, signature) = catch_unwind(AssertUnwindSafe(|| build(&path)))
            .map_err(panic_message)
            .and_then(|r| r)
            .map_err(load)?;
        Ok(TractModel {
            plan,
            plans: Vec::new(),
            source,
            path,
            signature,
        })
    }

    /// The plan for batches of `n`: its own if it has one or may get one, else the symbolic
    /// plan (also when building one fails: the symbolic plan is known to work).
    fn plan_for(&mut self, n: usize) -> Plan {
        if let Some((_, p)) = self.plans.iter().find(|(m, _)| *m == n) {
            return Arc::clone(p);
        }
        if self.plans.len() >= PLANS_PER_MODEL {
            return Arc::clone(&self.plan);
        }
        let built = catch_unwind(AssertUnwindSafe(|| build_for(&self.source, n)))
            .ok()
            .and_then(Result::ok);
        let plan = built.unwrap_or_else(|| Arc::clone(&self.plan));
        self.plans.push((n, Arc::clone(&plan)));
        plan
    }

    /// The batch sizes that have a plan of their own, in the order they were first seen.
    pub fn planned_batch_sizes(&self) -> Vec<usize> {
        self.plans.iter().map(|(n, _)| *n).collect()
    }
}

impl Network for TractModel {
    fn path(&self) -> &Path {
        &self.path
    }

    /// Inputs and outputs as declared in the file (`None` for dimensions it leaves open).
    fn signature(&self) -> &ModelSignature {
        &self.signature
    }

    /// Runs one batch on the plan for its size (inputs already checked by core against the
    /// signature). A panic inside tract comes back as an error.
    fn run(&mut self, inputs: &[ArrayViewD<'_, f32>]) -> Result<Vec<ArrayD<f32>>, BoxError> {
        let values: TVec<TValue> = inputs
            .iter()
            .map(|x| Tensor::from(x.to_owned()).into())
            .collect();
        let n = inputs
            .first()
            .and_then(|x| x.shape().first().copied())
            .ok_or("no input batch")?;
        let plan = self.plan_for(n);
        let outputs = catch_unwind(AssertUnwindSafe(|| plan.run(values)))
            .map_err(panic_message)
            .and_then(|r| r.map_err(BoxError::from))?;
        let mut result = Vec::with_capacity(outputs.len());
        for (spec, value) in self.signature.outputs.iter().zip(outputs) {
            let array = value
                .into_tensor()
                .into_plain_array::<f32>()
                .map_err(|e| format!("output {:?}: {e}", spec.name))?;
            result.push(array);
        }
        Ok(result)
    }
}
