//! The normalisation of 8-bit samples with a bundle's per-channel mean and std.

use meanet_core::manifest::Manifest;
use meanet_transport::protocol::Normalisation;

/// Normalises 8-bit `[C, H, W]` samples with a bundle's per-channel mean and std (the
/// transport's [`Normalisation`], so a UINT8-taking cloud computes the very same values).
#[derive(Debug, Clone)]
pub struct Normaliser {
    pub(super) shape: [usize; 3],
    pub(super) norm: Normalisation,
}

impl Normaliser {
    /// The normalisation of `manifest`'s input: `(p / 255 - mean[c]) / std[c]`.
    pub fn new(manifest: &Manifest) -> Self {
        let i = &manifest.input;
        Normaliser {
            shape: [i.shape[0], i.shape[1], i.shape[2]],
            norm: Normalisation {
                mean: i.mean.clone(),
                std: i.std.clone(),
            },
        }
    }

    /// Bytes of one sample (`C * H * W`).
    pub fn sample_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// The sample shape `[C, H, W]`.
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }

    /// Normalises `pixels` (whole samples) into `out`, replacing its contents.
    pub fn normalise_into(&self, pixels: &[u8], out: &mut Vec<f32>) {
        self.norm
            .normalise_into(pixels, self.shape[1] * self.shape[2], out);
    }
}
