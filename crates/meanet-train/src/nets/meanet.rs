//! The MEANet networks: main block M, adaptive + extension block (trained together) and the
//! cloud model.

use super::*;

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
