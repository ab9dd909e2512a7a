//! `[dataset]` and `[split]`: the data set a bundle was trained on, how its images become
//! squares, and the train/validation split calibration reuses.

use serde::{Deserialize, Serialize};

/// A data-set format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    /// Fashion-MNIST IDX files.
    FashionMnist,
    /// MNIST IDX files.
    Mnist,
    /// CIFAR-10, binary version.
    Cifar10,
    /// CIFAR-100, binary version, fine labels.
    Cifar100,
    /// An image-folder tree: `train/<class>/*`, `test/<class>/*` (or `val/`).
    Folder,
}

impl DatasetKind {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: [DatasetKind; 5] = [
        DatasetKind::FashionMnist,
        DatasetKind::Mnist,
        DatasetKind::Cifar10,
        DatasetKind::Cifar100,
        DatasetKind::Folder,
    ];

    /// The name used on the command line and in manifests.
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::FashionMnist => "fashion-mnist",
            DatasetKind::Mnist => "mnist",
            DatasetKind::Cifar10 => "cifar10",
            DatasetKind::Cifar100 => "cifar100",
            DatasetKind::Folder => "folder",
        }
    }
}

impl std::fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown data-set name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown data set {0:?} (expected fashion-mnist, mnist, cifar10, cifar100 or folder)")]
pub struct UnknownDataset(pub String);

impl std::str::FromStr for DatasetKind {
    type Err = UnknownDataset;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DatasetKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownDataset(s.to_string()))
    }
}

/// The `[dataset]` section: which data set, where it was read from and how images were sized.
/// Class names, input shape and the normalisation (computed on the training split) are the
/// manifest's `classes` and `[input]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// The format.
    pub kind: DatasetKind,
    /// The directory it was read from (absent: Fashion-MNIST's default location).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<std::path::PathBuf>,
    /// Side images were resized to (image folders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_size: Option<u32>,
    /// How images were resized to it (image folders; absent: [`Resize::default_for`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize: Option<Resize>,
}

/// How a folder's images of any size become `image_size x image_size` samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resize {
    /// Resize to the square, whatever the aspect ratio (small images, such as CIFAR-sized
    /// ones); training adds random 2-pixel shifts and flips.
    Stretch,
    /// The ImageNet convention: evaluation resizes the shorter side to `image_size x 256 / 224`
    /// and crops the centre square; training takes a random-resized crop (8% to 100% of the
    /// area, aspect ratio 3/4 to 4/3) and flips half the images, seeded.
    Crop,
}

impl Resize {
    /// Every way to resize.
    pub const ALL: [Resize; 2] = [Resize::Stretch, Resize::Crop];

    /// The default for images resized to `image_size`: `crop` from 128 pixels up (ImageNet
    /// sizes), `stretch` below.
    pub fn default_for(image_size: u32) -> Resize {
        if image_size >= 128 {
            Resize::Crop
        } else {
            Resize::Stretch
        }
    }

    /// The name used on the command line and in settings.
    pub fn name(self) -> &'static str {
        match self {
            Resize::Stretch => "stretch",
            Resize::Crop => "crop",
        }
    }
}

impl std::fmt::Display for Resize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Resize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Resize::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| format!("unknown resize {s:?} (stretch, crop)"))
    }
}

/// A seeded, stratified train/validation split of a training set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitSpec {
    /// Seed of the split.
    pub seed: u64,
    /// Fraction held out for validation.
    pub validation: f64,
}
