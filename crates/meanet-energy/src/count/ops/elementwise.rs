//! Element-wise operators: normalisations, activations, softmax, casts and broadcasting binary operators. No MACs; FLOPs per output element.

use super::OpRule;
use crate::count::{Infer, Inferred, Tensor, broadcast, input, numel, out, same};
use crate::graph::{DType, Node};

/// The operators of this family and the rule that infers each.
pub(super) const OPS: &[(&str, OpRule)] = &[
    ("BatchNormalization", normalization),
    ("InstanceNormalization", normalization),
    ("LayerNormalization", layer_normalization),
    ("Relu", activation),
    ("LeakyRelu", activation),
    ("PRelu", activation),
    ("Clip", activation),
    ("Sigmoid", activation),
    ("Tanh", activation),
    ("HardSigmoid", activation),
    ("HardSwish", activation),
    ("Elu", activation),
    ("Selu", activation),
    ("Gelu", activation),
    ("Erf", activation),
    ("Exp", activation),
    ("Log", activation),
    ("Sqrt", activation),
    ("Neg", activation),
    ("Abs", activation),
    ("Reciprocal", activation),
    ("Softplus", activation),
    ("Sin", activation),
    ("Cos", activation),
    ("Floor", activation),
    ("Ceil", activation),
    ("Round", activation),
    ("Sign", activation),
    ("Not", activation),
    ("QuantizeLinear", quantize_linear),
    ("DequantizeLinear", dequantize_linear),
    ("Softmax", softmax),
    ("LogSoftmax", softmax),
    ("Identity", identity_or_cast),
    ("Dropout", identity_or_cast),
    ("Cast", identity_or_cast),
    ("Add", elementwise),
    ("Sub", elementwise),
    ("Mul", elementwise),
    ("Div", elementwise),
    ("Pow", elementwise),
    ("Max", elementwise),
    ("Min", elementwise),
    ("Sum", elementwise),
    ("Mean", elementwise),
    ("Equal", elementwise),
    ("Less", elementwise),
    ("Greater", elementwise),
    ("And", elementwise),
    ("Or", elementwise),
    ("Where", elementwise),
];

/// `BatchNormalization` `InstanceNormalization`.
fn normalization(node: &Node, ins: &[Option<&Tensor>]) -> Result<Inferred, Infer> {
    same(node, ins, 2)
}

/// `LayerNormalization`.
fn layer_normalization(node: &Node, ins: &[Option<&Tensor>]) -> Result<Inferred, Infer> {
    same(node, ins, 5)
}

/// `Relu` `LeakyRelu` `PRelu` `Clip` `Sigmoid` `Tanh` `HardSigmoid` `HardSwish` `Elu` `Selu` `Gelu` `Erf` `Exp` `Log` `Sqrt` `Neg` `Abs` `Reciprocal` `Softplus` `Sin` `Cos` `Floor` `Ceil` `Round` `Sign` `Not`.
fn activation(node: &Node, ins: &[Option<&Tensor>]) -> Result<Inferred, Infer> {
    same(node, ins, 1)
}

/// `QuantizeLinear`: one multiply and a rounding per element; the output is 8-bit.
fn quantize_linear(node: &Node, ins: &[Option<&Tensor>]) -> Result<Inferred, Infer> {
    let mut r = same(node, ins, 1)?;
    r.dtype = Some(DType::I8);
    Ok(r)
}

/// `DequantizeLinear` of an activation: the value stays 8-bit for the operator that reads it
/// (ONNX Runtime fuses the pair into that operator's int8 kernel), at one multiply per element.
/// Of a weight, the count's loop folds it into the reader (weights read at their stored width).
fn dequantize_linear(node: &Node, ins: &[Option<&Tensor>]) -> Result<Inferred, Infer> {
    let t = input(node, ins, 0)?;
    let mut r = same(node, ins, 1)?;
    r.dtype = Some(t.dtype);
    Ok(r)
}

/// `Softmax` `LogSoftmax`.
fn softmax(node: &Node, ins: &[Option<&Tensor>]) -> Result<Inferred, Infer> {
    same(node, ins, 3)
}

/// `Identity` `Dropout` `Cast`.
fn identity_or_cast(node: &Node, ins: &[Option<&Tensor>]) -> Result<Inferred, Infer> {
    let t = input(node, ins, 0)?;
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

/// `Add` `Sub` `Mul` `Div` `Pow` `Max` `Min` `Sum` `Mean` `Equal` `Less` `Greater` `And` `Or` `Where`.
fn elementwise(node: &Node, ins: &[Option<&Tensor>]) -> Result<Inferred, Infer> {
    let mut shape = input(node, ins, 0)?.shape.clone();
    for t in ins.iter().skip(1).flatten() {
        shape = broadcast(node, &shape, &t.shape)?;
    }
    let terms = ins.iter().flatten().count().saturating_sub(1).max(1) as u64;
    let n = numel(&shape);
    out(shape, 0, n.saturating_mul(terms))
}
