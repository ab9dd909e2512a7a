//! The building block every network shares: a convolution with batch normalisation, and
//! the activation and pooling the trunks apply.

use super::*;

/// A convolution followed by batch normalisation.
#[derive(Module, Debug)]
pub struct ConvBn {
    /// The convolution (no bias: the batch norm has one).
    pub conv: Conv2d,
    /// The batch normalisation.
    pub bn: BatchNorm,
}

impl ConvBn {
    pub(crate) fn new(cin: usize, cout: usize, k: usize, stride: usize, device: &Device) -> Self {
        Self::grouped(cin, cout, k, stride, 1, device)
    }

    /// A convolution in `groups` groups (`groups == cin == cout`: depthwise), padding `k / 2`.
    pub(crate) fn grouped(
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

    pub(crate) fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.bn.forward(self.conv.forward(x))
    }
}

pub(crate) fn activate(x: Tensor<4>, relu6_: bool) -> Tensor<4> {
    if relu6_ { relu6(x) } else { relu(x) }
}

pub(crate) fn pool(x: Tensor<4>) -> Tensor<2> {
    let [n, c, _, _] = x.dims();
    x.mean_dim(3).mean_dim(2).reshape([n, c])
}
