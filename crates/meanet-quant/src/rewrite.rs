//! Writing graphs back: the augmented graph calibration runs (every calibrated tensor made a
//! graph output) and the quantized QDQ graph.

use std::collections::{HashMap, HashSet};

use onnx_rs::ast::{
    Attribute, AttributeType, DataType, Model, Node, OpType, TensorProto, TensorTypeProto,
    TypeProto, TypeValue, ValueInfo,
};

use crate::graph::{Analysis, Plan, float_init};
use crate::params::{self, Activations, QParams};
use crate::{QuantError, Range};

/// Parses ONNX bytes.
pub(crate) fn parse<'a>(bytes: &'a [u8], origin: &str) -> Result<Model<'a>, QuantError> {
    onnx_rs::parse(bytes).map_err(|source| QuantError::Parse {
        origin: origin.into(),
        source,
    })
}

fn float_output(name: &str) -> ValueInfo<'_> {
    ValueInfo {
        name,
        r#type: Some(TypeProto {
            value: Some(TypeValue::Tensor(TensorTypeProto {
                elem_type: DataType::Float,
                shape: None,
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The model with every tensor of `tensors` that is not already a graph output, nor a graph
/// input (the caller has those values: it feeds them), added as an output.
pub(crate) fn augmented(
    bytes: &[u8],
    origin: &str,
    tensors: &[&str],
) -> Result<Vec<u8>, QuantError> {
    let mut model = parse(bytes, origin)?;
    let graph = model.graph.as_mut().ok_or_else(|| QuantError::NoGraph {
        origin: origin.into(),
    })?;
    let present: HashSet<&str> = graph
        .output
        .iter()
        .chain(&graph.input)
        .map(|v| v.name)
        .collect();
    for &t in tensors {
        if !present.contains(t) {
            graph.output.push(float_output(t));
        }
    }
    Ok(onnx_rs::encode(&model))
}

/// An owned node of the graph being written.
struct NewNode {
    name: String,
    op: &'static str,
    inputs: Vec<String>,
    output: String,
    axis: Option<i64>,
}

/// A node of the graph being written: a new one, or an original one with its inputs and
/// outputs rewired.
enum Emitted {
    New(NewNode),
    Original {
        index: usize,
        inputs: Vec<String>,
        outputs: Vec<String>,
    },
}

/// An owned initializer of the graph being written.
struct NewInit {
    name: String,
    dims: Vec<i64>,
    dtype: DataType,
    raw: Vec<u8>,
}

fn dq_name(t: &str) -> String {
    format!("{t}_DequantizeLinear_Output")
}

/// Writes the QDQ graph. `ranges` holds the calibrated range of every tensor
/// [`Analysis::calibrated`] lists.
pub(crate) fn quantized(
    bytes: &[u8],
    analysis: &Analysis,
    ranges: &HashMap<String, Range>,
    ty: Activations,
) -> Result<Vec<u8>, QuantError> {
    let origin = analysis.origin.as_str();
    let model = parse(bytes, origin)?;
    let graph = model.graph.as_ref().ok_or_else(|| QuantError::NoGraph {
        origin: origin.into(),
    })?;
    let inits: HashMap<&str, &TensorProto<'_>> =
        graph.initializer.iter().map(|t| (t.name(), t)).collect();
    // Parameters of every QDQ tensor.
    let mut qp: HashMap<&str, QParams> = HashMap::new();
    for t in &analysis.qdq {
        let root = analysis.shared.get(t).unwrap_or(t);
        let r = ranges
            .get(root)
            .ok_or_else(|| QuantError::NoCalibrationData {
                origin: origin.into(),
                tensor: root.clone(),
            })?;
        qp.insert(t.as_str(), params::activation_params(*r, ty));
    }
    let mut new_inits: Vec<NewInit> = Vec::new();
    let scalar_params = |t: &str, p: QParams, new_inits: &mut Vec<NewInit>| {
        new_inits.push(NewInit {
            name: format!("{t}_scale"),
            dims: vec![],
            dtype: DataType::Float,
            raw: p.scale.to_le_bytes().to_vec(),
        });
        let (dtype, zp) = match ty {
            Activations::U8 => (DataType::Uint8, p.zero_point as u8),
            Activations::S8 => (DataType::Int8, p.zero_point as i8 as u8),
        };
        new_inits.push(NewInit {
            name: format!("{t}_zero_point"),
            dims: vec![],
            dtype,
            raw: vec![zp],
        });
    };
    let qdq_nodes = |t: &str, out: &mut Vec<NewNode>| {
        let q = format!("{t}_QuantizeLinear_Output");
        let params = vec![format!("{t}_scale"), format!("{t}_zero_point")];
        out.push(NewNode {
            name: format!("{t}_QuantizeLinear"),
            op: "QuantizeLinear",
            inputs: [vec![t.to_string()], params.clone()].concat(),
            output: q.clone(),
            axis: None,
        });
        out.push(NewNode {
            name: format!("{t}_DequantizeLinear"),
            op: "DequantizeLinear",
            inputs: [vec![q], params].concat(),
            output: dq_name(t),
            axis: None,
        });
    };
    for t in &analysis.qdq {
        if let Some(&p) = qp.get(t.as_str()) {
            scalar_params(t, p, &mut new_inits);
        }
    }
    let in_qdq: HashSet<&str> = analysis.qdq.iter().map(String::as_str).collect();
    let mut pre: Vec<NewNode> = Vec::new();
    for v in &graph.input {
        if in_qdq.contains(v.name) {
            qdq_nodes(v.name, &mut pre);
        }
    }
    // Nodes in order, each followed by the QDQ pair of its output.
    let mut replaced: HashSet<&str> = HashSet::new();
    let mut order: Vec<(Option<usize>, Vec<NewNode>)> = vec![(None, pre)];
    for (i, n) in graph.node.iter().enumerate() {
        let mut extra = Vec::new();
        match &analysis.plans[i] {
            Plan::Folded => continue,
            Plan::Keep => {}
            Plan::Quantized {
                weight_axis: Some(axis),
                ..
            } => {
                let w = n.input[1];
                let missing = |name: &str| QuantError::Initializer {
                    origin: origin.into(),
                    name: name.into(),
                    problem: "is not in the graph".into(),
                };
                let (values, dims) = float_init(origin, inits.get(w).ok_or_else(|| missing(w))?)?;
                let (q, scales) = params::quantize_weights(&values, &dims, *axis);
                let wq = format!("{w}_quantized_{i}");
                new_inits.push(NewInit {
                    name: wq.clone(),
                    dims: dims.iter().map(|&d| d as i64).collect(),
                    dtype: DataType::Int8,
                    raw: q.iter().map(|&v| v as u8).collect(),
                });
                let ch = scales.len() as i64;
                new_inits.push(NewInit {
                    name: format!("{wq}_scale"),
                    dims: vec![ch],
                    dtype: DataType::Float,
                    raw: scales.iter().flat_map(|s| s.to_le_bytes()).collect(),
                });
                new_inits.push(NewInit {
                    name: format!("{wq}_zero_point"),
                    dims: vec![ch],
                    dtype: DataType::Int8,
                    raw: vec![0; scales.len()],
                });
                extra.push(NewNode {
                    name: format!("{wq}_DequantizeLinear"),
                    op: "DequantizeLinear",
                    inputs: vec![
                        wq.clone(),
                        format!("{wq}_scale"),
                        format!("{wq}_zero_point"),
                    ],
                    output: dq_name(&wq),
                    axis: Some(*axis as i64),
                });
                replaced.insert(w);
                if let Some(&b) = n.input.get(2).filter(|b| !b.is_empty()) {
                    let (bv, _) = float_init(origin, inits.get(b).ok_or_else(|| missing(b))?)?;
                    let sx = qp
                        .get(n.input[0])
                        .ok_or_else(|| QuantError::NoCalibrationData {
                            origin: origin.into(),
                            tensor: n.input[0].into(),
                        })?
                        .scale;
                    let (bq, bs) = params::quantize_bias(&bv, sx, &scales);
                    let bn = format!("{b}_quantized_{i}");
                    new_inits.push(NewInit {
                        name: bn.clone(),
                        dims: vec![bq.len() as i64],
                        dtype: DataType::Int32,
                        raw: bq.iter().flat_map(|v| v.to_le_bytes()).collect(),
                    });
                    new_inits.push(NewInit {
                        name: format!("{bn}_scale"),
                        dims: vec![bs.len() as i64],
                        dtype: DataType::Float,
                        raw: bs.iter().flat_map(|s| s.to_le_bytes()).collect(),
                    });
                    new_inits.push(NewInit {
                        name: format!("{bn}_zero_point"),
                        dims: vec![bs.len() as i64],
                        dtype: DataType::Int32,
                        raw: vec![0; 4 * bs.len()],
                    });
                    extra.push(NewNode {
                        name: format!("{bn}_DequantizeLinear"),
                        op: "DequantizeLinear",
                        inputs: vec![
                            bn.clone(),
                            format!("{bn}_scale"),
                            format!("{bn}_zero_point"),
                        ],
                        output: dq_name(&bn),
                        axis: Some(0),
                    });
                    replaced.insert(b);
                }
            }
            Plan::Quantized { .. } => {}
        }
        order.push((Some(i), extra));
    }
    // Assemble: weight DQs before their node, then the node, rewired, then its output's QDQ
    // pair.
    let mut emitted: Vec<Emitted> = Vec::new();
    for (idx, extra) in order {
        emitted.extend(extra.into_iter().map(Emitted::New));
        let Some(i) = idx else { continue };
        let n = &graph.node[i];
        let (weight_axis, output) = match &analysis.plans[i] {
            Plan::Quantized {
                weight_axis,
                output,
            } => (*weight_axis, Some(output.clone())),
            _ => (None, None),
        };
        let inputs = n
            .input
            .iter()
            .enumerate()
            .map(|(k, &x)| {
                if weight_axis.is_some() && (k == 1 || k == 2) && !x.is_empty() {
                    dq_name(&format!("{x}_quantized_{i}"))
                } else if in_qdq.contains(x) {
                    dq_name(x)
                } else {
                    x.to_string()
                }
            })
            .collect();
        let mut outputs: Vec<String> = n.output.iter().map(|s| s.to_string()).collect();
        if let (Some(first), Some(output)) = (outputs.first_mut(), output) {
            *first = output;
        }
        let out = outputs.first().cloned().unwrap_or_default();
        emitted.push(Emitted::Original {
            index: i,
            inputs,
            outputs,
        });
        if in_qdq.contains(out.as_str()) {
            let mut pair = Vec::new();
            qdq_nodes(&out, &mut pair);
            emitted.extend(pair.into_iter().map(Emitted::New));
        }
    }
    let still_read: HashSet<&str> = emitted
        .iter()
        .filter_map(|e| match e {
            Emitted::Original { inputs, .. } => Some(inputs.iter().map(String::as_str)),
            Emitted::New(_) => None,
        })
        .flatten()
        .collect();
    let nodes: Vec<Node<'_>> = emitted
        .iter()
        .map(|e| match e {
            Emitted::Original {
                index,
                inputs,
                outputs,
            } => {
                let mut node = graph.node[*index].clone();
                node.input = inputs.iter().map(String::as_str).collect();
                node.output = outputs.iter().map(String::as_str).collect();
                node
            }
            Emitted::New(nn) => Node {
                name: &nn.name,
                op_type: OpType::from(nn.op),
                input: nn.inputs.iter().map(String::as_str).collect(),
                output: vec![nn.output.as_str()],
                attribute: nn
                    .axis
                    .map(|a| Attribute {
                        name: "axis",
                        r#type: AttributeType::Int,
                        i: a,
                        ..Default::default()
                    })
                    .into_iter()
                    .collect(),
                ..Default::default()
            },
        })
        .collect();
    let mut initializer: Vec<TensorProto<'_>> = graph
        .initializer
        .iter()
        .filter(|t| !replaced.contains(t.name()) || still_read.contains(t.name()))
        .cloned()
        .collect();
    initializer.extend(
        new_inits
            .iter()
            .map(|t| TensorProto::from_raw(&t.name, t.dims.clone(), t.dtype, &t.raw)),
    );
    let mut out_graph = graph.clone();
    out_graph.node = nodes;
    out_graph.initializer = initializer;
    let mut out = model.clone();
    out.graph = Some(out_graph);
    Ok(onnx_rs::encode(&out))
}
