//! Residual blocks of the ResNets: the basic block and the bottleneck.

use super::*;

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
    pub(crate) fn new(cin: usize, cout: usize, stride: usize, device: &Device) -> Self {
        ResBlock {
            a: ConvBn::new(cin, cout, 3, stride, device),
            b: ConvBn::new(cout, cout, 3, 1, device),
            short: (stride != 1 || cin != cout).then(|| ConvBn::new(cin, cout, 1, stride, device)),
        }
    }

    pub(crate) fn forward(&self, x: Tensor<4>) -> Tensor<4> {
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
    pub(crate) fn new(cin: usize, width: usize, stride: usize, device: &Device) -> Self {
        let cout = width * 4;
        Bottleneck {
            a: ConvBn::new(cin, width, 1, 1, device),
            b: ConvBn::new(width, width, 3, stride, device),
            c: ConvBn::new(width, cout, 1, 1, device),
            short: (stride != 1 || cin != cout).then(|| ConvBn::new(cin, cout, 1, stride, device)),
        }
    }

    pub(crate) fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = relu(self.a.forward(x.clone()));
        let y = self.c.forward(relu(self.b.forward(y)));
        let s = match &self.short {
            Some(p) => p.forward(x),
            None => x,
        };
        relu(y + s)
    }
}
