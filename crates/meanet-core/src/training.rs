//! The choices that define complexity-aware training, as plain names: which measure picks the
//! hard classes, which network sizes, where training runs. The trainer (`meanet-train`) acts on
//! them; configuration files and flags name them.

use serde::{Deserialize, Serialize};

use crate::partition::{
    ClassPartition, HardClassSelector, PartitionError, WorstByPrecision, WorstByRecall,
};
use crate::stats::ConfusionMatrix;

/// The per-class measure hard classes are the worst at (docs/method.md, "Complexity-aware training", step 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HardBy {
    /// The main block's recall per class on the validation split.
    #[default]
    Recall,
    /// Its precision per class.
    Precision,
}

impl HardBy {
    /// The name used on the command line and in settings.
    pub fn name(self) -> &'static str {
        match self {
            HardBy::Recall => "recall",
            HardBy::Precision => "precision",
        }
    }

    /// The `count` classes worst by this measure in `cm`.
    pub fn select(
        self,
        count: usize,
        cm: &ConfusionMatrix,
    ) -> Result<ClassPartition, PartitionError> {
        match self {
            HardBy::Recall => WorstByRecall { count }.select(cm),
            HardBy::Precision => WorstByPrecision { count }.select(cm),
        }
    }
}

impl std::str::FromStr for HardBy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "recall" => Ok(HardBy::Recall),
            "precision" => Ok(HardBy::Precision),
            other => Err(format!("hard_by {other:?} must be recall or precision")),
        }
    }
}

/// Network sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// The reference networks: small residual CNNs, feature maps a quarter of the input side.
    #[default]
    #[serde(alias = "reference")]
    Small,
    /// The paper's CIFAR configuration: ResNet-32 main block, its adaptive and extension
    /// blocks, and a deeper CIFAR ResNet in the cloud (ResNet-110 by default).
    Resnet32,
    /// Tiny networks for smoke tests.
    Tiny,
    /// The paper's ImageNet configuration with a MobileNetV2 (width 1.0) main block, its
    /// adaptive and extension blocks, and an ImageNet ResNet in the cloud (ResNet-50 by default).
    Mobilenetv2,
    /// The paper's ImageNet configuration with a ResNet-18 main block.
    Resnet18,
}

impl Preset {
    /// Every preset.
    pub const ALL: [Preset; 5] = [
        Preset::Small,
        Preset::Resnet32,
        Preset::Tiny,
        Preset::Mobilenetv2,
        Preset::Resnet18,
    ];

    /// The name used on the command line and in settings.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Small => "small",
            Preset::Resnet32 => "resnet32",
            Preset::Tiny => "tiny",
            Preset::Mobilenetv2 => "mobilenetv2",
            Preset::Resnet18 => "resnet18",
        }
    }
}

impl std::fmt::Display for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Preset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "reference" => Ok(Preset::Small),
            _ => Preset::ALL
                .into_iter()
                .find(|p| p.name() == s)
                .ok_or_else(|| {
                    format!("unknown preset {s:?} (small, resnet32, tiny, mobilenetv2, resnet18)")
                }),
        }
    }
}

/// Where training runs: burn's Flex backend on the CPU (default), or a GPU backend compiled into
/// the trainer with the cargo feature of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrainDevice {
    /// burn's Flex backend, pure Rust on the CPU (SIMD, threads).
    #[default]
    Flex,
    /// burn's WGPU backend (Vulkan, Metal, DirectX), feature `wgpu`.
    Wgpu,
    /// burn's CUDA backend, feature `cuda`.
    Cuda,
}

impl TrainDevice {
    /// The name used on the command line and in settings.
    pub fn name(self) -> &'static str {
        match self {
            TrainDevice::Flex => "flex",
            TrainDevice::Wgpu => "wgpu",
            TrainDevice::Cuda => "cuda",
        }
    }
}

impl std::str::FromStr for TrainDevice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "flex" | "cpu" => Ok(TrainDevice::Flex),
            "wgpu" => Ok(TrainDevice::Wgpu),
            "cuda" => Ok(TrainDevice::Cuda),
            other => Err(format!("unknown device {other:?} (flex, wgpu, cuda)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_unknown_ones_list_the_choices() {
        for p in Preset::ALL {
            assert_eq!(p.name().parse::<Preset>(), Ok(p));
        }
        assert_eq!("reference".parse::<Preset>(), Ok(Preset::Small));
        assert!("huge".parse::<Preset>().unwrap_err().contains("resnet32"));
        assert_eq!("precision".parse::<HardBy>(), Ok(HardBy::Precision));
        assert!("f1".parse::<HardBy>().is_err());
        assert_eq!("cpu".parse::<TrainDevice>(), Ok(TrainDevice::Flex));
        assert!("tpu".parse::<TrainDevice>().unwrap_err().contains("wgpu"));
    }

    #[test]
    fn hard_by_picks_the_worst_classes_by_its_measure() {
        // Class 0: recall 1/2, precision 1/1. Class 1: recall 2/2, precision 2/3.
        let cm = ConfusionMatrix::from_pairs(2, [(0, 0), (0, 1), (1, 1), (1, 1)]).unwrap();
        assert_eq!(HardBy::Recall.select(1, &cm).unwrap().hard_classes(), &[0]);
        assert_eq!(
            HardBy::Precision.select(1, &cm).unwrap().hard_classes(),
            &[1]
        );
    }
}
