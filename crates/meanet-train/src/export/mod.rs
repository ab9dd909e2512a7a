//! ONNX export through a small framework-independent writer: plain `f32` arrays in, ONNX bytes
//! out (encoded with `onnx-rs`). Batch norm is folded into the preceding convolution.
//!
//! [`writer`] holds the ONNX writer, this module the networks written with it, and [`check`]
//! the references and the difference measure that check an export against burn.

use burn::module::Module;
use burn::tensor::Tensor;

use crate::nets::{Block, CloudNet, ConvBn, ExtensionNet, MainNet, Trunk};

pub mod check;
pub mod writer;

pub use check::{Reference, max_abs_diff, untrained_reference};
pub use writer::OnnxWriter;

pub(crate) fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
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
