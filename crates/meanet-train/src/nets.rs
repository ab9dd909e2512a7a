//! The four networks, as residual CNNs sized for the data: main block M, adaptive block A +
//! extension block X (one module, since they are trained together), and the cloud model.
//!
//! Three presets ([`Preset`]), each sized from the input shape: `small` (the reference networks,
//! feature maps of 7x7 at 28x28), `resnet32` (the paper's CIFAR configuration, MEANET.md) and
//! `tiny` (tests). Inputs larger than 32 pixels a side get a strided stem, so the trunks work at
//! about 32x32 whatever the image size.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// A convolution followed by batch normalisation.
#[derive(Module, Debug)]
pub struct ConvBn {
    /// The convolution (no bias: the batch norm has one).
    pub conv: Conv2d,
    /// The batch normalisation.
    pub bn: BatchNorm,
}

impl ConvBn {
    fn new(cin: usize, cout: usize, k: usize, stride: usize, device: &Device) -> Self {
        let p = k / 2;
        ConvBn {
            conv: Conv2dConfig::new([cin, cout], [k, k])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                .with_bias(false)
                .init(device),
            bn: BatchNormConfig::new(cout).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.bn.forward(self.conv.forward(x))
    }
}

/// A basic residual block: 3x3 conv-BN-ReLU, 3x3 conv-BN, plus the input (through a 1x1
/// conv-BN projection when the shape changes), then ReLU.
#[derive(Module, Debug)]
pub struct ResBlock {
    /// First conv.
    pub a: ConvBn,
    /// Second conv.
    pub b: ConvBn,
    /// Projection shortcut.
    pub short: Option<ConvBn>,
}

impl ResBlock {
    fn new(cin: usize, cout: usize, stride: usize, device: &Device) -> Self {
        ResBlock {
            a: ConvBn::new(cin, cout, 3, stride, device),
            b: ConvBn::new(cout, cout, 3, 1, device),
            short: (stride != 1 || cin != cout).then(|| ConvBn::new(cin, cout, 1, stride, device)),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = self.b.forward(relu(self.a.forward(x.clone())));
        let s = match &self.short {
            Some(p) => p.forward(x),
            None => x,
        };
        relu(y + s)
    }
}

/// The architecture of one residual trunk: a stem conv and residual blocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrunkSpec {
    /// Input channels.
    pub input: usize,
    /// Stem output channels.
    pub stem: usize,
    /// Stride of the stem conv.
    #[serde(default = "one")]
    pub stem_stride: usize,
    /// Blocks as `(out_channels, stride)`.
    pub blocks: Vec<(usize, usize)>,
}

fn one() -> usize {
    1
}

impl TrunkSpec {
    /// A CIFAR ResNet trunk (He et al. 2016, section 4.2): a 16-channel stem and three stages
    /// of `n` basic blocks with 16, 32 and 64 channels, the last two starting with stride 2.
    /// Depth is `6n + 2` (ResNet-32: n = 5; ResNet-110: n = 18).
    pub fn cifar_resnet(input: usize, stem_stride: usize, n: usize) -> Self {
        let blocks = [16, 32, 64]
            .into_iter()
            .enumerate()
            .flat_map(|(stage, c)| {
                (0..n).map(move |i| (c, if stage > 0 && i == 0 { 2 } else { 1 }))
            })
            .collect();
        TrunkSpec {
            input,
            stem: 16,
            stem_stride,
            blocks,
        }
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.blocks.last().map_or(self.stem, |b| b.0)
    }
}

/// A stem and residual blocks.
#[derive(Module, Debug)]
pub struct Trunk {
    /// The stem conv-BN (ReLU follows).
    pub stem: ConvBn,
    /// The residual blocks.
    pub blocks: Vec<ResBlock>,
}

impl Trunk {
    fn new(spec: &TrunkSpec, device: &Device) -> Self {
        let mut cin = spec.stem;
        let blocks = spec
            .blocks
            .iter()
            .map(|&(cout, stride)| {
                let b = ResBlock::new(cin, cout, stride, device);
                cin = cout;
                b
            })
            .collect();
        Trunk {
            stem: ConvBn::new(spec.input, spec.stem, 3, spec.stem_stride.max(1), device),
            blocks,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut x = relu(self.stem.forward(x));
        for b in &self.blocks {
            x = b.forward(x);
        }
        x
    }
}

fn pool(x: Tensor<4>) -> Tensor<2> {
    let [n, c, _, _] = x.dims();
    x.mean_dim(3).mean_dim(2).reshape([n, c])
}

/// Architectures of all networks of a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Architecture {
    /// Main block trunk.
    pub main: TrunkSpec,
    /// Adaptive block trunk (must reach the main feature map's spatial size).
    pub adaptive: TrunkSpec,
    /// Extension blocks on `concat(F_M, F_A)`, as `(out_channels, stride)`.
    pub extension: Vec<(usize, usize)>,
    /// Cloud trunk.
    pub cloud: TrunkSpec,
    /// Number of classes C.
    pub classes: usize,
    /// Number of hard classes H.
    pub hard: usize,
}

pub use meanet_core::training::Preset;

/// The stem stride that brings the shorter side of `[C, H, W]` to about 32 pixels (1 up to
/// 63 pixels a side, then powers of two).
pub fn stem_stride(shape: [usize; 3]) -> usize {
    let side = shape[1].min(shape[2]);
    let mut s = 1;
    while side / (s * 2) >= 32 {
        s *= 2;
    }
    s
}

impl Architecture {
    /// The networks of `preset` for inputs of `shape` with `classes` classes, `hard` of them
    /// hard; `cloud_depth` (6n + 2) is the cloud ResNet's depth for `resnet32`.
    pub fn new(
        preset: Preset,
        shape: [usize; 3],
        classes: usize,
        hard: usize,
        cloud_depth: usize,
    ) -> Result<Self, String> {
        let [channels, h, w] = shape;
        let stride = stem_stride(shape);
        let reductions = match preset {
            Preset::Tiny => 1,
            Preset::Small | Preset::Resnet32 => 2,
        };
        if h.min(w) / stride < 1 << reductions {
            return Err(format!(
                "input {h}x{w} is too small for the {preset} preset (at least {} pixels a side)",
                1 << reductions
            ));
        }
        let trunk = |stem, blocks: Vec<(usize, usize)>| TrunkSpec {
            input: channels,
            stem,
            stem_stride: stride,
            blocks,
        };
        Ok(match preset {
            Preset::Small => Architecture {
                main: trunk(8, vec![(8, 1), (16, 2), (32, 2)]),
                adaptive: trunk(8, vec![(16, 2), (32, 2)]),
                extension: vec![(32, 1), (32, 1)],
                cloud: trunk(32, vec![(64, 2), (128, 2)]),
                classes,
                hard,
            },
            Preset::Resnet32 => {
                if cloud_depth < 8 || !(cloud_depth - 2).is_multiple_of(6) {
                    return Err(format!(
                        "cloud depth {cloud_depth} is not a CIFAR ResNet depth 6n + 2 (20, 32, 44, 56, 110, ...)"
                    ));
                }
                Architecture {
                    main: TrunkSpec::cifar_resnet(channels, stride, 5),
                    adaptive: trunk(16, vec![(16, 1), (32, 2), (64, 2)]),
                    extension: vec![(64, 1); 4],
                    cloud: TrunkSpec::cifar_resnet(channels, stride, (cloud_depth - 2) / 6),
                    classes,
                    hard,
                }
            }
            Preset::Tiny => Architecture {
                main: trunk(4, vec![(8, 2)]),
                adaptive: trunk(4, vec![(8, 2)]),
                extension: vec![(8, 1)],
                cloud: trunk(8, vec![(16, 2)]),
                classes,
                hard,
            },
        })
    }
}

/// The main block M: logits over all classes and its last feature map.
#[derive(Module, Debug)]
pub struct MainNet {
    /// The trunk producing `F_M`.
    pub trunk: Trunk,
    /// Classifier on the pooled features.
    pub fc: Linear,
}

impl MainNet {
    /// A freshly initialised main block.
    pub fn new(arch: &Architecture, device: &Device) -> Self {
        MainNet {
            trunk: Trunk::new(&arch.main, device),
            fc: LinearConfig::new(arch.main.out_channels(), arch.classes).init(device),
        }
    }

