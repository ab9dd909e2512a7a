//! Shape inference and per-layer work counting for a batch size.

use std::collections::{BTreeSet, HashMap};

use meanet_core::{Bytes, Macs};
use serde::Serialize;

use crate::EnergyError;
use crate::graph::{DType, Graph, Node};

mod ops;

pub use ops::supported_ops;

/// Arithmetic precision a layer runs at, which decides its price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit float (and anything not listed below).
    Fp32,
    /// 16-bit float (fp16, bf16).
    Fp16,
    /// 8-bit integer.
    Int8,
}

impl Precision {
    fn of(d: DType) -> Self {
        match d {
            DType::F16 => Precision::Fp16,
            DType::I8 => Precision::Int8,
            _ => Precision::Fp32,
        }
    }
}

/// The work of one node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerCost {
    /// Node name (or `OpType_index` when unnamed).
    pub name: String,
    /// ONNX operator type.
    pub op_type: String,
    /// Shape of the first output.
    pub output_shape: Vec<usize>,
    /// Multiply-accumulates (Conv, ConvTranspose, Gemm, MatMul).
    pub macs: u64,
    /// Other arithmetic operations (normalisation, activations, elementwise, pooling, softmax).
    pub flops: u64,
    /// Parameter elements (initializers this node reads).
    pub params: u64,
    /// Bytes of those parameters.
    pub weight_bytes: u64,
    /// Bytes of activations read (non-initializer inputs).
    pub activation_read_bytes: u64,
    /// Bytes of activations written (outputs).
    pub activation_write_bytes: u64,
    /// Arithmetic precision.
    pub precision: Precision,
}

/// Work of a whole graph at one batch size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    /// The model (path or `<bytes>`).
    pub origin: String,
    /// Batch size the shapes were inferred for.
    pub batch: usize,
    /// Counted layers, in graph order.
    pub layers: Vec<LayerCost>,
    /// Operator types the profiler cannot count (sorted, unique).
    pub unsupported_ops: Vec<String>,
    /// Nodes not counted, with the reason (unsupported operator or unknown input shape).
    pub uncounted: Vec<(String, String)>,
}

impl Profile {
    /// Total MACs for the batch.
    pub fn total_macs(&self) -> Macs {
        Macs(sum(self.layers.iter().map(|l| l.macs)))
    }

    /// Total MACs per sample.
    pub fn macs_per_sample(&self) -> Macs {
        Macs(self.total_macs().0 / self.batch.max(1) as u64)
    }

    /// Total other FLOPs for the batch.
    pub fn total_flops(&self) -> u64 {
        sum(self.layers.iter().map(|l| l.flops))
    }

    /// Parameter elements (each initializer counted once, even if read by several nodes).
    pub fn total_params(&self) -> u64 {
        sum(self.layers.iter().map(|l| l.params))
    }

    /// Weight bytes.
    pub fn weight_bytes(&self) -> Bytes {
        Bytes(sum(self.layers.iter().map(|l| l.weight_bytes)))
    }

    /// Activation bytes read and written, for the batch.
    pub fn activation_bytes(&self) -> Bytes {
        Bytes(sum(self.layers.iter().map(|l| {
            l.activation_read_bytes
                .saturating_add(l.activation_write_bytes)
        })))
    }

    /// Whether every node was counted.
    pub fn is_complete(&self) -> bool {
        self.uncounted.is_empty()
    }
}

#[derive(Debug, Clone)]
struct Tensor {
    shape: Vec<usize>,
    dtype: DType,
    ints: Option<Vec<i64>>,
    param: bool,
}

/// Element count; saturates instead of overflowing on absurd declared shapes.
fn numel(s: &[usize]) -> u64 {
    s.iter().fold(1u64, |a, &d| a.saturating_mul(d as u64))
}

/// A saturating sum.
fn sum(values: impl IntoIterator<Item = u64>) -> u64 {
    values.into_iter().fold(0, u64::saturating_add)
}

/// `a * b * c` saturating.
fn mul3(a: usize, b: usize, c: usize) -> u64 {
    (a as u64).saturating_mul(b as u64).saturating_mul(c as u64)
}

