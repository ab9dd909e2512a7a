//! Which operators are quantized, and how: a table, like meanet-energy's registration table.
//!
//! Each row is an operator for which ONNX Runtime has int8 kernels (it fuses
//! `DequantizeLinear -> op -> QuantizeLinear` into `QLinearConv`, `QGemm`, `QLinearAdd`, ...),
//! or one that only moves values, whose QDQ pairs it drops when both sides share one scale.
//! Every other operator stays f32 between a `DequantizeLinear` and a `QuantizeLinear`, and
//! [`crate::Analysis::kept_f32`] lists it.

/// How an operator is quantized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Treatment {
    /// Input 0 is an activation, input 1 a weight quantized per output channel on `axis`
    /// (s8, symmetric), input 2 an optional bias quantized to int32 with the scale
    /// `input scale x weight scale`. `Conv`, `Gemm`, `MatMul`.
    Weighted,
    /// Every input and the output are activations with their own ranges. `Add`, `Concat`,
    /// `AveragePool`, `GlobalAveragePool`.
    Activations,
    /// The output takes the input's scale and zero point (the op only moves or selects
    /// values). `MaxPool`, `Flatten`, `Reshape`, `Transpose`, `Squeeze`, `Unsqueeze`.
    Shared,
    /// Folded into the quantized operator before it, when it is that operator's only
    /// consumer: the output's QuantizeLinear clamps to the calibrated range, which is the
    /// activation's own (`Relu`, `Clip`).
    Activation,
}

/// The table: operator, treatment.
pub const TABLE: &[(&str, Treatment)] = &[
    ("Conv", Treatment::Weighted),
    ("Gemm", Treatment::Weighted),
    ("MatMul", Treatment::Weighted),
    ("Add", Treatment::Activations),
    ("Concat", Treatment::Activations),
    ("AveragePool", Treatment::Activations),
    ("GlobalAveragePool", Treatment::Activations),
    ("MaxPool", Treatment::Shared),
    ("Flatten", Treatment::Shared),
    ("Reshape", Treatment::Shared),
    ("Transpose", Treatment::Shared),
    ("Squeeze", Treatment::Shared),
    ("Unsqueeze", Treatment::Shared),
    ("Relu", Treatment::Activation),
    ("Clip", Treatment::Activation),
];

/// Operators that mean a graph is already quantized.
pub const QUANTIZED_OPS: &[&str] = &[
    "QuantizeLinear",
    "DequantizeLinear",
    "DynamicQuantizeLinear",
    "QLinearConv",
    "QLinearMatMul",
    "ConvInteger",
    "MatMulInteger",
    "QGemm",
    "QLinearAdd",
];

/// The treatment of an operator, if the table has it.
pub fn treatment(op: &str) -> Option<Treatment> {
    TABLE.iter().find(|(o, _)| *o == op).map(|(_, t)| *t)
}
