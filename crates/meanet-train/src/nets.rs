//! The four networks, as residual CNNs sized for the data (shapes as in MEANET.md, scaled to
//! 28x28 inputs): main block M, adaptive block A + extension block X (one module, since they are
//! trained together), and the cloud model.

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
    /// Blocks as `(out_channels, stride)`.
    pub blocks: Vec<(usize, usize)>,
}

impl TrunkSpec {
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
            stem: ConvBn::new(spec.input, spec.stem, 3, 1, device),
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

impl Architecture {
    /// The reference sizes for 1x28x28 inputs (Fashion-MNIST): feature maps of 7x7.
    pub fn for_28x28(channels: usize, classes: usize, hard: usize) -> Self {
        Architecture {
            main: TrunkSpec {
                input: channels,
                stem: 8,
                blocks: vec![(8, 1), (16, 2), (32, 2)],
            },
            adaptive: TrunkSpec {
                input: channels,
                stem: 8,
                blocks: vec![(16, 2), (32, 2)],
            },
            extension: vec![(32, 1), (32, 1)],
            cloud: TrunkSpec {
                input: channels,
                stem: 32,
                blocks: vec![(64, 2), (128, 2)],
            },
            classes,
            hard,
        }
    }

    /// Tiny networks for smoke tests.
    pub fn tiny(channels: usize, classes: usize, hard: usize) -> Self {
        Architecture {
            main: TrunkSpec {
                input: channels,
                stem: 4,
                blocks: vec![(8, 2)],
            },
            adaptive: TrunkSpec {
                input: channels,
                stem: 4,
                blocks: vec![(8, 2)],
            },
            extension: vec![(8, 1)],
            cloud: TrunkSpec {
                input: channels,
                stem: 8,
                blocks: vec![(16, 2)],
            },
            classes,
            hard,
        }
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