impl Graph {
    /// Infers every tensor shape for `batch` samples and counts the work of each node.
    pub fn profile(&self, batch: usize) -> Result<Profile, EnergyError> {
        if batch == 0 {
            return Err(EnergyError::ZeroBatch);
        }
        let mut env: HashMap<&str, Tensor> = HashMap::new();
        for (name, init) in &self.initializers {
            env.insert(
                name,
                Tensor {
                    shape: init.dims.clone(),
                    dtype: init.dtype,
                    ints: init.ints.clone(),
                    param: true,
                },
            );
        }
        for input in &self.inputs {
            let mut shape = Vec::with_capacity(input.dims.len());
            for (i, d) in input.dims.iter().enumerate() {
                match (i, d) {
                    (_, Some(d)) => shape.push(*d),
                    (0, None) => shape.push(batch),
                    (_, None) => {
                        return Err(EnergyError::InputShape {
                            input: input.name.clone(),
                            reason: format!("dimension {i} is symbolic; only the batch may be"),
                        });
                    }
                }
            }
            env.insert(
                &input.name,
                Tensor {
                    shape,
                    dtype: input.dtype,
                    ints: None,
                    param: false,
                },
            );
        }

        let mut profile = Profile {
            origin: self.origin.clone(),
            batch,
            layers: Vec::with_capacity(self.nodes.len()),
            unsupported_ops: Vec::new(),
            uncounted: Vec::new(),
        };
        let mut unsupported = BTreeSet::new();
        let mut counted_params: BTreeSet<&str> = BTreeSet::new();
        for node in &self.nodes {
            let ins: Vec<Option<&Tensor>> = node
                .inputs
                .iter()
                .map(|n| {
                    if n.is_empty() {
                        None
                    } else {
                        env.get(n.as_str())
                    }
                })
                .collect();
            if let Some(missing) = node
                .inputs
                .iter()
                .zip(&ins)
                .find(|(n, t)| !n.is_empty() && t.is_none())
            {
                profile.uncounted.push((
                    node.name.clone(),
                    format!("input {:?} has an unknown shape", missing.0),
                ));
                continue;
            }
            // A dequantized weight is the weight, at its stored width, for the node that reads
            // it: no layer of its own, and its bytes count once, there.
            if node.op == "DequantizeLinear"
                && let Some(Some(w)) = ins.first()
                && w.param
                && let Some(name) = node.outputs.first()
            {
                let t = Tensor {
                    shape: w.shape.clone(),
                    dtype: w.dtype,
                    ints: None,
                    param: true,
                };
                env.insert(name, t);
                continue;
            }
            let result = match infer(node, &ins) {
                Ok(r) => r,
                Err(Infer::Unsupported) => {
                    unsupported.insert(node.op.clone());
                    profile.uncounted.push((
                        node.name.clone(),
                        format!("unsupported operator {}", node.op),
                    ));
                    continue;
                }
                Err(Infer::Bad(reason)) => {
                    profile.uncounted.push((node.name.clone(), reason));
                    continue;
                }
            };
            let dtype = ins
                .iter()
                .flatten()
                .find(|t| !t.param)
                .copied()
                .or(ins.first().copied().flatten())
                .map_or(DType::F32, |t| t.dtype);
            let (mut params, mut weight_bytes, mut read) = (0, 0, 0);
            for (name, t) in node.inputs.iter().zip(&ins) {
                let Some(t) = t else { continue };
                let bytes = numel(&t.shape).saturating_mul(t.dtype.size());
                if t.param {
                    if counted_params.insert(name) {
                        params = sum([params, numel(&t.shape)]);
                        weight_bytes = sum([weight_bytes, bytes]);
                    }
                } else {
                    read = sum([read, bytes]);
                }
            }
            let out_dtype = result.dtype.unwrap_or(dtype);
            let written = sum(result
                .outputs
                .iter()
                .map(|s| numel(s).saturating_mul(out_dtype.size())));
            profile.layers.push(LayerCost {
                name: node.name.clone(),
                op_type: node.op.clone(),
                output_shape: result.outputs.first().cloned().unwrap_or_default(),
                macs: result.macs,
                flops: result.flops,
                params,
                weight_bytes,
                activation_read_bytes: read,
                activation_write_bytes: written,
                precision: Precision::of(dtype),
            });
            for (k, (name, shape)) in node.outputs.iter().zip(result.outputs).enumerate() {
                let ints = if k == 0 { result.ints.clone() } else { None };
                env.insert(
                    name,
                    Tensor {
                        shape,
                        dtype: out_dtype,
                        ints,
                        param: result.constant,
                    },
                );
            }
        }
        profile.unsupported_ops = unsupported.into_iter().collect();
        Ok(profile)
    }
}

struct Inferred {
    outputs: Vec<Vec<usize>>,
    macs: u64,
    flops: u64,
    dtype: Option<DType>,
    ints: Option<Vec<i64>>,
    constant: bool,
}

