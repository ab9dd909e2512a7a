//! Images read lazily from their files: decoded in parallel on a pool sized to the machine,
//! transformed per split ([`Resize`]), and prefetched a bounded number of batches ahead, so
//! memory does not grow with the number of images.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, OnceLock};

use image::DynamicImage;
use image::imageops::FilterType;
use rayon::prelude::*;

pub use meanet_core::manifest::Resize;

use crate::DataError;

/// Batches decoded ahead of the one being used.
pub const PREFETCH: usize = 2;

/// The largest image file read (bytes): a hostile file cannot make a decoder allocate more.
pub const MAX_IMAGE_FILE: u64 = 64 << 20;

/// The largest decoded image, in pixels (about a 16k x 16k photograph).
const MAX_PIXELS: u64 = 1 << 28;

/// Image files of one set and how each becomes a sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFiles {
    /// One file per sample, in sample order.
    pub paths: Vec<PathBuf>,
    /// The sample's side.
    pub side: u32,
    /// 1 (grayscale) or 3 (RGB).
    pub channels: usize,
    /// How images are resized.
    pub resize: Resize,
}

/// The decode pool: one thread per core, shared by every set; `None` when no thread could be
/// started, and then images decode on the calling thread.
fn pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("meanet-decode-{i}"))
            .build()
            .ok()
    })
    .as_ref()
}

/// A per-sample random source from a batch seed and the sample's position: the same sample
/// gets the same crop whichever thread decodes it.
fn sample_rng(seed: u64, i: usize) -> fastrand::Rng {
    fastrand::Rng::with_seed(seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

impl ImageFiles {
    /// Bytes per sample.
    pub fn sample_len(&self) -> usize {
        self.channels * (self.side as usize) * (self.side as usize)
    }

    /// Decodes the samples `idx` into one buffer, in order, in parallel. With `seed`, the
    /// training transform (random-resized crop and flip for [`Resize::Crop`]; the same as
    /// evaluation for [`Resize::Stretch`], whose shifts the trainer adds).
    pub fn read(&self, idx: &[usize], seed: Option<u64>) -> Result<Vec<u8>, DataError> {
        let per = self.sample_len();
        let mut out = vec![0u8; idx.len() * per];
        let one = |(dst, &i): (&mut [u8], &usize)| {
            let path = self.paths.get(i).ok_or_else(|| {
                DataError::Mismatch(format!(
                    "sample {i} is not in this set of {} images",
                    self.paths.len()
                ))
            })?;
            let mut rng = seed.map(|s| sample_rng(s, i));
            self.decode_into(path, rng.as_mut(), dst)
        };
        match pool() {
            Some(pool) => pool.install(|| {
                out.par_chunks_mut(per.max(1))
                    .zip(idx.par_iter())
                    .try_for_each(one)
            })?,
            None => out.chunks_mut(per.max(1)).zip(idx).try_for_each(one)?,
        }
        Ok(out)
    }

    fn decode_into(
        &self,
        path: &Path,
        rng: Option<&mut fastrand::Rng>,
        dst: &mut [u8],
    ) -> Result<(), DataError> {
        let img = open_image(path)?;
        let side = self.side;
        let (w, h) = (img.width(), img.height());
        let img = match (self.resize, rng) {
            (Resize::Stretch, _) => img.resize_exact(side, side, FilterType::Triangle),
            (Resize::Crop, None) => {
                // Shorter side to side x 256/224, centre square of `side`: the same as cropping
                // the centre 224/256 of the shorter side and resizing that.
                let c = ((u64::from(w.min(h)) * 224 / 256) as u32).max(1);
                img.crop_imm((w - c) / 2, (h - c) / 2, c, c).resize_exact(
                    side,
                    side,
                    FilterType::Triangle,
                )
            }
            (Resize::Crop, Some(rng)) => {
                let (x, y, cw, ch) = random_resized_crop(w, h, rng);
                let img = img
                    .crop_imm(x, y, cw, ch)
                    .resize_exact(side, side, FilterType::Triangle);
                if rng.bool() { img.fliph() } else { img }
            }
        };
        let (plane, raw) = match self.channels {
            1 => (1, img.to_luma8().into_raw()),
            _ => (3, img.to_rgb8().into_raw()),
        };
        let hw = (side as usize) * (side as usize);
        for c in 0..plane {
            for (d, s) in dst[c * hw..(c + 1) * hw]
                .iter_mut()
                .zip(raw.iter().skip(c).step_by(plane))
            {
                *d = *s;
            }
        }
        Ok(())
    }
}

/// Opens an image, refusing files and pixel counts past the limits before decoding.
fn open_image(path: &Path) -> Result<DynamicImage, DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_IMAGE_FILE {
        return Err(DataError::Corrupt {
            path: path.to_path_buf(),
            offset: 0,
            reason: format!("file size {len} bytes is over the {MAX_IMAGE_FILE}-byte limit"),
        });
    }
    let image_error = |source| DataError::Image {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = image::ImageReader::open(path)
        .map_err(io)?
        .with_guessed_format()
        .map_err(io)?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_PIXELS * 4);
    reader.limits(limits);
    let img = reader.decode().map_err(image_error)?;
    if img.width() == 0 || img.height() == 0 {
        return Err(DataError::Corrupt {
            path: path.to_path_buf(),
            offset: 0,
            reason: "the image has no pixels".into(),
        });
    }
    Ok(img)
}

/// torchvision's `RandomResizedCrop` window `(x, y, w, h)`: 8% to 100% of the area, aspect ratio
/// 3/4 to 4/3 (log-uniform), ten tries, else the centre crop at the nearest allowed ratio.
fn random_resized_crop(w: u32, h: u32, rng: &mut fastrand::Rng) -> (u32, u32, u32, u32) {
    let area = f64::from(w) * f64::from(h);
    let (lo, hi) = ((3.0f64 / 4.0).ln(), (4.0f64 / 3.0).ln());
    for _ in 0..10 {
        let target = area * (0.08 + 0.92 * rng.f64());
        let ratio = (lo + (hi - lo) * rng.f64()).exp();
        let cw = (target * ratio).sqrt().round() as u32;
        let ch = (target / ratio).sqrt().round() as u32;
        if cw > 0 && ch > 0 && cw <= w && ch <= h {
            return (rng.u32(0..=w - cw), rng.u32(0..=h - ch), cw, ch);
        }
    }
    let ratio = f64::from(w) / f64::from(h);
    let (cw, ch) = if ratio < 3.0 / 4.0 {
        (w, ((f64::from(w) * 4.0 / 3.0).round() as u32).clamp(1, h))
    } else if ratio > 4.0 / 3.0 {
        (((f64::from(h) * 4.0 / 3.0).round() as u32).clamp(1, w), h)
    } else {
        (w, h)
    };
    ((w - cw) / 2, (h - ch) / 2, cw, ch)
}

/// One batch: the samples' indices and their pixels, `indices.len() x C x H x W` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The samples, as indices into the set.
    pub indices: Vec<usize>,
    /// Their pixels, sample-major.
    pub pixels: Vec<u8>,
}

