//! The per-channel normalisation of 8-bit pixels, from `u8` and back: one definition for the
//! edge worker, evaluation, a UINT8-taking server and the u8 payload, so a sample sent as `u8`
//! reaches the cloud model as the very FP32 values the edge blocks saw.

use crate::manifest::InputSpec;

/// Per-channel normalisation of 8-bit pixels: `x = (p / 255 - mean[c]) / std[c]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalisation {
    /// Per-channel mean of pixels scaled to `[0, 1]`.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation (each positive).
    pub std: Vec<f32>,
}

impl Normalisation {
    /// Channels.
    pub fn channels(&self) -> usize {
        self.mean.len()
    }

    /// Normalises pixels of a batch laid out `(n, C, ...)` with `plane` pixels per channel.
    pub fn normalise(&self, pixels: &[u8], plane: usize) -> Vec<f32> {
        let mut out = Vec::new();
        self.normalise_into(pixels, plane, &mut out);
        out
    }

    /// As [`normalise`](Self::normalise), into `out` (replacing its contents, reusing its
    /// memory). The edge and a UINT8-taking server both normalise with this, so a sample sent
    /// as `u8` reaches the cloud model as the very FP32 values the edge blocks saw.
    pub fn normalise_into(&self, pixels: &[u8], plane: usize, out: &mut Vec<f32>) {
        out.clear();
        out.reserve(pixels.len());
        let channels = self.mean.len().min(self.std.len());
        if channels == 0 {
            return;
        }
        for (k, channel) in pixels.chunks(plane.max(1)).enumerate() {
            // (p / 255 - m) / s = p * (1 / (255 s)) - m / s
            let (m, s) = (self.mean[k % channels], self.std[k % channels]);
            let (a, b) = (1.0 / (255.0 * s), -m / s);
            out.extend(channel.iter().map(|&p| f32::from(p) * a + b));
        }
    }

    /// The 8-bit pixels of normalised values, rounded and clamped to `0..=255`.
    pub fn quantise(&self, values: &[f32], plane: usize) -> Vec<u8> {
        let c = self.channels().max(1);
        values
            .iter()
            .enumerate()
            .map(|(k, &x)| {
                let ch = (k / plane.max(1)) % c;
                let p = ((x * self.std[ch] + self.mean[ch]) * 255.0).round();
                // NaN becomes 0 through the saturating cast.
                p.clamp(0.0, 255.0) as u8
            })
            .collect()
    }
}

impl From<&InputSpec> for Normalisation {
    /// The normalisation a bundle's `[input]` declares.
    fn from(input: &InputSpec) -> Self {
        Normalisation {
            mean: input.mean.clone(),
            std: input.std.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_is_the_manifest_formula_per_channel_and_quantising_inverts_it() {
        let norm = Normalisation {
            mean: vec![0.25, 0.5],
            std: vec![0.5, 2.0],
        };
        let pixels = [0, 255, 51, 102, 255, 0, 0, 0];
        let mut out = vec![9.0; 3];
        norm.normalise_into(&pixels, 2, &mut out);
        let want = |p: u8, m: f32, s: f32| (f32::from(p) / 255.0 - m) / s;
        let channel = |k: usize| {
            if (k / 2).is_multiple_of(2) {
                (0.25, 0.5)
            } else {
                (0.5, 2.0)
            }
        };
        assert_eq!(out.len(), 8);
        for (k, (&got, &p)) in out.iter().zip(&pixels).enumerate() {
            let (m, s) = channel(k);
            assert!((got - want(p, m, s)).abs() < 1e-6, "{k}: {got}");
        }
        assert_eq!(norm.quantise(&out, 2), pixels);
    }
}