enum Infer {
    Unsupported,
    Bad(String),
}

fn out(shape: Vec<usize>, macs: u64, flops: u64) -> Result<Inferred, Infer> {
    Ok(Inferred {
        outputs: vec![shape],
        macs,
        flops,
        dtype: None,
        ints: None,
        constant: false,
    })
}

fn bad<T>(node: &Node, why: impl std::fmt::Display) -> Result<T, Infer> {
    Err(Infer::Bad(format!("{} {}: {why}", node.op, node.name)))
}

fn broadcast(node: &Node, a: &[usize], b: &[usize]) -> Result<Vec<usize>, Infer> {
    let n = a.len().max(b.len());
    let mut s = vec![0; n];
    for i in 0..n {
        let x = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let y = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        s[i] = match (x, y) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return bad(node, format!("cannot broadcast {a:?} with {b:?}")),
        };
    }
    Ok(s)
}

/// Output spatial size of a sliding window (Conv, pooling).
/// A dimension as a wide signed integer (dimensions fit in i128 on every platform).
fn wide(v: usize) -> i128 {
    i128::try_from(v).unwrap_or(i128::MAX)
}

fn window(node: &Node, x: &[usize], kernel: &[usize]) -> Result<Vec<usize>, Infer> {
    let sp = x.len().saturating_sub(2);
    if kernel.len() != sp {
        return bad(node, format!("kernel {kernel:?} does not fit input {x:?}"));
    }
    let get = |name: &str, default: i64, len: usize| -> Vec<i64> {
        node.ints(name)
            .map_or_else(|| vec![default; len], <[i64]>::to_vec)
    };
    let strides = get("strides", 1, sp);
    let dil = get("dilations", 1, sp);
    let pads = get("pads", 0, 2 * sp);
    let auto = node.string("auto_pad").unwrap_or("NOTSET");
    let ceil = node.int("ceil_mode", 0) == 1;
    if strides.len() != sp || dil.len() != sp || pads.len() != 2 * sp {
        return bad(node, "strides/dilations/pads do not match the spatial rank");
    }
    let mut o = Vec::with_capacity(sp);
    for i in 0..sp {
        // Attribute values come from the file: compute in i128 with checked operations.
        let (inp, k, s, d) = (
            wide(x[i + 2]),
            wide(kernel[i]),
            i128::from(strides[i].max(1)),
            i128::from(dil[i].max(1)),
        );
        let (lo, hi) = (i128::from(pads[i]), i128::from(pads[i + sp]));
        let v = (|| {
            let eff = d.checked_mul(k.checked_sub(1)?)?.checked_add(1)?;
            match auto {
                "SAME_UPPER" | "SAME_LOWER" => inp.checked_add(s - 1)?.checked_div(s),
                "VALID" => inp.checked_sub(eff)?.checked_div(s)?.checked_add(1),
                _ => {
                    let span = inp.checked_add(lo)?.checked_add(hi)?.checked_sub(eff)?;
                    let span = if ceil { span.checked_add(s - 1)? } else { span };
                    span.checked_div(s)?.checked_add(1)
                }
            }
        })();
        match v.and_then(|v| usize::try_from(v).ok()).filter(|&v| v > 0) {
            Some(v) => o.push(v),
            None => return bad(node, format!("window leaves no output for input {x:?}")),
        }
    }
    Ok(o)
}

/// Input `i` of `node`, or an error naming it.
fn input<'a>(node: &Node, ins: &[Option<&'a Tensor>], i: usize) -> Result<&'a Tensor, Infer> {
    ins.get(i)
        .copied()
        .flatten()
        .ok_or_else(|| Infer::Bad(format!("{} {}: missing input {i}", node.op, node.name)))
}

/// Output shaped like input 0, `flops_per` FLOPs per element, no MACs.
fn same(node: &Node, ins: &[Option<&Tensor>], flops_per: u64) -> Result<Inferred, Infer> {
    let s = input(node, ins, 0)?.shape.clone();
    let n = numel(&s);
    out(s, 0, n.saturating_mul(flops_per))
}

/// Infers `node` with the rule its operator registered ([`ops::register_all_ops`]).
fn infer(node: &Node, ins: &[Option<&Tensor>]) -> Result<Inferred, Infer> {
    match ops::rule(&node.op) {
        Some(rule) => rule(node, ins),
        None => Err(Infer::Unsupported),
    }
}

#[cfg(test)]
mod tests;
