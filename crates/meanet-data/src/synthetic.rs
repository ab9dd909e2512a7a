//! Generated ImageNet-style folders, for trying the workflow and measuring the pipeline where
//! ImageNet is not at hand: `train/<class>/` and `val/<class>/` of JPEG files of mixed sizes and
//! aspect ratios, each class a hue and a stripe direction, with noise.

use std::path::Path;

use crate::DataError;

/// What [`write_image_folder`] writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticFolder {
    /// Class folders (named `n00000000`, `n00000001`, ... as ImageNet's synsets).
    pub classes: usize,
    /// Images per class under `train/`.
    pub train: usize,
    /// Images per class under `val/`.
    pub val: usize,
    /// Image sizes `(width, height)`, taken in turn.
    pub sizes: Vec<(u32, u32)>,
    /// Seed of the noise.
    pub seed: u64,
}

impl SyntheticFolder {
    /// Sizes around ImageNet's (landscape, portrait and square, about 400x350 on average).
    pub fn imagenet_sizes() -> Vec<(u32, u32)> {
        vec![
            (500, 375),
            (375, 500),
            (400, 400),
            (500, 333),
            (320, 427),
            (640, 480),
        ]
    }

    /// Small images of mixed aspect ratios, for fast tests.
    pub fn small_sizes() -> Vec<(u32, u32)> {
        vec![(96, 72), (72, 100), (80, 80), (120, 64), (90, 110)]
    }
}

/// Writes the folder tree `spec` describes under `root`.
pub fn write_image_folder(root: &Path, spec: &SyntheticFolder) -> Result<(), DataError> {
    (0..spec.classes).try_for_each(|k| write_class(root, spec, k))
}

/// Writes class `k` of the tree `spec` describes (its `train/` and `val/` images) under `root`;
/// each class has its own noise, so classes can be written in any order, or in parallel.
pub fn write_class(root: &Path, spec: &SyntheticFolder, k: usize) -> Result<(), DataError> {
    let mut state = spec.seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut noise = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 56) as u8
    };
    let sizes = if spec.sizes.is_empty() {
        SyntheticFolder::small_sizes()
    } else {
        spec.sizes.clone()
    };
    let hue = (k * 255 / spec.classes.max(1)) as u8;
    for (split, n) in [("train", spec.train), ("val", spec.val)] {
        let dir = root.join(split).join(format!("n{k:08}"));
        std::fs::create_dir_all(&dir).map_err(|source| DataError::Io {
            path: dir.clone(),
            source,
        })?;
        for i in 0..n {
            let (w, h) = sizes[(i + k) % sizes.len()];
            let img = image::RgbImage::from_fn(w, h, |x, y| {
                let stripe = if k.is_multiple_of(2) { x } else { y };
                let v = if (stripe * 16 / w.max(1)) % 2 == 0 {
                    200
                } else {
                    40
                };
                image::Rgb([hue, v, noise() / 2])
            });
            let path = dir.join(format!("{split}_{i:05}.JPEG"));
            img.save(&path)
                .map_err(|source| DataError::Image { path, source })?;
        }
    }
    Ok(())
}