    /// `(logits [N, C], features [N, C_f, h, w])`.
    pub fn forward(&self, x: Tensor<4>) -> (Tensor<2>, Tensor<4>) {
        let f = self.trunk.forward(x);
        (self.fc.forward(pool(f.clone())), f)
    }
}

/// The adaptive block A and extension block X: `X(concat(F_M, A(x)))` -> hard logits.
#[derive(Module, Debug)]
pub struct ExtensionNet {
    /// Adaptive block A on the raw input.
    pub adaptive: Trunk,
    /// Extension blocks on the concatenation.
    pub blocks: Vec<ResBlock>,
    /// Classifier over the hard classes.
    pub fc: Linear,
}

impl ExtensionNet {
    /// A freshly initialised adaptive + extension block.
    pub fn new(arch: &Architecture, device: &Device) -> Self {
        let mut cin = arch.main.out_channels() + arch.adaptive.out_channels();
        let blocks = arch
            .extension
            .iter()
            .map(|&(cout, stride)| {
                let b = ResBlock::new(cin, cout, stride, device);
                cin = cout;
                b
            })
            .collect();
        ExtensionNet {
            adaptive: Trunk::new(&arch.adaptive, device),
            blocks,
            fc: LinearConfig::new(cin, arch.hard).init(device),
        }
    }

