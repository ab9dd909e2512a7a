//! Data sets: loaders for real formats, the seeded stratified split, and fetching Fashion-MNIST.
//!
//! Images are kept as `u8` pixels, `[C, H, W]` per sample, and normalised when batched.

mod cifar;
mod fetch;
mod folder;
mod idx;
mod source;
mod split;
mod stream;
pub mod synthetic;

use std::path::PathBuf;
use std::sync::Arc;

pub use cifar::{CifarKind, load_cifar, parse_cifar};
pub use fetch::{FASHION_MNIST_CLASSES, cache_root, default_dataset_cache, locate_fashion_mnist};
pub use folder::{load_image_folder, load_image_folder_flat};
pub use idx::{MAX_IDX_BYTES, load_idx, load_idx_pair, parse_idx};
pub use source::{
    DEFAULT_IMAGE_SIZE, DataSource, DatasetKind, MAX_IMAGE_SIZE, Splits, UnknownDataset,
    fashion_mnist,
};
pub use split::stratified_split;
pub use stream::{Batch, Batches, ImageFiles, MAX_IMAGE_FILE, PREFETCH, Resize};

/// A class label: wide enough for ImageNet's 1,000 classes and any folder of up to 65,536.
pub type Label = u16;

/// A labelled image set: pixels in memory (IDX, CIFAR, small folders), or image files read
/// lazily, batch by batch, in parallel (folders: see [`Batches`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// Labels, one per sample (below `classes.len()`).
    pub labels: Vec<Label>,
    /// `[C, H, W]`.
    pub shape: [usize; 3],
    /// Class names in label order.
    pub classes: Vec<String>,
    pixels: Pixels,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pixels {
    /// `len() * C * H * W` bytes, sample-major.
    Memory(Arc<[u8]>),
    /// One file per sample.
    Files(stream::SharedFiles),
}

impl Dataset {
    /// A set in memory: `pixels` holds `labels.len()` samples of `shape`, sample-major.
    pub fn from_pixels(
        pixels: Vec<u8>,
        labels: Vec<Label>,
        shape: [usize; 3],
        classes: Vec<String>,
    ) -> Result<Dataset, DataError> {
        let want = shape
            .iter()
            .try_fold(labels.len(), |n, d| n.checked_mul(*d))
            .ok_or_else(|| {
                DataError::Mismatch(format!("{} samples of {shape:?} overflow", labels.len()))
            })?;
        if pixels.len() != want {
            return Err(DataError::Mismatch(format!(
                "{} bytes of pixels are not {} samples of {shape:?} ({want} bytes)",
                pixels.len(),
                labels.len()
            )));
        }
        Ok(Dataset {
            labels,
            shape,
            classes,
            pixels: Pixels::Memory(pixels.into()),
        })
    }

    /// A set read lazily from `files`, one per label.
    pub fn from_files(
        files: ImageFiles,
        labels: Vec<Label>,
        classes: Vec<String>,
    ) -> Result<Dataset, DataError> {
        if files.paths.len() != labels.len() {
            return Err(DataError::Mismatch(format!(
                "{} image files for {} labels",
                files.paths.len(),
                labels.len()
            )));
        }
        let side = files.side as usize;
        Ok(Dataset {
            labels,
            shape: [files.channels, side, side],
            classes,
            pixels: Pixels::Files(Arc::new(files)),
        })
    }

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

    /// The pixels of a set in memory (`None` for files read lazily: use [`Dataset::read`] or
    /// [`Dataset::batches`]).
    pub fn pixels(&self) -> Option<&[u8]> {
        match &self.pixels {
            Pixels::Memory(p) => Some(p),
            Pixels::Files(_) => None,
        }
    }

    /// The image files of a lazily read set.
    pub fn files(&self) -> Option<stream::SharedFiles> {
        match &self.pixels {
            Pixels::Memory(_) => None,
            Pixels::Files(f) => Some(Arc::clone(f)),
        }
    }

    /// Whether reading with a seed already augments (random-resized crops and flips of
    /// [`Resize::Crop`] files), so a trainer adds no shifts of its own.
    pub fn augments_when_read(&self) -> bool {
        matches!(&self.pixels, Pixels::Files(f) if f.resize == Resize::Crop)
    }

