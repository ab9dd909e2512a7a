//! The ONNX writer: a graph under construction, holding its own names and weights, encoded
//! with `onnx-rs`. It knows nothing of burn or of the networks.

use onnx_rs::ast::{
    Attribute, AttributeType, DataType, Dimension, Graph, Model, Node, OpType, OperatorSetId,
    TensorProto, TensorShape, TensorShapeDimension, TensorTypeProto, TypeProto, TypeValue,
    ValueInfo,
};

/// An attribute: name, ints (empty for a scalar), scalar int.
type AttrSpec = (&'static str, Vec<i64>, i64);

/// A node: name, op type, inputs, outputs, attributes.
type NodeSpec = (
    String,
    &'static str,
    Vec<String>,
    Vec<String>,
    Vec<AttrSpec>,
);

/// A graph under construction, holding its own names and weights.
#[derive(Debug, Default)]
pub struct OnnxWriter {
    nodes: Vec<NodeSpec>,
    weights: Vec<(String, Vec<i64>, Vec<f32>)>,
    inputs: Vec<(String, Vec<i64>)>,
    outputs: Vec<(String, Vec<i64>)>,
    clip_bounds: Option<(String, String)>,
    n: usize,
}

impl OnnxWriter {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.n += 1;
        format!("{prefix}_{}", self.n)
    }

    /// Declares a graph input `[N, dims...]` (batch dynamic).
    pub fn input(&mut self, name: &str, dims: &[usize]) -> String {
        self.inputs
            .push((name.to_string(), dims.iter().map(|&d| d as i64).collect()));
        name.to_string()
    }

    /// Declares a graph output `[N, dims...]`, renaming `value` to `name` with an Identity.
    pub fn output(&mut self, value: &str, name: &str, dims: &[usize]) {
        self.node(
            "Identity",
            vec![value.to_string()],
            name.to_string(),
            vec![],
        );
        self.outputs
            .push((name.to_string(), dims.iter().map(|&d| d as i64).collect()));
    }

    /// Adds an initializer.
    pub fn weight(&mut self, prefix: &str, dims: &[usize], data: Vec<f32>) -> String {
        let name = self.fresh(prefix);
        self.weights
            .push((name.clone(), dims.iter().map(|&d| d as i64).collect(), data));
        name
    }

    fn node(
        &mut self,
        op: &'static str,
        inputs: Vec<String>,
        out: String,
        attrs: Vec<AttrSpec>,
    ) -> String {
        let name = self.fresh(op);
        self.nodes
            .push((name, op, inputs, vec![out.clone()], attrs));
        out
    }

    fn op(&mut self, op: &'static str, inputs: Vec<String>, attrs: Vec<AttrSpec>) -> String {
        let out = self.fresh("t");
        self.node(op, inputs, out, attrs)
    }

    /// Conv with weight `[cout, cin / groups, k, k]` and bias, stride, symmetric padding, in
    /// `groups` groups (depthwise when `groups` is the channel count).
    #[allow(clippy::too_many_arguments)]
    pub fn conv(
        &mut self,
        x: &str,
        w: Vec<f32>,
        shape: [usize; 4],
        b: Vec<f32>,
        stride: usize,
        pad: usize,
        groups: usize,
    ) -> String {
        let w = self.weight("conv_w", &shape, w);
        let b = self.weight("conv_b", &[shape[0]], b);
        let (k, s, p) = (shape[2] as i64, stride as i64, pad as i64);
        let mut attrs = vec![
            ("kernel_shape", vec![k, k], 0),
            ("strides", vec![s, s], 0),
            ("pads", vec![p; 4], 0),
        ];
        if groups > 1 {
            attrs.push(("group", vec![], groups as i64));
        }
        self.op("Conv", vec![x.to_string(), w, b], attrs)
    }

    /// ReLU.
    pub fn relu(&mut self, x: &str) -> String {
        self.op("Relu", vec![x.to_string()], vec![])
    }

    /// ReLU6: `Clip` to `[0, 6]`, its bounds one pair of scalar initializers for the graph.
    pub fn relu6(&mut self, x: &str) -> String {
        if self.clip_bounds.is_none() {
            let lo = self.weight("clip_min", &[], vec![0.0]);
            let hi = self.weight("clip_max", &[], vec![6.0]);
            self.clip_bounds = Some((lo, hi));
        }
        let (lo, hi) = self.clip_bounds.clone().unwrap_or_default();
        self.op("Clip", vec![x.to_string(), lo, hi], vec![])
    }

    /// 3x3 max pooling with stride 2 and padding 1.
    pub fn max_pool(&mut self, x: &str) -> String {
        self.op(
            "MaxPool",
            vec![x.to_string()],
            vec![
                ("kernel_shape", vec![3, 3], 0),
                ("strides", vec![2, 2], 0),
                ("pads", vec![1; 4], 0),
            ],
        )
    }

    /// Elementwise sum.
    pub fn add(&mut self, a: &str, b: &str) -> String {
        self.op("Add", vec![a.to_string(), b.to_string()], vec![])
    }

    /// Channel concatenation.
    pub fn concat(&mut self, a: &str, b: &str) -> String {
        self.op(
            "Concat",
            vec![a.to_string(), b.to_string()],
            vec![("axis", vec![], 1)],
        )
    }

    /// Global average pooling then flatten to `[N, C]`.
    pub fn pool(&mut self, x: &str) -> String {
        let g = self.op("GlobalAveragePool", vec![x.to_string()], vec![]);
        self.op("Flatten", vec![g], vec![("axis", vec![], 1)])
    }

    /// `x @ w + b` with `w` stored `[in, out]`.
    pub fn gemm(&mut self, x: &str, w: Vec<f32>, shape: [usize; 2], b: Vec<f32>) -> String {
        let w = self.weight("fc_w", &shape, w);
        let b = self.weight("fc_b", &[shape[1]], b);
        self.op("Gemm", vec![x.to_string(), w, b], vec![])
    }

    /// Encodes the graph.
    pub fn finish(&self, name: &str) -> Vec<u8> {
        fn value<'a>(name: &'a str, dims: &[i64]) -> ValueInfo<'a> {
            let mut dim = vec![TensorShapeDimension {
                value: Dimension::Param("N"),
                ..Default::default()
            }];
            dim.extend(dims.iter().map(|&d| TensorShapeDimension {
                value: Dimension::Value(d),
                ..Default::default()
            }));
            ValueInfo {
                name,
                r#type: Some(TypeProto {
                    value: Some(TypeValue::Tensor(TensorTypeProto {
                        elem_type: DataType::Float,
                        shape: Some(TensorShape { dim }),
                    })),
                    ..Default::default()
                }),
                ..Default::default()
            }
        }
        let nodes = self
            .nodes
            .iter()
            .map(|(name, op, ins, outs, attrs)| Node {
                name,
                op_type: OpType::from(*op),
                input: ins.iter().map(String::as_str).collect(),
                output: outs.iter().map(String::as_str).collect(),
                attribute: attrs
                    .iter()
                    .map(|(n, ints, i)| {
                        if ints.is_empty() {
                            Attribute {
                                name: n,
                                r#type: AttributeType::Int,
                                i: *i,
                                ..Default::default()
                            }
                        } else {
                            Attribute {
                                name: n,
                                r#type: AttributeType::Ints,
                                ints: ints.clone(),
                                ..Default::default()
                            }
                        }
                    })
                    .collect(),
                ..Default::default()
            })
            .collect();
        let model = Model {
            ir_version: 8,
            producer_name: "meanet-train",
            producer_version: env!("CARGO_PKG_VERSION"),
            opset_import: vec![OperatorSetId {
                domain: "",
                version: 17,
            }],
            graph: Some(Graph {
                name,
                node: nodes,
                initializer: self
                    .weights
                    .iter()
                    .map(|(n, d, w)| TensorProto::from_f32(n, d.clone(), w.clone()))
                    .collect(),
                input: self.inputs.iter().map(|(n, d)| value(n, d)).collect(),
                output: self.outputs.iter().map(|(n, d)| value(n, d)).collect(),
                ..Default::default()
            }),
            ..Default::default()
        };
        onnx_rs::encode(&model)
    }
}
