//! The analysis of a graph: which nodes are quantized, which tensors get a QDQ pair, which
//! activations fold into the operator before them, and what stays f32 and why.

use std::collections::{BTreeMap, HashMap, HashSet};

use onnx_rs::ast::{DataType, Model, TensorProto};

use crate::QuantError;
use crate::table::{self, QUANTIZED_OPS, Treatment};

/// A node that stays f32, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptF32 {
    /// The node's name (or `#index` when it has none).
    pub node: String,
    /// Its operator.
    pub op: String,
    /// Why it is not quantized.
    pub why: String,
}

/// How one node is rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Left as it is (its inputs may still read dequantized tensors).
    Keep,
    /// Removed: an activation folded into the node before it.
    Folded,
    /// Quantized. `weight`: the quantization axis of input 1 (`Weighted` operators with a
    /// constant weight). `output`: the output tensor after folding.
    Quantized {
        weight_axis: Option<usize>,
        output: String,
    },
}

/// The analysis of one graph.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub(crate) origin: String,
    pub(crate) plans: Vec<Plan>,
    /// Tensors that get a QuantizeLinear/DequantizeLinear pair, in graph order.
    pub(crate) qdq: Vec<String>,
    /// Output tensors of `Shared` operators, with the tensor whose parameters they take.
    pub(crate) shared: HashMap<String, String>,
    pub(crate) kept_f32: Vec<KeptF32>,
    pub(crate) quantized_ops: BTreeMap<String, usize>,
}

/// A node's name for messages.
pub(crate) fn node_name(name: &str, i: usize) -> String {
    if name.is_empty() {
        format!("#{i}")
    } else {
        name.to_string()
    }
}

/// A float initializer's values and dims, checked against each other.
pub(crate) fn float_init(
    origin: &str,
    t: &TensorProto<'_>,
) -> Result<(Vec<f32>, Vec<usize>), QuantError> {
    let bad = |problem: String| QuantError::Initializer {
        origin: origin.into(),
        name: t.name().into(),
        problem,
    };
    if t.data_type() != DataType::Float {
        return Err(bad(format!("is {:?}, not float", t.data_type())));
    }
    let mut dims = Vec::with_capacity(t.dims().len());
    let mut n = 1usize;
    for &d in t.dims() {
        let d = usize::try_from(d).map_err(|_| bad(format!("has a negative dimension {d}")))?;
        n = n
            .checked_mul(d)
            .ok_or_else(|| bad(format!("dims {:?} overflow", t.dims())))?;
        dims.push(d);
    }
    let v = t
        .as_f32()
        .ok_or_else(|| bad("holds no float data".into()))?
        .into_owned();
    if v.len() != n {
        return Err(bad(format!(
            "declares dims {:?} ({n} values) but holds {} values",
            t.dims(),
            v.len()
        )));
    }
    Ok((v, dims))
}

impl Analysis {
    /// Analyses a parsed model. `origin` names it in errors.
    pub fn new(model: &Model<'_>, origin: &str) -> Result<Self, QuantError> {
        let graph = model.graph.as_ref().ok_or_else(|| QuantError::NoGraph {
            origin: origin.into(),
        })?;
        for (i, n) in graph.node.iter().enumerate() {
            let op = n.op_type.as_str();
            if QUANTIZED_OPS.contains(&op) {
                return Err(QuantError::AlreadyQuantized {
                    origin: origin.into(),
                    node: node_name(n.name, i),
                    op: op.into(),
                });
            }
        }
        let opset = model
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map_or(0, |o| o.version);
        if opset < 13 {
            return Err(QuantError::Opset {
                origin: origin.into(),
                opset,
            });
        }
        let inits: HashMap<&str, &TensorProto<'_>> =
            graph.initializer.iter().map(|t| (t.name(), t)).collect();
        let mut consumers: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, n) in graph.node.iter().enumerate() {
            for &x in &n.input {
                if !x.is_empty() {
                    consumers.entry(x).or_default().push(i);
                }
            }
        }
        let outputs: HashSet<&str> = graph.output.iter().map(|v| v.name).collect();
        let is_act = |x: &str| !x.is_empty() && !inits.contains_key(x);
        let treatment = |i: usize| table::treatment(graph.node[i].op_type.as_str());

