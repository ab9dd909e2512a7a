//! Data sets: loaders for real formats, the seeded stratified split, and fetching Fashion-MNIST.
//!
//! Images are kept as `u8` pixels, `[C, H, W]` per sample, and normalised when batched.

mod cifar;
mod fetch;
mod folder;
mod idx;
mod source;
mod split;

use std::path::PathBuf;

pub use cifar::{CifarKind, load_cifar, parse_cifar};
pub use fetch::{FASHION_MNIST_CLASSES, cache_root, default_dataset_cache, locate_fashion_mnist};
pub use folder::{load_image_folder, load_image_folder_flat};
pub use idx::{MAX_IDX_BYTES, load_idx, load_idx_pair, parse_idx};
pub use source::{
    DEFAULT_IMAGE_SIZE, DataSource, DatasetKind, MAX_IMAGE_SIZE, Splits, UnknownDataset,
    fashion_mnist,
};
pub use split::stratified_split;

/// A class label: wide enough for ImageNet's 1,000 classes and any folder of up to 65,536.
pub type Label = u16;

/// A labelled image set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// Pixels, `len() * C * H * W` bytes, sample-major.
    pub pixels: Vec<u8>,
    /// Labels, one per sample (below `classes.len()`).
    pub labels: Vec<Label>,
    /// `[C, H, W]`.
    pub shape: [usize; 3],
    /// Class names in label order.
    pub classes: Vec<String>,
}

impl Dataset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set has no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per sample.
    pub fn sample_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// The pixels of sample `i`.
    pub fn sample(&self, i: usize) -> &[u8] {
        let n = self.sample_len();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// A new set with the samples at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let mut pixels = Vec::with_capacity(indices.len() * self.sample_len());
        for &i in indices {
            pixels.extend_from_slice(self.sample(i));
        }
        Dataset {
            pixels,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            shape: self.shape,
            classes: self.classes.clone(),
        }
    }

    /// The first `n` samples (or all).
    pub fn take(&self, n: usize) -> Dataset {
        let idx: Vec<usize> = (0..n.min(self.len())).collect();
        self.subset(&idx)
    }

    /// Per-channel mean and standard deviation of pixels scaled to `[0, 1]`.
    pub fn channel_stats(&self) -> (Vec<f32>, Vec<f32>) {
        let [c, h, w] = self.shape;
        let plane = h * w;
        let mut mean = vec![0f64; c];
        let mut sq = vec![0f64; c];
        for s in 0..self.len() {
            let px = self.sample(s);
            for ch in 0..c {
                for &v in &px[ch * plane..(ch + 1) * plane] {
                    let v = f64::from(v) / 255.0;
                    mean[ch] += v;
                    sq[ch] += v * v;
                }
            }
        }
        let n = (self.len() * plane).max(1) as f64;
        let mean_out: Vec<f32> = mean.iter().map(|m| (m / n) as f32).collect();
        let std_out = mean
            .iter()
            .zip(&sq)
            .map(|(m, s)| ((s / n - (m / n).powi(2)).max(1e-12)).sqrt() as f32)
            .collect();
        (mean_out, std_out)
    }
}

/// Why a data set could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("could not read {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file's content is not what its format requires.
    #[error("{path}: {reason} (at byte {offset})")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Byte offset of the problem.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// Two files that belong together disagree.
    #[error("{0}")]
    Mismatch(String),
    /// An image in a folder tree could not be decoded.
    #[error("could not decode image {path}")]
    Image {
        /// The image.
        path: PathBuf,
        /// Why.
        #[source]
        source: image::ImageError,
    },
    /// Fetching a data set failed.
    #[error("could not fetch {name}: {reason}")]
    Fetch {
        /// The data set.
        name: String,
        /// What was tried and what failed.
        reason: String,
    },
}
