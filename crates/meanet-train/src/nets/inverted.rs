//! MobileNetV2's inverted residual block.

use super::*;

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
    pub(crate) fn new(
        cin: usize,
        expand: usize,
        cout: usize,
        stride: usize,
        device: &Device,
    ) -> Self {
        let hidden = cin * expand.max(1);
        Inverted {
            expand: (expand > 1).then(|| ConvBn::new(cin, hidden, 1, 1, device)),
            depthwise: ConvBn::grouped(hidden, hidden, 3, stride, hidden, device),
            project: ConvBn::new(hidden, cout, 1, 1, device),
            residual: stride == 1 && cin == cout,
        }
    }

    pub(crate) fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut y = x.clone();
        if let Some(e) = &self.expand {
            y = relu6(e.forward(y));
        }
        let y = self.project.forward(relu6(self.depthwise.forward(y)));
        if self.residual { y + x } else { y }
    }
}
