//! Trunks: a stem, blocks and an optional head, described by a [`TrunkSpec`] (what the
//! presets and a bundle's configuration hold) and built as a [`Trunk`].

use super::*;

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
    pub(crate) fn new(spec: BlockSpec, cin: usize, device: &Device) -> Self {
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

    pub(crate) fn forward(&self, x: Tensor<4>) -> Tensor<4> {
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
    pub(crate) fn basic(
        input: usize,
        stem: usize,
        stem_stride: usize,
        blocks: &[(usize, usize)],
    ) -> Self {
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
    pub(crate) fn new(spec: &TrunkSpec, device: &Device) -> Self {
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

    pub(crate) fn forward(&self, x: Tensor<4>) -> Tensor<4> {
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