    /// Hard logits `[N, H]` from the raw input and the main feature map.
    pub fn forward(&self, x: Tensor<4>, features: Tensor<4>) -> Tensor<2> {
        let a = self.adaptive.forward(x);
        let mut y = Tensor::cat(vec![features, a], 1);
        for b in &self.blocks {
            y = b.forward(y);
        }
        self.fc.forward(pool(y))
    }
}

/// The cloud model: a larger residual network on all classes.
#[derive(Module, Debug)]
pub struct CloudNet {
    /// The trunk.
    pub trunk: Trunk,
    /// Classifier.
    pub fc: Linear,
}

impl CloudNet {
    /// A freshly initialised cloud model.
    pub fn new(arch: &Architecture, device: &Device) -> Self {
        CloudNet {
            trunk: Trunk::new(&arch.cloud, device),
            fc: LinearConfig::new(arch.cloud.out_channels(), arch.classes).init(device),
        }
    }

    /// Logits `[N, C]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.fc.forward(pool(self.trunk.forward(x)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resnet32_has_the_published_shape() {
        let a = Architecture::new(Preset::Resnet32, [3, 32, 32], 100, 50, 110).unwrap();
        // 1 stem + 15 blocks x 2 convs + FC = 32 layers; 110 = 1 + 54 x 2 + 1.
        assert_eq!(a.main.blocks.len() * 2 + 2, 32);
        assert_eq!(a.cloud.blocks.len() * 2 + 2, 110);
        assert_eq!(a.main.out_channels(), 64);
        assert_eq!(a.main.blocks.iter().filter(|b| b.1 == 2).count(), 2);
        assert_eq!(a.adaptive.blocks, vec![(16, 1), (32, 2), (64, 2)]);
        assert_eq!(a.extension.len(), 4);
        assert!(Architecture::new(Preset::Resnet32, [3, 32, 32], 100, 50, 100).is_err());
    }

    #[test]
    fn sizes_follow_the_input_shape() {
        assert_eq!(stem_stride([1, 28, 28]), 1);
        assert_eq!(stem_stride([3, 32, 32]), 1);
        assert_eq!(stem_stride([3, 64, 64]), 2);
        assert_eq!(stem_stride([3, 224, 224]), 4);
        let a = Architecture::new(Preset::Small, [3, 96, 128], 10, 5, 110).unwrap();
        assert_eq!((a.main.stem_stride, a.main.input), (2, 3));
        assert_eq!(a.main.stem_stride, a.adaptive.stem_stride);
        let e = Architecture::new(Preset::Small, [1, 3, 3], 10, 5, 110).unwrap_err();
        assert!(e.contains("3x3 is too small"), "{e}");
    }
}
