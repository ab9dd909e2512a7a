//! Small hand-built graphs for tests (this crate's and the end-to-end ones that run them in
//! ONNX Runtime): feature `testing`.

use onnx_rs::ast::{
    DataType, Dimension, Graph, Model, Node, OpType, OperatorSetId, TensorProto, TensorShape,
    TensorShapeDimension, TensorTypeProto, TypeProto, TypeValue, ValueInfo,
};

fn value<'a>(name: &'a str, dims: &[i64]) -> ValueInfo<'a> {
    ValueInfo {
        name,
        r#type: Some(TypeProto {
            value: Some(TypeValue::Tensor(TensorTypeProto {
                elem_type: DataType::Float,
                shape: Some(TensorShape {
                    dim: dims
                        .iter()
                        .map(|&d| TensorShapeDimension {
                            value: Dimension::Value(d),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn node<'a>(op: &'a str, name: &'a str, input: Vec<&'a str>, output: &'a str) -> Node<'a> {
    Node {
        name,
        op_type: OpType::from(op),
        input,
        output: vec![output],
        ..Default::default()
    }
}

/// Weights `[2, 1, 3, 3]`: channel 0 = (k - 4) / 4, channel 1 = k / 16 (k = 0..9).
pub fn conv_weights() -> Vec<f32> {
    (0..9)
        .map(|k| (k as f32 - 4.0) / 4.0)
        .chain((0..9).map(|k| k as f32 / 16.0))
        .collect()
}

/// `x [1,1,4,4] -> Conv(2 filters, 3x3, bias) -> Relu -> y; z = Add(y, y)` plus, when `extra`
/// is given, `s = extra(z)` as the output.
pub fn conv_model(opset: i64, extra: Option<&str>) -> Vec<u8> {
    let w = conv_weights();
    let mut nodes = vec![
        node("Conv", "conv", vec!["x", "w", "b"], "c"),
        node("Relu", "relu", vec!["c"], "y"),
        node("Add", "add", vec!["y", "y"], "z"),
    ];
    let out = match extra {
        Some(op) => {
            nodes.push(node(op, "extra", vec!["z"], "s"));
            "s"
        }
        None => "z",
    };
    let model = Model {
        ir_version: 8,
        opset_import: vec![OperatorSetId {
            domain: "",
            version: opset,
        }],
        graph: Some(Graph {
            name: "conv",
            node: nodes,
            initializer: vec![
                TensorProto::from_f32("w", vec![2, 1, 3, 3], w),
                TensorProto::from_f32("b", vec![2], vec![0.5, -0.25]),
            ],
            input: vec![value("x", &[1, 1, 4, 4])],
            output: vec![value(out, &[1, 2, 2, 2])],
            ..Default::default()
        }),
        ..Default::default()
    };
    onnx_rs::encode(&model)
}
