//! Builds ONNX graphs in Rust for the anchor tests: weights carry only their shapes (or, for the
//! size/speed test, zero-filled data of the real size), so no large model is committed.

#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::too_many_arguments
)]

use onnx_rs::ast::*;

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// A graph under construction.
pub struct Builder {
    nodes: Vec<Node<'static>>,
    inits: Vec<TensorProto<'static>>,
    n: usize,
    zeros: Option<&'static [u8]>,
}

impl Builder {
    /// `with_data`: store zero-filled weights of the real size (for file-size realistic tests).
    pub fn new(with_data: bool) -> Self {
        let zeros = with_data.then(|| &*Box::leak(vec![0u8; 12 << 20].into_boxed_slice()));
        Builder {
            nodes: Vec::new(),
            inits: Vec::new(),
            n: 0,
            zeros,
        }
    }

    fn name(&mut self, p: &str) -> &'static str {
        self.n += 1;
        leak(format!("{p}{}", self.n))
    }

    fn weight(&mut self, dims: Vec<i64>) -> &'static str {
        let name = self.name("w");
        let n: i64 = dims.iter().product();
        let data = self.zeros.map_or(&[][..], |z| &z[..(n as usize) * 4]);
        self.inits
            .push(TensorProto::from_raw(name, dims, DataType::Float, data));
        name
    }

    fn node(
        &mut self,
        op: OpType<'static>,
        input: Vec<&'static str>,
        attrs: Vec<Attribute<'static>>,
    ) -> &'static str {
        let out = self.name("t");
        let name = self.name(&format!("{}_", op.as_str()));
        self.nodes.push(Node {
            name,
            op_type: op,
            input,
            output: vec![out],
            attribute: attrs,
            ..Default::default()
        });
        out
    }

    pub fn conv(
        &mut self,
        x: &'static str,
        cin: i64,
        cout: i64,
        k: i64,
        stride: i64,
        pad: i64,
        group: i64,
    ) -> &'static str {
        let w = self.weight(vec![cout, cin / group, k, k]);
        let ints = |name: &'static str, v: Vec<i64>| Attribute {
            name,
            r#type: AttributeType::Ints,
            ints: v,
            ..Default::default()
        };
        let attrs = vec![
            ints("kernel_shape", vec![k, k]),
            ints("strides", vec![stride, stride]),
            ints("pads", vec![pad, pad, pad, pad]),
            Attribute {
                name: "group",
                r#type: AttributeType::Int,
                i: group,
                ..Default::default()
            },
        ];
        self.node(OpType::Conv, vec![x, w], attrs)
    }

    pub fn bn(&mut self, x: &'static str, c: i64) -> &'static str {
        let ws: Vec<&'static str> = (0..4).map(|_| self.weight(vec![c])).collect();
        self.node(
            OpType::BatchNormalization,
            vec![x, ws[0], ws[1], ws[2], ws[3]],
            vec![],
        )
    }

    pub fn relu(&mut self, x: &'static str) -> &'static str {
        self.node(OpType::Relu, vec![x], vec![])
    }

    pub fn relu6(&mut self, x: &'static str) -> &'static str {
        let lo = self.weight(vec![]);
        let hi = self.weight(vec![]);
        self.node(OpType::Clip, vec![x, lo, hi], vec![])
    }

    pub fn add(&mut self, a: &'static str, b: &'static str) -> &'static str {
        self.node(OpType::Add, vec![a, b], vec![])
    }

    pub fn maxpool(&mut self, x: &'static str, k: i64, s: i64, p: i64) -> &'static str {
        let ints = |name: &'static str, v: Vec<i64>| Attribute {
            name,
            r#type: AttributeType::Ints,
            ints: v,
            ..Default::default()
        };
        self.node(
            OpType::MaxPool,
            vec![x],
            vec![
                ints("kernel_shape", vec![k, k]),
                ints("strides", vec![s, s]),
                ints("pads", vec![p; 4]),
            ],
        )
    }

    pub fn gap(&mut self, x: &'static str) -> &'static str {
        self.node(OpType::GlobalAveragePool, vec![x], vec![])
    }

    pub fn flatten(&mut self, x: &'static str) -> &'static str {
        self.node(OpType::Flatten, vec![x], vec![])
    }

    pub fn gemm(&mut self, x: &'static str, fin: i64, fout: i64) -> &'static str {
        let w = self.weight(vec![fout, fin]);
        let b = self.weight(vec![fout]);
        self.node(
            OpType::Gemm,
            vec![x, w, b],
            vec![Attribute {
                name: "transB",
                r#type: AttributeType::Int,
                i: 1,
                ..Default::default()
            }],
        )
    }

    pub fn custom(&mut self, op: &'static str, x: &'static str) -> &'static str {
        self.node(OpType::Custom(op), vec![x], vec![])
    }

    /// Conv + BN (+ ReLU).
    pub fn cbr(
        &mut self,
        x: &'static str,
        cin: i64,
        cout: i64,
        k: i64,
        s: i64,
        relu: bool,
    ) -> &'static str {
        let c = self.conv(x, cin, cout, k, s, k / 2, 1);
        let b = self.bn(c, cout);
        if relu { self.relu(b) } else { b }
    }

    /// Encodes the model with input `[N, c, h, w]` named "input".
    pub fn finish(self, c: i64, h: i64, w: i64, output: &'static str) -> Vec<u8> {
        let dim = |v: Dimension<'static>| TensorShapeDimension {
            value: v,
            ..Default::default()
        };
        let input = ValueInfo {
            name: "input",
            r#type: Some(TypeProto {
                value: Some(TypeValue::Tensor(TensorTypeProto {
                    elem_type: DataType::Float,
                    shape: Some(TensorShape {
                        dim: vec![
                            dim(Dimension::Param("N")),
                            dim(Dimension::Value(c)),
                            dim(Dimension::Value(h)),
                            dim(Dimension::Value(w)),
                        ],
                    }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        };
        let model = Model {
            ir_version: 8,
            producer_name: "meanet-tests",
            opset_import: vec![OperatorSetId {
                domain: "",
                version: 17,
            }],
            graph: Some(Graph {
                name: "g",
                node: self.nodes,
                initializer: self.inits,
                input: vec![input],
                output: vec![ValueInfo {
                    name: output,
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        onnx_rs::encode(&model)
    }
}

/// torchvision ResNet-18 / ResNet-50 (v1.5: stride on the 3x3 conv), 224x224, 1000 classes.
pub fn resnet(bottleneck: bool, blocks: [usize; 4], with_data: bool) -> Vec<u8> {
    let mut b = Builder::new(with_data);
    let x = b.cbr("input", 3, 64, 7, 2, true);
    let mut x = b.maxpool(x, 3, 2, 1);
    let mut cin = 64;
    for (stage, &n) in blocks.iter().enumerate() {
        let width = 64 << stage;
        let cout = if bottleneck { width * 4 } else { width };
        for i in 0..n {
            let s = if stage > 0 && i == 0 { 2 } else { 1 };
            let y = if bottleneck {
                let y = b.cbr(x, cin, width, 1, 1, true);
                let y = b.cbr(y, width, width, 3, s, true);
                b.cbr(y, width, cout, 1, 1, false)
            } else {
                let y = b.cbr(x, cin, width, 3, s, true);
                b.cbr(y, width, cout, 3, 1, false)
            };
            let short = if s != 1 || cin != cout {
                b.cbr(x, cin, cout, 1, s, false)
            } else {
                x
            };
            let sum = b.add(y, short);
            x = b.relu(sum);
            cin = cout;
        }
    }
    let g = b.gap(x);
    let f = b.flatten(g);
    let out = b.gemm(f, cin, 1000);
    b.finish(3, 224, 224, out)
}

/// MobileNetV2 1.0, 224x224, 1000 classes (Sandler et al. 2018).
pub fn mobilenet_v2() -> Vec<u8> {
    let mut b = Builder::new(false);
    let conv_bn = |b: &mut Builder, x, cin, cout, k, s, g, act: bool| {
        let c = b.conv(x, cin, cout, k, s, k / 2, g);
        let n = b.bn(c, cout);
        if act { b.relu6(n) } else { n }
    };
    let mut x = conv_bn(&mut b, "input", 3, 32, 3, 2, 1, true);
    let mut cin = 32;
    for (t, c, n, s) in [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ] {
        for i in 0..n {
            let stride = if i == 0 { s } else { 1 };
            let hidden = cin * t;
            let mut y = x;
            if t != 1 {
                y = conv_bn(&mut b, y, cin, hidden, 1, 1, 1, true);
            }
            y = conv_bn(&mut b, y, hidden, hidden, 3, stride, hidden, true);
            y = conv_bn(&mut b, y, hidden, c, 1, 1, 1, false);
            x = if stride == 1 && cin == c {
                b.add(x, y)
            } else {
                y
            };
            cin = c;
        }
    }
    let x = conv_bn(&mut b, x, 320, 1280, 1, 1, 1, true);
    let g = b.gap(x);
    let f = b.flatten(g);
    let out = b.gemm(f, 1280, 1000);
    b.finish(3, 224, 224, out)
}

/// CIFAR ResNet-32 (He et al. 2016): 3 stages of 5 basic blocks, 16/32/64 channels, 1x1
/// projection shortcuts where the shape changes, 10 classes.
pub fn cifar_resnet32() -> Vec<u8> {
    let mut b = Builder::new(false);
    let mut x = b.cbr("input", 3, 16, 3, 1, true);
    let mut cin = 16;
    for stage in 0..3 {
        let cout = 16 << stage;
        for i in 0..5 {
            let s = if stage > 0 && i == 0 { 2 } else { 1 };
            let y = b.cbr(x, cin, cout, 3, s, true);
            let y = b.cbr(y, cout, cout, 3, 1, false);
            let short = if s != 1 || cin != cout {
                b.cbr(x, cin, cout, 1, s, false)
            } else {
                x
            };
            let sum = b.add(y, short);
            x = b.relu(sum);
            cin = cout;
        }
    }
    let g = b.gap(x);
    let f = b.flatten(g);
    let out = b.gemm(f, 64, 10);
    b.finish(3, 32, 32, out)
}
