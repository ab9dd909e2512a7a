//! Shape inference and per-layer work counting for a batch size.

use std::collections::{BTreeSet, HashMap};

use meanet_core::{Bytes, Macs};
use serde::Serialize;

use crate::EnergyError;
use crate::graph::{Attr, DType, Graph, Node};

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

fn infer(node: &Node, ins: &[Option<&Tensor>]) -> Result<Inferred, Infer> {
    let x = |i: usize| -> Result<&Tensor, Infer> {
        ins.get(i)
            .copied()
            .flatten()
            .ok_or_else(|| Infer::Bad(format!("{} {}: missing input {i}", node.op, node.name)))
    };
    let same = |flops_per: u64| -> Result<Inferred, Infer> {
        let s = x(0)?.shape.clone();
        let n = numel(&s);
        out(s, 0, n.saturating_mul(flops_per))
    };
    match node.op.as_str() {
        "Conv" => {
            let (xi, w) = (x(0)?, x(1)?);
            if xi.shape.len() < 3 || w.shape.len() != xi.shape.len() {
                return bad(
                    node,
                    format!("input {:?} and weight {:?} do not fit", xi.shape, w.shape),
                );
            }
            let group = usize::try_from(node.int("group", 1).max(1)).unwrap_or(usize::MAX);
            let kernel = w.shape[2..].to_vec();
            if w.shape[1].checked_mul(group) != Some(xi.shape[1]) {
                return bad(
                    node,
                    format!(
                        "{} input channels but weight {:?} with group {group}",
                        xi.shape[1], w.shape
                    ),
                );
            }
            let spatial = window(node, &xi.shape, &kernel)?;
            let mut shape = vec![xi.shape[0], w.shape[0]];
            shape.extend(&spatial);
            let per_out = numel(&w.shape[1..]); // (C/group) * k...
            let outputs = numel(&shape);
            let bias = if ins.get(2).copied().flatten().is_some() {
                outputs
            } else {
                0
            };
            out(shape, outputs.saturating_mul(per_out), bias)
        }
        "ConvTranspose" => {
            let (xi, w) = (x(0)?, x(1)?);
            if xi.shape.len() < 3 || w.shape.len() != xi.shape.len() {
                return bad(node, "input and weight ranks differ");
            }
            let group = usize::try_from(node.int("group", 1).max(1)).unwrap_or(usize::MAX);
            let sp = xi.shape.len() - 2;
            let get = |n: &str, d: i64, l: usize| {
                node.ints(n).map_or_else(|| vec![d; l], <[i64]>::to_vec)
            };
            let (s, d, p, op) = (
                get("strides", 1, sp),
                get("dilations", 1, sp),
                get("pads", 0, 2 * sp),
                get("output_padding", 0, sp),
            );
            if s.len() != sp || d.len() != sp || p.len() != 2 * sp || op.len() != sp {
                return bad(
                    node,
                    "strides/dilations/pads/output_padding do not match the spatial rank",
                );
            }
            let Some(channels) = w.shape[1].checked_mul(group) else {
                return bad(node, format!("group {group} overflows the channel count"));
            };
            let mut shape = vec![xi.shape[0], channels];
            for i in 0..sp {
                // Attribute values come from the file: compute in i128 with checked operations.
                let v = (|| {
                    wide(xi.shape[i + 2])
                        .checked_sub(1)?
                        .checked_mul(i128::from(s[i]))?
                        .checked_add(i128::from(op[i]))?
                        .checked_add(
                            wide(w.shape[i + 2])
                                .checked_sub(1)?
                                .checked_mul(i128::from(d[i]))?,
                        )?
                        .checked_add(1)?
                        .checked_sub(i128::from(p[i]))?
                        .checked_sub(i128::from(p[i + sp]))
                })();
                match v.and_then(|v| usize::try_from(v).ok()).filter(|&v| v > 0) {
                    Some(v) => shape.push(v),
                    None => return bad(node, "no output"),
                }
            }
            let macs = numel(&xi.shape).saturating_mul(numel(&w.shape[1..]));
            out(shape, macs, 0)
        }
        "Gemm" => {
            let (a, b) = (x(0)?, x(1)?);
            if a.shape.len() != 2 || b.shape.len() != 2 {
                return bad(node, "Gemm needs 2-D operands");
            }
            let (m, k) = if node.int("transA", 0) == 1 {
                (a.shape[1], a.shape[0])
            } else {
                (a.shape[0], a.shape[1])
            };
            let (k2, n) = if node.int("transB", 0) == 1 {
                (b.shape[1], b.shape[0])
            } else {
                (b.shape[0], b.shape[1])
            };
            if k != k2 {
                return bad(node, format!("inner dimensions {k} and {k2} differ"));
            }
            let bias = if ins.get(2).copied().flatten().is_some() {
                mul3(m, n, 1)
            } else {
                0
            };
            out(vec![m, n], mul3(m, k, n), bias)
        }
        "MatMul" => {
            let (a, b) = (&x(0)?.shape, &x(1)?.shape);
            if a.is_empty() || b.is_empty() {
                return bad(node, "scalar operand");
            }
            let a2 = if a.len() == 1 {
                vec![1, a[0]]
            } else {
                a.clone()
            };
            let b2 = if b.len() == 1 {
                vec![b[0], 1]
            } else {
                b.clone()
            };
            let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
            let (k2, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
            if k != k2 {
                return bad(node, format!("inner dimensions {k} and {k2} differ"));
            }
            let batch = broadcast(node, &a2[..a2.len() - 2], &b2[..b2.len() - 2])?;
            let mut shape = batch.clone();
            if a.len() > 1 {
                shape.push(m);
            }
            if b.len() > 1 {
                shape.push(n);
            }
            out(shape, numel(&batch).saturating_mul(mul3(m, k, n)), 0)
        }
        "BatchNormalization" | "InstanceNormalization" => same(2),
        "LayerNormalization" => same(5),
        "Relu" | "LeakyRelu" | "PRelu" | "Clip" | "Sigmoid" | "Tanh" | "HardSigmoid"
        | "HardSwish" | "Elu" | "Selu" | "Gelu" | "Erf" | "Exp" | "Log" | "Sqrt" | "Neg"
        | "Abs" | "Reciprocal" | "Softplus" | "Sin" | "Cos" | "Floor" | "Ceil" | "Round"
        | "Sign" | "Not" => same(1),
        "Softmax" | "LogSoftmax" => same(3),
        "Identity" | "Dropout" | "Cast" => {
            let t = x(0)?;
            let dtype = if node.op == "Cast" {
                match node.int("to", 1) {
                    1 => Some(DType::F32),
                    10 | 16 => Some(DType::F16),
                    2 | 3 => Some(DType::I8),
                    7 => Some(DType::I64),
                    6 => Some(DType::I32),
                    _ => Some(DType::Other),
                }
            } else {
                None
            };
            Ok(Inferred {
                outputs: vec![t.shape.clone()],
                macs: 0,
                flops: 0,
                dtype,
                ints: t.ints.clone(),
                constant: t.param,
            })
        }
        "Add" | "Sub" | "Mul" | "Div" | "Pow" | "Max" | "Min" | "Sum" | "Mean" | "Equal"
        | "Less" | "Greater" | "And" | "Or" | "Where" => {
            let mut shape = x(0)?.shape.clone();
            for t in ins.iter().skip(1).flatten() {
                shape = broadcast(node, &shape, &t.shape)?;
            }
            let terms = ins.iter().flatten().count().saturating_sub(1).max(1) as u64;
            let n = numel(&shape);
            out(shape, 0, n.saturating_mul(terms))
        }
        "MaxPool" | "AveragePool" | "LpPool" => {
            let xi = x(0)?;
            let kernel: Vec<usize> = match node.ints("kernel_shape") {
                Some(k) => k.iter().map(|&v| v.max(1) as usize).collect(),
                None => return bad(node, "missing kernel_shape"),
            };
            let spatial = window(node, &xi.shape, &kernel)?;
            let mut shape = xi.shape[..2].to_vec();
            shape.extend(spatial);
            let n = numel(&shape);
            out(shape, 0, n.saturating_mul(numel(&kernel)))
        }
        "GlobalAveragePool" | "GlobalMaxPool" => {
            let xi = x(0)?;
            if xi.shape.len() < 3 {
                return bad(node, "needs a spatial input");
            }
            let mut shape = xi.shape[..2].to_vec();
            shape.extend(std::iter::repeat_n(1, xi.shape.len() - 2));
            out(shape, 0, numel(&xi.shape))
        }
        "ReduceMean" | "ReduceSum" | "ReduceMax" => {
            let xi = x(0)?;
            let rank = xi.shape.len() as i64;
            let axes: Vec<i64> = match node
                .ints("axes")
                .map(<[i64]>::to_vec)
                .or_else(|| ins.get(1).copied().flatten().and_then(|t| t.ints.clone()))
            {
                Some(a) => a
                    .iter()
                    .map(|&a| if a < 0 { a + rank } else { a })
                    .collect(),
                None => (0..rank).collect(),
            };
            let keep = node.int("keepdims", 1) == 1;
            let shape: Vec<usize> = xi
                .shape
                .iter()
                .enumerate()
                .filter_map(|(i, &d)| {
                    if axes.contains(&(i as i64)) {
                        keep.then_some(1)
                    } else {
                        Some(d)
                    }
                })
                .collect();
            out(shape, 0, numel(&xi.shape))
        }
        "Flatten" => {
            let s = &x(0)?.shape;
            let rank = s.len() as i64;
            let axis = node.int("axis", 1);
            let axis = if axis < 0 { axis + rank } else { axis }.clamp(0, rank) as usize;
            out(
                vec![numel(&s[..axis]) as usize, numel(&s[axis..]) as usize],
                0,
                0,
            )
        }
        "Reshape" => {
            let s = &x(0)?.shape;
            let Some(target) = x(1)?.ints.clone() else {
                return bad(node, "target shape is not a constant");
            };
            let allow_zero = node.int("allowzero", 0) == 1;
            let mut shape: Vec<i64> = target
                .iter()
                .enumerate()
                .map(|(i, &d)| {
                    if d == 0 && !allow_zero {
                        s.get(i).map_or(0, |&v| v as i64)
                    } else {
                        d
                    }
                })
                .collect();
            // Target values come from the file: compute in i128 with checked products.
            fn product(mut it: impl Iterator<Item = i64>) -> Option<i128> {
                it.try_fold(1i128, |acc, d| acc.checked_mul(i128::from(d)))
            }
            let total = i128::from(numel(s));
            let Some(known) = product(shape.iter().copied().filter(|&d| d != -1)) else {
                return bad(node, format!("target shape {target:?} overflows"));
            };
            if let Some(p) = shape.iter().position(|&d| d == -1) {
                if known == 0 {
                    return bad(node, "cannot infer -1 next to a zero dimension");
                }
                shape[p] = i64::try_from(total / known).unwrap_or(-1);
            }
            let fits =
                shape.iter().all(|&d| d >= 0) && product(shape.iter().copied()) == Some(total);
            if !fits {
                return bad(node, format!("cannot reshape {s:?} to {target:?}"));
            }
            let shape = shape
                .into_iter()
                .map(|d| usize::try_from(d).unwrap_or(usize::MAX))
                .collect();
            out(shape, 0, 0)
        }
        "Concat" => {
            let first = &x(0)?.shape;
            let rank = first.len() as i64;
            let axis = node.int("axis", 0);
            let axis = (if axis < 0 { axis + rank } else { axis }) as usize;
            if axis >= first.len() {
                return bad(node, "axis out of range");
            }
            let mut shape = first.clone();
            shape[axis] = 0;
            for t in ins.iter().flatten() {
                if t.shape.len() != first.len()
                    || t.shape
                        .iter()
                        .enumerate()
                        .any(|(i, &d)| i != axis && d != first[i])
                {
                    return bad(
                        node,
                        format!(
                            "cannot concatenate {:?} with {first:?} on axis {axis}",
                            t.shape
                        ),
                    );
                }
                shape[axis] += t.shape[axis];
            }
            out(shape, 0, 0)
        }
        "Transpose" => {
            let s = &x(0)?.shape;
            let perm: Vec<usize> = node.ints("perm").map_or_else(
                || (0..s.len()).rev().collect(),
                |p| p.iter().map(|&v| v as usize).collect(),
            );
            if perm.len() != s.len() || perm.iter().any(|&p| p >= s.len()) {
                return bad(node, "bad perm");
            }
            out(perm.iter().map(|&p| s[p]).collect(), 0, 0)
        }
        "Squeeze" | "Unsqueeze" => {
            let s = &x(0)?.shape;
            let axes = node
                .ints("axes")
                .map(<[i64]>::to_vec)
                .or_else(|| ins.get(1).copied().flatten().and_then(|t| t.ints.clone()));
            let mut shape = s.clone();
            if node.op == "Squeeze" {
                match axes {
                    Some(a) => {
                        let rank = s.len() as i64;
                        let mut a: Vec<usize> = a
                            .iter()
                            .map(|&v| (if v < 0 { v + rank } else { v }) as usize)
                            .collect();
                        a.sort_unstable();
                        for &ax in a.iter().rev() {
                            if ax < shape.len() {
                                shape.remove(ax);
                            }
                        }
                    }
                    None => shape.retain(|&d| d != 1),
                }
            } else {
                let Some(a) = axes else {
                    return bad(node, "missing axes");
                };
                let rank = (s.len() + a.len()) as i64;
                let mut a: Vec<usize> = a
                    .iter()
                    .map(|&v| (if v < 0 { v + rank } else { v }) as usize)
                    .collect();
                a.sort_unstable();
                for ax in a {
                    if ax > shape.len() {
                        return bad(node, "axis out of range");
                    }
                    shape.insert(ax, 1);
                }
            }
            out(shape, 0, 0)
        }
        "Constant" => match node.attrs.get("value") {
            Some(Attr::Tensor(t)) => Ok(Inferred {
                outputs: vec![t.dims.clone()],
                macs: 0,
                flops: 0,
                dtype: Some(t.dtype),
                ints: t.ints.clone(),
                constant: true,
            }),
            _ => bad(node, "only tensor-valued constants are supported"),
        },
        _ => Err(Infer::Unsupported),
    }
}

#[cfg(test)]
mod tests;
