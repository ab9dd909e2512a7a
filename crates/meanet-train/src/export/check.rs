//! References and checks: freshly initialised networks exported with burn's own outputs on
//! seeded inputs (what an inference backend is checked against without training), and the
//! difference measure the checks use.

use burn::module::Module;
use burn::tensor::Tensor;

use super::{cloud_onnx, extension_onnx, main_onnx, values};
use crate::nets::{CloudNet, ExtensionNet, MainNet};

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
