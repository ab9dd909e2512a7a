//! The presets: each network's architecture sized from the input shape and class count.

use super::*;

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
