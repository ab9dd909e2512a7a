//! ONNX export through a small framework-independent writer: plain `f32` arrays in, ONNX bytes
//! out (encoded with `onnx-rs`). Batch norm is folded into the preceding convolution.

use burn::module::Module;
use burn::tensor::Tensor;
use onnx_rs::ast::{
    Attribute, AttributeType, DataType, Dimension, Graph, Model, Node, OpType, OperatorSetId,
    TensorProto, TensorShape, TensorShapeDimension, TensorTypeProto, TypeProto, TypeValue,
    ValueInfo,
};

use crate::nets::{CloudNet, ConvBn, ExtensionNet, MainNet, ResBlock, Trunk};

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

    /// Conv with weight `[cout, cin, k, k]` and bias, stride, symmetric padding.
    pub fn conv(
        &mut self,
        x: &str,
        w: Vec<f32>,
        shape: [usize; 4],
        b: Vec<f32>,
        stride: usize,
        pad: usize,
    ) -> String {
        let w = self.weight("conv_w", &shape, w);
        let b = self.weight("conv_b", &[shape[0]], b);
        let (k, s, p) = (shape[2] as i64, stride as i64, pad as i64);
        self.op(
            "Conv",
            vec![x.to_string(), w, b],
            vec![
                ("kernel_shape", vec![k, k], 0),
                ("strides", vec![s, s], 0),
                ("pads", vec![p; 4], 0),
            ],
        )
    }

    /// ReLU.
    pub fn relu(&mut self, x: &str) -> String {
        self.op("Relu", vec![x.to_string()], vec![])
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

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

/// A conv-BN pair folded into one conv: `W' = W * g / sqrt(v + eps)`, `b' = beta - m * g / sqrt(v + eps)`.
fn conv_bn(w: &mut OnnxWriter, x: &str, m: &ConvBn) -> String {
    let weight = m.conv.weight.val();
    let [cout, cin, k, _] = weight.dims();
    let mut wv = values(weight);
    let gamma = values(m.bn.gamma.val());
    let beta = values(m.bn.beta.val());
    let mean = values(m.bn.running_mean.value());
    let var = values(m.bn.running_var.value());
    let per = cin * k * k;
    let mut bias = vec![0f32; cout];
    for o in 0..cout {
        let scale = gamma[o] / (var[o] + m.bn.epsilon as f32).sqrt();
        for v in &mut wv[o * per..(o + 1) * per] {
            *v *= scale;
        }
        bias[o] = beta[o] - mean[o] * scale;
    }
    let stride = m.conv.stride[0];
    w.conv(x, wv, [cout, cin, k, k], bias, stride, k / 2)
}

fn res_block(w: &mut OnnxWriter, x: &str, b: &ResBlock) -> String {
    let a = conv_bn(w, x, &b.a);
    let a = w.relu(&a);
    let y = conv_bn(w, &a, &b.b);
    let s = match &b.short {
        Some(p) => conv_bn(w, x, p),
        None => x.to_string(),
    };
    let sum = w.add(&y, &s);
    w.relu(&sum)
}

fn trunk(w: &mut OnnxWriter, x: &str, t: &Trunk) -> String {
    let s = conv_bn(w, x, &t.stem);
    let mut x = w.relu(&s);
    for b in &t.blocks {
        x = res_block(w, &x, b);
    }
    x
}

fn linear(w: &mut OnnxWriter, x: &str, l: &burn::nn::Linear) -> String {
    let weight = l.weight.val();
    let [i, o] = weight.dims();
    let bias = l
        .bias
        .as_ref()
        .map_or_else(|| vec![0.0; o], |b| values(b.val()));
    w.gemm(x, values(weight), [i, o], bias)
}

/// Main block: `input [N, C, H, W]` -> `logits [N, classes]`, `features [N, C_f, h, w]`.
pub fn main_onnx(m: &MainNet, input: [usize; 3], features: [usize; 3], classes: usize) -> Vec<u8> {
    let m = m.valid();
    let mut w = OnnxWriter::new();
    let x = w.input("input", &input);
    let f = trunk(&mut w, &x, &m.trunk);
    let p = w.pool(&f);
    let logits = linear(&mut w, &p, &m.fc);
    w.output(&logits, "logits", &[classes]);
    w.output(&f, "features", &features);
    w.finish("main")
}

/// Adaptive + extension: `input`, `features` -> `hard_logits [N, H]`.
pub fn extension_onnx(
    e: &ExtensionNet,
    input: [usize; 3],
    features: [usize; 3],
    hard: usize,
) -> Vec<u8> {
    let e = e.valid();
    let mut w = OnnxWriter::new();
    let x = w.input("input", &input);
    let f = w.input("features", &features);
    let a = trunk(&mut w, &x, &e.adaptive);
    let mut y = w.concat(&f, &a);
    for b in &e.blocks {
        y = res_block(&mut w, &y, b);
    }
    let p = w.pool(&y);
    let logits = linear(&mut w, &p, &e.fc);
    w.output(&logits, "hard_logits", &[hard]);
    w.finish("extension")
}

/// Cloud: `input` -> `logits [N, classes]`.
pub fn cloud_onnx(c: &CloudNet, input: [usize; 3], classes: usize) -> Vec<u8> {
    let c = c.valid();
    let mut w = OnnxWriter::new();
    let x = w.input("input", &input);
    let f = trunk(&mut w, &x, &c.trunk);
    let p = w.pool(&f);
    let logits = linear(&mut w, &p, &c.fc);
    w.output(&logits, "logits", &[classes]);
    w.finish("cloud")
}

/// The main block of `arch`, freshly initialised (untrained), as ONNX for inputs of `input`:
/// what a preset costs can be profiled before anything is trained.
pub fn untrained_main_onnx(arch: &crate::nets::Architecture, input: [usize; 3]) -> Vec<u8> {
    let device = burn::tensor::Device::flex();
    let main = MainNet::new(arch, &device);
    let x = Tensor::<4>::zeros([1, input[0], input[1], input[2]], &device);
    let [_, c, h, w] = main.valid().forward(x).1.dims();
    main_onnx(&main, input, [c, h, w], arch.classes)
}
