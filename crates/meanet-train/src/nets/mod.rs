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
//!
//! One file per block family, as tract keeps one per operator family: [`layers`] (conv + BN),
//! [`residual`] (basic and bottleneck blocks), [`inverted`] (MobileNetV2's block), [`trunk`]
//! (stems, blocks and heads), [`presets`] (the architectures) and [`meanet`] (M, A + X, cloud).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::{relu, relu6};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

pub mod inverted;
pub mod layers;
pub mod meanet;
pub mod presets;
pub mod residual;
pub mod trunk;

pub use inverted::*;
pub use layers::*;
pub use meanet::*;
pub use presets::*;
pub use residual::*;
pub use trunk::*;

#[cfg(test)]
mod tests;
