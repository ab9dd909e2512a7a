//! ONNX export through a small framework-independent writer: plain `f32` arrays in, ONNX bytes
//! out (encoded with `onnx-rs`). Batch norm is folded into the preceding convolution.

use burn::module::Module;
use burn::tensor::Tensor;
use onnx_rs::ast::{
    Attribute, AttributeType, DataType, Dimension, Graph, Model, Node, OpType, OperatorSetId,
    TensorProto, TensorShape, TensorShapeDimension, TensorTypeProto, TypeProto, TypeValue,
    ValueInfo,
};

use crate::nets::{Block, CloudNet, ConvBn, ExtensionNet, MainNet, Trunk};

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
    w.conv(x, wv, [cout, cin, k, k], bias, stride, k / 2, m.conv.groups)
}

fn activate(w: &mut OnnxWriter, x: &str, relu6: bool) -> String {
    if relu6 { w.relu6(x) } else { w.relu(x) }
}

fn shortcut(w: &mut OnnxWriter, x: &str, short: Option<&ConvBn>) -> String {
    match short {
        Some(p) => conv_bn(w, x, p),
        None => x.to_string(),
    }
}

fn block(w: &mut OnnxWriter, x: &str, b: &Block) -> String {
    match b {
        Block::Basic(b) => {
            let a = conv_bn(w, x, &b.a);
            let a = w.relu(&a);
            let y = conv_bn(w, &a, &b.b);
            let s = shortcut(w, x, b.short.as_ref());
            let sum = w.add(&y, &s);
            w.relu(&sum)
        }
        Block::Bottleneck(b) => {
            let a = conv_bn(w, x, &b.a);
            let a = w.relu(&a);
            let y = conv_bn(w, &a, &b.b);
            let y = w.relu(&y);
            let y = conv_bn(w, &y, &b.c);
            let s = shortcut(w, x, b.short.as_ref());
            let sum = w.add(&y, &s);
            w.relu(&sum)
        }
        Block::Inverted(b) => {
            let mut y = x.to_string();
            if let Some(e) = &b.expand {
                let e = conv_bn(w, &y, e);
                y = w.relu6(&e);
            }
            let d = conv_bn(w, &y, &b.depthwise);
            let d = w.relu6(&d);
            let y = conv_bn(w, &d, &b.project);
            if b.residual { w.add(&y, x) } else { y }
        }
    }
}

fn trunk(w: &mut OnnxWriter, x: &str, t: &Trunk) -> String {
    let s = conv_bn(w, x, &t.stem);
    let mut x = activate(w, &s, t.relu6);
    if t.pool.is_some() {
        x = w.max_pool(&x);
    }
    for b in &t.blocks {
        x = block(w, &x, b);
    }
    if let Some(h) = &t.head {
        let h = conv_bn(w, &x, h);
        x = activate(w, &h, t.relu6);
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
        y = block(&mut w, &y, b);
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

/// Every network of `arch`, freshly initialised (untrained), as ONNX `(main, extension, cloud)`
/// for inputs of `input`: what a preset costs can be profiled before anything is trained.
pub fn untrained_onnx(
    arch: &crate::nets::Architecture,
    input: [usize; 3],
) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let device = burn::tensor::Device::flex();
    let main = MainNet::new(arch, &device);
    let x = Tensor::<4>::zeros([1, input[0], input[1], input[2]], &device);
    let [_, c, h, w] = main.valid().forward(x).1.dims();
    let extension = ExtensionNet::new(arch, &device);
    let cloud = CloudNet::new(arch, &device);
    (
        main_onnx(&main, input, [c, h, w], arch.classes),
        extension_onnx(&extension, input, [c, h, w], arch.hard),
        cloud_onnx(&cloud, input, arch.classes),
    )
}

/// Freshly initialised networks of `arch`, exported, with burn's own outputs on `n`
/// pseudo-random inputs (seeded): what checks an exported operator against an inference
/// backend without training anything.
#[derive(Debug, Clone)]
pub struct Reference {
    /// The main block, as ONNX.
    pub main: Vec<u8>,
    /// The adaptive + extension blocks, as ONNX.
    pub extension: Vec<u8>,
    /// The cloud model, as ONNX.
    pub cloud: Vec<u8>,
    /// The inputs `[n, C, H, W]`, row-major.
    pub input: Vec<f32>,
    /// Their shape.
    pub input_shape: [usize; 4],
    /// Main logits `[n, classes]`.
    pub logits: Vec<f32>,
    /// The main feature map.
    pub features: Vec<f32>,
    /// Its shape.
    pub features_shape: [usize; 4],
    /// Hard logits `[n, hard]`.
    pub hard_logits: Vec<f32>,
    /// Cloud logits `[n, classes]`.
    pub cloud_logits: Vec<f32>,
}

/// The [`Reference`] of `arch` for `n` inputs of `input`, the weights and inputs from `seed`.
pub fn untrained_reference(
    arch: &crate::nets::Architecture,
    input: [usize; 3],
    n: usize,
    seed: u64,
) -> Reference {
    let device = burn::tensor::Device::flex();
    device.seed(seed);
    let main = MainNet::new(arch, &device).valid();
    let extension = ExtensionNet::new(arch, &device).valid();
    let cloud = CloudNet::new(arch, &device).valid();
    let mut rng = fastrand::Rng::with_seed(seed);
    let shape = [n, input[0], input[1], input[2]];
    let inputs: Vec<f32> = (0..shape.iter().product::<usize>())
        .map(|_| rng.f32() * 4.0 - 2.0)
        .collect();
    let x = Tensor::<4>::from_data(
        burn::tensor::TensorData::new(inputs.clone(), shape),
        &device,
    );
    let (logits, f) = main.forward(x.clone());
    let [_, c, h, w] = f.dims();
    let hard = extension.forward(x.clone(), f.clone());
    let cl = cloud.forward(x);
    Reference {
        main: main_onnx(&main, input, [c, h, w], arch.classes),
        extension: extension_onnx(&extension, input, [c, h, w], arch.hard),
        cloud: cloud_onnx(&cloud, input, arch.classes),
        input: inputs,
        input_shape: shape,
        logits: values(logits),
        features: values(f),
        features_shape: [n, c, h, w],
        hard_logits: values(hard),
        cloud_logits: values(cl),
    }
}

/// The largest `|a - b|` over two outputs of the same length, NaN when either holds one
/// (`f32::max` would drop it): how far an inference backend is from burn.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(p, q)| (p - q).abs())
        .fold(0f32, |m, d| {
            if d.is_nan() || m.is_nan() {
                f32::NAN
            } else {
                m.max(d)
            }
        })
}