    /// The pixels of the samples `idx`, in order (files: decoded in parallel, the evaluation
    /// transform).
    pub fn read(&self, idx: &[usize]) -> Result<Vec<u8>, DataError> {
        self.read_seeded(idx, None)
    }

    /// As [`Dataset::read`]; with `seed`, files get the training transform.
    pub fn read_seeded(&self, idx: &[usize], seed: Option<u64>) -> Result<Vec<u8>, DataError> {
        match &self.pixels {
            Pixels::Memory(p) => {
                let n = self.sample_len();
                let mut out = Vec::with_capacity(idx.len().saturating_mul(n));
                for &i in idx {
                    let s = i
                        .checked_mul(n)
                        .and_then(|a| p.get(a..a.checked_add(n)?))
                        .ok_or_else(|| {
                            DataError::Mismatch(format!(
                                "sample {i} is not in this set of {}",
                                self.len()
                            ))
                        })?;
                    out.extend_from_slice(s);
                }
                Ok(out)
            }
            Pixels::Files(f) => f.read(idx, seed),
        }
    }

    /// The samples `order` in batches of `batch`, read ahead ([`PREFETCH`] batches) on a
    /// background thread for files. With `seed`, files get the training transform.
    pub fn batches(&self, order: &[usize], batch: usize, seed: Option<u64>) -> Batches {
        Batches::new(self, order, batch, seed)
    }

    /// A new set with the samples at `indices`, in that order (files: the file list only).
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let pixels = match &self.pixels {
            Pixels::Memory(_) => {
                // Indices come from this set's own length.
                Pixels::Memory(self.read(indices).unwrap_or_default().into())
            }
            Pixels::Files(f) => Pixels::Files(Arc::new(ImageFiles {
                paths: indices
                    .iter()
                    .filter_map(|&i| f.paths.get(i).cloned())
                    .collect(),
                ..ImageFiles::clone(f)
            })),
        };
        Dataset {
            labels: indices
                .iter()
                .filter_map(|&i| self.labels.get(i).copied())
                .collect(),
            shape: self.shape,
            classes: self.classes.clone(),
            pixels,
        }
    }

    /// `n` samples spread evenly over the set (all when `n >= len()`): class folders are read
    /// in class order, so the first `n` would be the first classes only.
    pub fn take(&self, n: usize) -> Dataset {
        let len = self.len();
        if n >= len {
            return self.clone();
        }
        let idx: Vec<usize> = (0..n).map(|i| i * len / n).collect();
        self.subset(&idx)
    }

    /// Per-channel mean and standard deviation of pixels scaled to `[0, 1]`: over every sample
    /// of a set in memory, and over at most [`STATS_SAMPLES`] spread evenly over a set read
    /// from files (decoding all of ImageNet for two numbers per channel is an epoch).
    pub fn channel_stats(&self) -> Result<(Vec<f32>, Vec<f32>), DataError> {
        let [c, h, w] = self.shape;
        let plane = h * w;
        let mut mean = vec![0f64; c];
        let mut sq = vec![0f64; c];
        let mut count = 0usize;
        let set = match self.pixels {
            Pixels::Memory(_) => self.clone(),
            Pixels::Files(_) => self.take(STATS_SAMPLES),
        };
        let order: Vec<usize> = (0..set.len()).collect();
        for batch in set.batches(&order, 256, None) {
            let batch = batch?;
            for px in batch.pixels.chunks(self.sample_len().max(1)) {
                for ch in 0..c {
                    for &v in &px[ch * plane..(ch + 1) * plane] {
                        let v = f64::from(v) / 255.0;
                        mean[ch] += v;
                        sq[ch] += v * v;
                    }
                }
                count += 1;
            }
        }
        let n = (count * plane).max(1) as f64;
        let mean_out: Vec<f32> = mean.iter().map(|m| (m / n) as f32).collect();
        let std_out = mean
            .iter()
            .zip(&sq)
            .map(|(m, s)| ((s / n - (m / n).powi(2)).max(1e-12)).sqrt() as f32)
            .collect();
        Ok((mean_out, std_out))
    }
}

/// The most samples [`Dataset::channel_stats`] decodes from a set read from files.
pub const STATS_SAMPLES: usize = 10_000;

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
