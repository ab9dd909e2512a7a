//! The four networks, as residual CNNs sized for the data: main block M, adaptive block A +
//! extension block X (one module, since they are trained together), and the cloud model.
//!
//! Five presets ([`Preset`]):
//! - `small` (the reference networks, feature maps of 7x7 at 28x28), `resnet32` (the paper's
//!   CIFAR configuration, docs/method.md) and `tiny` (tests) are sized from the input shape: inputs
//!   larger than 32 pixels a side get a strided stem, so the trunks work at about 32x32.
//! - `mobilenetv2` and `resnet18` are the paper's ImageNet configuration: the published
//!   networks, for 224x224 inputs (any side of at least 32 works; the feature map is the input
//!   side / 32), any class count, and an ImageNet ResNet in the cloud (ResNet-50 by default).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::{relu, relu6};
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
        Self::grouped(cin, cout, k, stride, 1, device)
    }

    /// A convolution in `groups` groups (`groups == cin == cout`: depthwise), padding `k / 2`.
    fn grouped(
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        groups: usize,
        device: &Device,
    ) -> Self {
        let p = k / 2;
        ConvBn {
            conv: Conv2dConfig::new([cin, cout], [k, k])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                .with_groups(groups)
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

/// A ResNet bottleneck block (v1.5, as torchvision: the stride on the 3x3): 1x1 conv-BN-ReLU to
/// `width`, 3x3 conv-BN-ReLU, 1x1 conv-BN to `4 x width`, plus the input (projected when the
/// shape changes), then ReLU.
#[derive(Module, Debug)]
pub struct Bottleneck {
    /// The 1x1 reduction.
    pub a: ConvBn,
    /// The 3x3 conv (strided).
    pub b: ConvBn,
    /// The 1x1 expansion.
    pub c: ConvBn,
    /// Projection shortcut.
    pub short: Option<ConvBn>,
}

impl Bottleneck {
    fn new(cin: usize, width: usize, stride: usize, device: &Device) -> Self {
        let cout = width * 4;
        Bottleneck {
            a: ConvBn::new(cin, width, 1, 1, device),
            b: ConvBn::new(width, width, 3, stride, device),
            c: ConvBn::new(width, cout, 1, 1, device),
            short: (stride != 1 || cin != cout).then(|| ConvBn::new(cin, cout, 1, stride, device)),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = relu(self.a.forward(x.clone()));
        let y = self.c.forward(relu(self.b.forward(y)));
        let s = match &self.short {
            Some(p) => p.forward(x),
            None => x,
        };
        relu(y + s)
    }
}

/// A MobileNetV2 inverted residual block: 1x1 expansion conv-BN-ReLU6 (absent at expansion 1),
/// depthwise 3x3 conv-BN-ReLU6 (a grouped convolution, one group per channel), linear 1x1
/// projection conv-BN, plus the input when the shape is unchanged.
#[derive(Module, Debug)]
pub struct Inverted {
    /// The pointwise expansion.
    pub expand: Option<ConvBn>,
    /// The depthwise 3x3 conv (strided).
    pub depthwise: ConvBn,
    /// The linear pointwise projection.
    pub project: ConvBn,
    /// Whether the input is added (stride 1, same channels).
    pub residual: bool,
}

impl Inverted {
    fn new(cin: usize, expand: usize, cout: usize, stride: usize, device: &Device) -> Self {
        let hidden = cin * expand.max(1);
        Inverted {
            expand: (expand > 1).then(|| ConvBn::new(cin, hidden, 1, 1, device)),
            depthwise: ConvBn::grouped(hidden, hidden, 3, stride, hidden, device),
            project: ConvBn::new(hidden, cout, 1, 1, device),
            residual: stride == 1 && cin == cout,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut y = x.clone();
        if let Some(e) = &self.expand {
            y = relu6(e.forward(y));
        }
        let y = self.project.forward(relu6(self.depthwise.forward(y)));
        if self.residual { y + x } else { y }
    }
}

/// One block of a trunk.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // a few dozen per network, built once: size does not matter
pub enum Block {
    /// A ResNet basic block.
    Basic(ResBlock),
    /// A ResNet bottleneck block.
    Bottleneck(Bottleneck),
    /// A MobileNetV2 inverted residual block.
    Inverted(Inverted),
}

impl Block {
    fn new(spec: BlockSpec, cin: usize, device: &Device) -> Self {
        match spec {
            BlockSpec::Basic { out, stride } => {
                Block::Basic(ResBlock::new(cin, out, stride, device))
            }
            BlockSpec::Bottleneck { width, stride } => {
                Block::Bottleneck(Bottleneck::new(cin, width, stride, device))
            }
            BlockSpec::Inverted {
                expand,
                out,
                stride,
            } => Block::Inverted(Inverted::new(cin, expand, out, stride, device)),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Block::Basic(b) => b.forward(x),
            Block::Bottleneck(b) => b.forward(x),
            Block::Inverted(b) => b.forward(x),
        }
    }
}

/// The architecture of one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockSpec {
    /// A ResNet basic block: two 3x3 convs to `out` channels, the first with `stride`.
    Basic {
        /// Output channels.
        out: usize,
        /// Stride of the first conv.
        stride: usize,
    },
    /// A ResNet bottleneck block: 1x1 to `width`, 3x3 with `stride`, 1x1 to `4 x width`.
    Bottleneck {
        /// Channels of the 3x3 conv.
        width: usize,
        /// Its stride.
        stride: usize,
    },
    /// A MobileNetV2 inverted residual block: expansion `expand`, depthwise 3x3 with `stride`,
    /// projection to `out`.
    Inverted {
        /// Expansion factor (1: no expansion conv).
        expand: usize,
        /// Output channels.
        out: usize,
        /// Stride of the depthwise conv.
        stride: usize,
    },
}

impl BlockSpec {
    /// A basic block.
    pub fn basic(out: usize, stride: usize) -> Self {
        BlockSpec::Basic { out, stride }
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        match *self {
            BlockSpec::Basic { out, .. } | BlockSpec::Inverted { out, .. } => out,
            BlockSpec::Bottleneck { width, .. } => width * 4,
        }
    }

    /// The stride.
    pub fn stride(&self) -> usize {
        match *self {
            BlockSpec::Basic { stride, .. }
            | BlockSpec::Bottleneck { stride, .. }
            | BlockSpec::Inverted { stride, .. } => stride,
        }
    }
}

/// The activation of a trunk's stem and head (blocks have their own: ReLU in ResNet blocks,
/// ReLU6 in inverted residual blocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// `max(0, x)`.
    #[default]
    Relu,
    /// `min(max(0, x), 6)` (MobileNetV2).
    Relu6,
}

/// The architecture of one trunk: a stem conv (and, in ImageNet ResNets, a 3x3 max pool),
/// blocks, and an optional 1x1 head conv (MobileNetV2's 1280 channels).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrunkSpec {
    /// Input channels.
    pub input: usize,
    /// Stem output channels.
    pub stem: usize,
    /// Kernel side of the stem conv.
    #[serde(default = "three")]
    pub stem_kernel: usize,
    /// Stride of the stem conv.
    #[serde(default = "one")]
    pub stem_stride: usize,
    /// A 3x3 max pool with stride 2 after the stem.
    #[serde(default)]
    pub stem_pool: bool,
    /// The stem's and head's activation.
    #[serde(default)]
    pub activation: Activation,
    /// The blocks.
    pub blocks: Vec<BlockSpec>,
    /// Output channels of a final 1x1 conv-BN-activation.
    #[serde(default)]
    pub head: Option<usize>,
}

fn one() -> usize {
    1
}

fn three() -> usize {
    3
}

/// The ImageNet ResNet depths [`TrunkSpec::imagenet_resnet`] builds.
pub const IMAGENET_RESNETS: [usize; 5] = [18, 34, 50, 101, 152];

impl TrunkSpec {
    /// A trunk of basic blocks `(out_channels, stride)` after a 3x3 stem.
    fn basic(input: usize, stem: usize, stem_stride: usize, blocks: &[(usize, usize)]) -> Self {
        TrunkSpec {
            input,
            stem,
            stem_kernel: 3,
            stem_stride,
            stem_pool: false,
            activation: Activation::Relu,
            blocks: blocks
                .iter()
                .map(|&(c, s)| BlockSpec::basic(c, s))
                .collect(),
            head: None,
        }
    }

    /// A CIFAR ResNet trunk (He et al. 2016, section 4.2): a 16-channel stem and three stages
    /// of `n` basic blocks with 16, 32 and 64 channels, the last two starting with stride 2.
    /// Depth is `6n + 2` (ResNet-32: n = 5; ResNet-110: n = 18).
    pub fn cifar_resnet(input: usize, stem_stride: usize, n: usize) -> Self {
        let blocks: Vec<(usize, usize)> = [16, 32, 64]
            .into_iter()
            .enumerate()
            .flat_map(|(stage, c)| {
                (0..n).map(move |i| (c, if stage > 0 && i == 0 { 2 } else { 1 }))
            })
            .collect();
        Self::basic(input, 16, stem_stride, &blocks)
    }

    /// An ImageNet ResNet trunk (He et al. 2016, table 1; torchvision's, the stride of a
    /// bottleneck on its 3x3): 7x7 stem with stride 2, 3x3 max pool with stride 2, four stages
    /// of 64, 128, 256 and 512 channels (x4 with bottlenecks), the last three starting with
    /// stride 2. `depth` is one of [`IMAGENET_RESNETS`].
    pub fn imagenet_resnet(input: usize, depth: usize) -> Result<Self, String> {
        let (bottleneck, counts) = match depth {
            18 => (false, [2, 2, 2, 2]),
            34 => (false, [3, 4, 6, 3]),
            50 => (true, [3, 4, 6, 3]),
            101 => (true, [3, 4, 23, 3]),
            152 => (true, [3, 8, 36, 3]),
            _ => {
                return Err(format!(
                    "cloud depth {depth} is not an ImageNet ResNet depth (18, 34, 50, 101, 152)"
                ));
            }
        };
        let blocks = [64, 128, 256, 512]
            .into_iter()
            .zip(counts)
            .enumerate()
            .flat_map(|(stage, (c, n))| {
                (0..n).map(move |i| {
                    let stride = if stage > 0 && i == 0 { 2 } else { 1 };
                    if bottleneck {
                        BlockSpec::Bottleneck { width: c, stride }
                    } else {
                        BlockSpec::basic(c, stride)
                    }
                })
            })
            .collect();
        Ok(TrunkSpec {
            input,
            stem: 64,
            stem_kernel: 7,
            stem_stride: 2,
            stem_pool: true,
            activation: Activation::Relu,
            blocks,
            head: None,
        })
    }

    /// MobileNetV2 at width 1.0 (Sandler et al. 2018, table 2): a 32-channel 3x3 stem with
    /// stride 2, seventeen inverted residual blocks, and the 1280-channel 1x1 head, all ReLU6.
    pub fn mobilenet_v2(input: usize) -> Self {
        // (expansion t, channels c, repeats n, first stride s)
        const SETTINGS: [(usize, usize, usize, usize); 7] = [
            (1, 16, 1, 1),
            (6, 24, 2, 2),
            (6, 32, 3, 2),
            (6, 64, 4, 2),
            (6, 96, 3, 1),
            (6, 160, 3, 2),
            (6, 320, 1, 1),
        ];
        let blocks = SETTINGS
            .into_iter()
            .flat_map(|(t, c, n, s)| {
                (0..n).map(move |i| BlockSpec::Inverted {
                    expand: t,
                    out: c,
                    stride: if i == 0 { s } else { 1 },
                })
            })
            .collect();
        TrunkSpec {
            input,
            stem: 32,
            stem_kernel: 3,
            stem_stride: 2,
            stem_pool: false,
            activation: Activation::Relu6,
            blocks,
            head: Some(1280),
        }
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.head
            .or_else(|| self.blocks.last().map(BlockSpec::out_channels))
            .unwrap_or(self.stem)
    }

    /// How many times the trunk halves its input (stem, pool and strided blocks).
    pub fn reductions(&self) -> u32 {
        let halvings = |s: usize| s.max(1).trailing_zeros();
        halvings(self.stem_stride)
            + u32::from(self.stem_pool)
            + self
                .blocks
                .iter()
                .map(|b| halvings(b.stride()))
                .sum::<u32>()
    }
}

fn activate(x: Tensor<4>, relu6_: bool) -> Tensor<4> {
    if relu6_ { relu6(x) } else { relu(x) }
}

/// A stem, blocks and an optional head.
#[derive(Module, Debug)]
pub struct Trunk {
    /// The stem conv-BN (the activation follows).
    pub stem: ConvBn,
    /// The max pool after the stem.
    pub pool: Option<MaxPool2d>,
    /// The blocks.
    pub blocks: Vec<Block>,
    /// The 1x1 head conv-BN (the activation follows).
    pub head: Option<ConvBn>,
    /// Whether the stem and head use ReLU6 rather than ReLU.
    pub relu6: bool,
}

impl Trunk {
    fn new(spec: &TrunkSpec, device: &Device) -> Self {
        let mut cin = spec.stem;
        let blocks = spec
            .blocks
            .iter()
            .map(|&b| {
                let block = Block::new(b, cin, device);
                cin = b.out_channels();
                block
            })
            .collect();
        Trunk {
            stem: ConvBn::new(
                spec.input,
                spec.stem,
                spec.stem_kernel,
                spec.stem_stride.max(1),
                device,
            ),
            pool: spec.stem_pool.then(|| {
                MaxPool2dConfig::new([3, 3])
                    .with_strides([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init()
            }),
            blocks,
            head: spec.head.map(|c| ConvBn::new(cin, c, 1, 1, device)),
            relu6: spec.activation == Activation::Relu6,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut x = activate(self.stem.forward(x), self.relu6);
        if let Some(p) = &self.pool {
            x = p.forward(x);
        }
        for b in &self.blocks {
            x = b.forward(x);
        }
        match &self.head {
            Some(h) => activate(h.forward(x), self.relu6),
            None => x,
        }
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
    /// Extension blocks on `concat(F_M, F_A)`.
    pub extension: Vec<BlockSpec>,
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
    /// hard; `cloud_depth` is the cloud ResNet's depth (`resnet32`: 6n + 2, default 110;
    /// `mobilenetv2` and `resnet18`: one of [`IMAGENET_RESNETS`], default 50; the other presets
    /// take none).
    pub fn new(
        preset: Preset,
        shape: [usize; 3],
        classes: usize,
        hard: usize,
        cloud_depth: Option<usize>,
    ) -> Result<Self, String> {
        let [channels, h, w] = shape;
        let imagenet = matches!(preset, Preset::Mobilenetv2 | Preset::Resnet18);
        let stride = if imagenet { 1 } else { stem_stride(shape) };
        let reductions = match preset {
            Preset::Tiny => 1,
            Preset::Small | Preset::Resnet32 => 2,
            Preset::Mobilenetv2 | Preset::Resnet18 => 5,
        };
        if h.min(w) / stride < 1 << reductions {
            return Err(format!(
                "input {h}x{w} is too small for the {preset} preset (at least {} pixels a side)",
                1 << reductions
            ));
        }
        if let (Some(d), Preset::Small | Preset::Tiny) = (cloud_depth, preset) {
            return Err(format!(
                "cloud depth {d}: the {preset} preset has a fixed cloud model (resnet32 takes 6n + 2, mobilenetv2 and resnet18 take 18, 34, 50, 101 or 152)"
            ));
        }
        let trunk =
            |stem, blocks: &[(usize, usize)]| TrunkSpec::basic(channels, stem, stride, blocks);
        let basic = |blocks: &[(usize, usize)]| -> Vec<BlockSpec> {
            blocks
                .iter()
                .map(|&(c, s)| BlockSpec::basic(c, s))
                .collect()
        };
        Ok(match preset {
            Preset::Small => Architecture {
                main: trunk(8, &[(8, 1), (16, 2), (32, 2)]),
                adaptive: trunk(8, &[(16, 2), (32, 2)]),
                extension: basic(&[(32, 1), (32, 1)]),
                cloud: trunk(32, &[(64, 2), (128, 2)]),
                classes,
                hard,
            },
            Preset::Resnet32 => {
                let depth = cloud_depth.unwrap_or(110);
                if depth < 8 || !(depth - 2).is_multiple_of(6) {
                    return Err(format!(
                        "cloud depth {depth} is not a CIFAR ResNet depth 6n + 2 (20, 32, 44, 56, 110, ...)"
                    ));
                }
                Architecture {
                    main: TrunkSpec::cifar_resnet(channels, stride, 5),
                    adaptive: trunk(16, &[(16, 1), (32, 2), (64, 2)]),
                    extension: basic(&[(64, 1); 4]),
                    cloud: TrunkSpec::cifar_resnet(channels, stride, (depth - 2) / 6),
                    classes,
                    hard,
                }
            }
            Preset::Tiny => Architecture {
                main: trunk(4, &[(8, 2)]),
                adaptive: trunk(4, &[(8, 2)]),
                extension: basic(&[(8, 1)]),
                cloud: trunk(8, &[(16, 2)]),
                classes,
                hard,
            },
            Preset::Mobilenetv2 => Architecture {
                main: TrunkSpec::mobilenet_v2(channels),
                // MobileNetV2's parts at a fraction of its width: a 16-channel stem and four
                // strided inverted residual blocks (expansion 3) to the 7x7 map at 224.
                adaptive: TrunkSpec {
                    input: channels,
                    stem: 16,
                    stem_kernel: 3,
                    stem_stride: 2,
                    stem_pool: false,
                    activation: Activation::Relu6,
                    blocks: [24, 32, 64, 96]
                        .into_iter()
                        .map(|out| BlockSpec::Inverted {
                            expand: 3,
                            out,
                            stride: 2,
                        })
                        .collect(),
                    head: None,
                },
                // On concat(F_M, F_A) (1280 + 96 channels): a depthwise-separable block down
                // to 320 channels, then an inverted residual block at 320.
                extension: vec![
                    BlockSpec::Inverted {
                        expand: 1,
                        out: 320,
                        stride: 1,
                    },
                    BlockSpec::Inverted {
                        expand: 6,
                        out: 320,
                        stride: 1,
                    },
                ],
                cloud: TrunkSpec::imagenet_resnet(channels, cloud_depth.unwrap_or(50))?,
                classes,
                hard,
            },
            Preset::Resnet18 => Architecture {
                main: TrunkSpec::imagenet_resnet(channels, 18)?,
                // ResNet-18's design at half its width, to its 7x7 map at 224.
                adaptive: TrunkSpec {
                    stem: 32,
                    blocks: basic(&[(32, 1), (64, 2), (128, 2), (256, 2)]),
                    ..TrunkSpec::imagenet_resnet(channels, 18)?
                },
                // On concat(F_M, F_A) (512 + 256 channels): two basic blocks at 512.
                extension: basic(&[(512, 1), (512, 1)]),
                cloud: TrunkSpec::imagenet_resnet(channels, cloud_depth.unwrap_or(50))?,
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
    pub blocks: Vec<Block>,
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
            .map(|&b| {
                let block = Block::new(b, cin, device);
                cin = b.out_channels();
                block
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
        let a = Architecture::new(Preset::Resnet32, [3, 32, 32], 100, 50, Some(110)).unwrap();
        // 1 stem + 15 blocks x 2 convs + FC = 32 layers; 110 = 1 + 54 x 2 + 1.
        assert_eq!(a.main.blocks.len() * 2 + 2, 32);
        assert_eq!(a.cloud.blocks.len() * 2 + 2, 110);
        assert_eq!(a.main.out_channels(), 64);
        assert_eq!(a.main.blocks.iter().filter(|b| b.stride() == 2).count(), 2);
        let basic: Vec<BlockSpec> = [(16, 1), (32, 2), (64, 2)]
            .into_iter()
            .map(|(c, s)| BlockSpec::basic(c, s))
            .collect();
        assert_eq!(a.adaptive.blocks, basic);
        assert_eq!(a.extension.len(), 4);
        assert_eq!(
            Architecture::new(Preset::Resnet32, [3, 32, 32], 100, 50, None).unwrap(),
            a
        );
        assert!(Architecture::new(Preset::Resnet32, [3, 32, 32], 100, 50, Some(100)).is_err());
    }

    #[test]
    fn sizes_follow_the_input_shape() {
        assert_eq!(stem_stride([1, 28, 28]), 1);
        assert_eq!(stem_stride([3, 32, 32]), 1);
        assert_eq!(stem_stride([3, 64, 64]), 2);
        assert_eq!(stem_stride([3, 224, 224]), 4);
        let a = Architecture::new(Preset::Small, [3, 96, 128], 10, 5, None).unwrap();
        assert_eq!((a.main.stem_stride, a.main.input), (2, 3));
        assert_eq!(a.main.stem_stride, a.adaptive.stem_stride);
        let e = Architecture::new(Preset::Small, [1, 3, 3], 10, 5, None).unwrap_err();
        assert!(e.contains("3x3 is too small"), "{e}");
        let e = Architecture::new(Preset::Small, [1, 28, 28], 10, 5, Some(50)).unwrap_err();
        assert!(e.contains("fixed cloud model"), "{e}");
    }

    #[test]
    fn the_imagenet_presets_have_the_published_shapes() {
        let m = Architecture::new(Preset::Mobilenetv2, [3, 224, 224], 1000, 500, None).unwrap();
        assert_eq!(m.main.blocks.len(), 17);
        assert_eq!(m.main.out_channels(), 1280);
        assert_eq!(m.main.reductions(), 5);
        assert_eq!(m.adaptive.reductions(), 5, "A reaches F_M's 7x7");
        assert_eq!(
            m.cloud.blocks.len(),
            16,
            "ResNet-50: 3 + 4 + 6 + 3 bottlenecks"
        );
        assert_eq!(m.cloud.out_channels(), 2048);
        let r = Architecture::new(Preset::Resnet18, [3, 224, 224], 1000, 500, Some(34)).unwrap();
        assert_eq!(r.main.blocks.len(), 8);
        assert_eq!(r.main.out_channels(), 512);
        assert_eq!((r.main.reductions(), r.adaptive.reductions()), (5, 5));
        assert_eq!(
            r.cloud.blocks.len(),
            16,
            "ResNet-34: 3 + 4 + 6 + 3 basic blocks"
        );
        let e = Architecture::new(Preset::Resnet18, [3, 224, 224], 10, 5, Some(110)).unwrap_err();
        assert!(e.contains("18, 34, 50, 101, 152"), "{e}");
        let e = Architecture::new(Preset::Mobilenetv2, [3, 28, 28], 10, 5, None).unwrap_err();
        assert!(e.contains("at least 32 pixels"), "{e}");
    }

    #[test]
    fn the_imagenet_blocks_run_and_agree_on_the_feature_map_at_any_side() {
        let device = Device::flex();
        for preset in [Preset::Mobilenetv2, Preset::Resnet18] {
            for side in [32, 45] {
                let arch = Architecture::new(preset, [3, side, side], 4, 2, Some(18)).unwrap();
                let x = Tensor::<4>::zeros([1, 3, side, side], &device);
                let (logits, f) = MainNet::new(&arch, &device).forward(x.clone());
                assert_eq!(logits.dims(), [1, 4]);
                let hard = ExtensionNet::new(&arch, &device).forward(x, f);
                assert_eq!(hard.dims(), [1, 2], "{preset} at {side}");
            }
        }
    }
}