        let mut plans = vec![Plan::Keep; graph.node.len()];
        let mut kept_f32 = Vec::new();
        let mut keep = |i: usize, why: &str| {
            let n = &graph.node[i];
            kept_f32.push(KeptF32 {
                node: node_name(n.name, i),
                op: n.op_type.as_str().into(),
                why: why.into(),
            });
        };
        // First the operators with kernels of their own.
        for (i, n) in graph.node.iter().enumerate() {
            let op = n.op_type.as_str();
            if !n.domain.is_empty() && n.domain != "ai.onnx" {
                keep(i, "custom domain");
                continue;
            }
            let Some(t) = treatment(i) else {
                keep(i, "not in the table");
                continue;
            };
            let weight_axis = match t {
                Treatment::Weighted if !is_act(n.input.first().copied().unwrap_or("")) => {
                    keep(i, "input is a constant");
                    continue;
                }
                Treatment::Weighted => {
                    let w = n.input.get(1).copied().unwrap_or("");
                    match inits.get(w) {
                        Some(wt) if wt.data_type() == DataType::Float => {
                            match weight_axis(op, n, wt.dims().len()) {
                                Ok(axis) => Some(axis),
                                Err(why) => {
                                    keep(i, why);
                                    continue;
                                }
                            }
                        }
                        Some(_) => {
                            keep(i, "weight is not float");
                            continue;
                        }
                        None if op == "MatMul" && is_act(w) => None,
                        None => {
                            keep(i, "weight is not a constant");
                            continue;
                        }
                    }
                }
                Treatment::Activations => {
                    if n.input.iter().any(|x| inits.contains_key(x)) {
                        keep(i, "has a constant input");
                        continue;
                    }
                    None
                }
                Treatment::Shared | Treatment::Activation => continue,
            };
            if let (Some(axis), Some(b), Some(w)) = (
                weight_axis,
                n.input.get(2).filter(|b| !b.is_empty()),
                n.input.get(1).and_then(|w| inits.get(w)),
            ) {
                let ch = w.dims().get(axis).copied().unwrap_or(0);
                let ok = inits
                    .get(b)
                    .is_some_and(|bt| bt.data_type() == DataType::Float && bt.dims() == [ch]);
                if !ok {
                    keep(
                        i,
                        "bias is not a constant vector, one value per output channel",
                    );
                    continue;
                }
            }
            let out = n.output.first().copied().unwrap_or("");
            plans[i] = Plan::Quantized {
                weight_axis,
                output: out.into(),
            };
        }
        // Then fold an activation into the quantized node before it, when it is that node's
        // only consumer and the node's output is not a graph output.
        for (i, n) in graph.node.iter().enumerate() {
            if !matches!(plans[i], Plan::Quantized { .. }) {
                continue;
            }
            let out = n.output.first().copied().unwrap_or("");
            let next = consumers.get(out).map(Vec::as_slice).unwrap_or(&[]);
            if let [j] = next
                && treatment(*j) == Some(Treatment::Activation)
                && !outputs.contains(out)
                && graph.node[*j].input.first() == Some(&out)
                && let Some(&folded_out) = graph.node[*j].output.first()
            {
                plans[*j] = Plan::Folded;
                if let Plan::Quantized { output, .. } = &mut plans[i] {
                    *output = folded_out.into();
                }
            }
        }
        // Then walk in graph order: the tensors that get QDQ pairs, and the Shared operators
        // whose input is quantized.
        let mut qdq: Vec<String> = Vec::new();
        let mut in_qdq: HashSet<String> = HashSet::new();
        let mut shared = HashMap::new();
        fn add(t: &str, qdq: &mut Vec<String>, in_qdq: &mut HashSet<String>) {
            if in_qdq.insert(t.to_string()) {
                qdq.push(t.to_string());
            }
        }
        // A tensor read by a node that takes quantized inputs.
        let read_quantized = |t: &str, plans: &[Plan]| {
            consumers.get(t).is_some_and(|cs| {
                cs.iter().any(|&c| {
                    matches!(plans[c], Plan::Quantized { .. })
                        || treatment(c) == Some(Treatment::Shared)
                })
            })
        };
        let mut quantized_ops: BTreeMap<String, usize> = BTreeMap::new();
        for (i, n) in graph.node.iter().enumerate() {
            let op = n.op_type.as_str();
            match &plans[i] {
                Plan::Quantized {
                    weight_axis,
                    output,
                } => {
                    let data: Vec<&str> = match (table::treatment(op), weight_axis) {
                        (Some(Treatment::Weighted), Some(_)) => vec![n.input[0]],
                        _ => n.input.iter().copied().filter(|x| is_act(x)).collect(),
                    };
                    for x in data {
                        add(x, &mut qdq, &mut in_qdq);
                    }
                    if read_quantized(output, &plans) {
                        add(output, &mut qdq, &mut in_qdq);
                    }
                    *quantized_ops.entry(op.into()).or_default() += 1;
                }
                Plan::Keep if treatment(i) == Some(Treatment::Shared) => {
                    let input = n.input.first().copied().unwrap_or("");
                    let out = n.output.first().copied().unwrap_or("");
                    if in_qdq.contains(input) && !outputs.contains(out) {
                        let root = shared.get(input).cloned().unwrap_or(input.to_string());
                        shared.insert(out.to_string(), root);
                        if read_quantized(out, &plans) {
                            add(out, &mut qdq, &mut in_qdq);
                        }
                        *quantized_ops.entry(op.into()).or_default() += 1;
                    }
                }
                _ => {}
            }
        }
        Ok(Self {
            origin: origin.into(),
            plans,
            qdq,
            shared,
            kept_f32,
            quantized_ops,
        })
    }

    /// The tensors whose ranges calibration must measure (each QDQ tensor that does not take
    /// another's parameters).
    pub fn calibrated(&self) -> Vec<&str> {
        self.qdq
            .iter()
            .filter(|t| !self.shared.contains_key(*t))
            .map(String::as_str)
            .collect()
    }

    /// The nodes that stay f32, and why (operators the table does not know among them).
    pub fn kept_f32(&self) -> &[KeptF32] {
        &self.kept_f32
    }

    /// How many nodes of each operator are quantized.
    pub fn quantized_ops(&self) -> &BTreeMap<String, usize> {
        &self.quantized_ops
    }
}

/// The per-channel axis of a `Weighted` operator's weight.
fn weight_axis(op: &str, n: &onnx_rs::ast::Node<'_>, rank: usize) -> Result<usize, &'static str> {
    let attr = |name: &str| n.attribute.iter().find(|a| a.name == name);
    match op {
        "Conv" if rank >= 3 => Ok(0),
        "Conv" => Err("weight is not a convolution kernel"),
        "Gemm" if rank == 2 => {
            if attr("transA").is_some_and(|a| a.i != 0) {
                return Err("transA = 1");
            }
            if attr("alpha").is_some_and(|a| a.f != 1.0) || attr("beta").is_some_and(|a| a.f != 1.0)
            {
                return Err("alpha or beta is not 1");
            }
            Ok(if attr("transB").is_some_and(|a| a.i != 0) {
                0
            } else {
                1
            })
        }
        "MatMul" if rank == 2 => Ok(1),
        _ => Err("weight is not a matrix"),
    }
}