/// Batches of a set in a given order, read [`PREFETCH`] batches ahead on a background thread
/// (files), or copied as asked (sets in memory). Dropping it stops the reading.
#[derive(Debug)]
pub struct Batches {
    inner: BatchesInner,
}

#[derive(Debug)]
enum BatchesInner {
    Ready(std::vec::IntoIter<Result<Batch, DataError>>),
    Memory {
        data: crate::Dataset,
        chunks: std::vec::IntoIter<Vec<usize>>,
    },
    Prefetch(Receiver<Result<Batch, DataError>>),
}

impl Iterator for Batches {
    type Item = Result<Batch, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            BatchesInner::Ready(it) => it.next(),
            BatchesInner::Memory { data, chunks } => chunks.next().map(|indices| {
                let pixels = data.read(&indices)?;
                Ok(Batch { indices, pixels })
            }),
            BatchesInner::Prefetch(rx) => rx.recv().ok(),
        }
    }
}

impl Batches {
    pub(crate) fn new(
        data: &crate::Dataset,
        order: &[usize],
        batch: usize,
        seed: Option<u64>,
    ) -> Batches {
        let chunks: Vec<Vec<usize>> = order.chunks(batch.max(1)).map(<[usize]>::to_vec).collect();
        let Some(files) = data.files() else {
            return Batches {
                inner: BatchesInner::Memory {
                    data: data.clone(),
                    chunks: chunks.into_iter(),
                },
            };
        };
        let (tx, rx) = sync_channel(PREFETCH);
        let spawned = std::thread::Builder::new()
            .name("meanet-prefetch".into())
            .spawn(move || prefetch(&files, chunks, seed, &tx));
        match spawned {
            Ok(_) => Batches {
                inner: BatchesInner::Prefetch(rx),
            },
            Err(e) => Batches {
                inner: BatchesInner::Ready(
                    vec![Err(DataError::Mismatch(format!(
                        "could not start the image prefetch thread: {e}"
                    )))]
                    .into_iter(),
                ),
            },
        }
    }
}

fn prefetch(
    files: &ImageFiles,
    chunks: Vec<Vec<usize>>,
    seed: Option<u64>,
    tx: &SyncSender<Result<Batch, DataError>>,
) {
    for (k, indices) in chunks.into_iter().enumerate() {
        let batch_seed = seed.map(|s| s.wrapping_add(k as u64));
        let item = files
            .read(&indices, batch_seed)
            .map(|pixels| Batch { indices, pixels });
        let failed = item.is_err();
        // The receiver is gone: nobody wants the rest.
        if tx.send(item).is_err() || failed {
            return;
        }
    }
}

/// The shared files of a lazily read set.
pub(crate) type SharedFiles = Arc<ImageFiles>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_resized_crops_stay_inside_the_image_and_follow_the_seed() {
        let mut rng = fastrand::Rng::with_seed(3);
        for (w, h) in [(500, 375), (64, 64), (1, 1), (3000, 20), (20, 3000)] {
            for _ in 0..200 {
                let (x, y, cw, ch) = random_resized_crop(w, h, &mut rng);
                assert!(cw >= 1 && ch >= 1 && x + cw <= w && y + ch <= h, "{w}x{h}");
            }
        }
        let a = random_resized_crop(500, 375, &mut sample_rng(9, 4));
        assert_eq!(a, random_resized_crop(500, 375, &mut sample_rng(9, 4)));
        assert_ne!(a, random_resized_crop(500, 375, &mut sample_rng(9, 5)));
    }
}
