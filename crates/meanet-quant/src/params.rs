//! Scales and zero points, as ONNX Runtime's quantizer computes them: asymmetric activations,
//! symmetric per-channel s8 weights in [-127, 127], int32 biases at `input x weight` scale.

use crate::Range;

/// The element type of quantized activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activations {
    /// u8 (the fast path on x86 with VNNI: U8S8).
    U8,
    /// s8 (S8S8), for targets that want it.
    S8,
}

impl Activations {
    /// `(qmin, qmax)`.
    pub fn bounds(self) -> (i32, i32) {
        match self {
            Activations::U8 => (0, 255),
            Activations::S8 => (-128, 127),
        }
    }

    /// The name the manifest and the command line use.
    pub fn name(self) -> &'static str {
        match self {
            Activations::U8 => "u8",
            Activations::S8 => "s8",
        }
    }
}

/// Scale and zero point of one tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QParams {
    /// Scale (> 0).
    pub scale: f32,
    /// Zero point, within the type's bounds.
    pub zero_point: i32,
}

/// The smallest scale ONNX Runtime keeps (below it, the scale is 1).
const TINY: f32 = f32::MIN_POSITIVE;

/// Asymmetric parameters for an activation range: the range is widened to hold 0.
pub fn activation_params(range: Range, ty: Activations) -> QParams {
    let (qmin, qmax) = ty.bounds();
    let rmin = range.min.min(0.0);
    let rmax = range.max.max(0.0);
    let mut scale = (rmax - rmin) / (qmax - qmin) as f32;
    if scale < TINY || !scale.is_finite() {
        scale = 1.0;
    }
    let zp = (qmin as f32 - rmin / scale).round_ties_even() as i32;
    QParams {
        scale,
        zero_point: zp.clamp(qmin, qmax),
    }
}

/// Quantizes one value (`round(x / scale) + zp`, half to even, clamped).
pub fn quantize(x: f32, p: QParams, qmin: i32, qmax: i32) -> i32 {
    let q = (x / p.scale).round_ties_even() + p.zero_point as f32;
    (q.clamp(qmin as f32, qmax as f32)) as i32
}

/// Symmetric s8 weights per channel along `axis` of a tensor of `dims` (row-major): the
/// quantized values and one scale per channel.
pub fn quantize_weights(w: &[f32], dims: &[usize], axis: usize) -> (Vec<i8>, Vec<f32>) {
    let channels = dims.get(axis).copied().unwrap_or(1).max(1);
    let inner: usize = dims.iter().skip(axis + 1).product();
    let inner = inner.max(1);
    let mut amax = vec![0f32; channels];
    for (i, &v) in w.iter().enumerate() {
        let c = (i / inner) % channels;
        amax[c] = amax[c].max(v.abs());
    }
    let scales: Vec<f32> = amax
        .iter()
        .map(|&a| {
            let s = 2.0 * a / 254.0;
            if s < TINY { 1.0 } else { s }
        })
        .collect();
    let q = w
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = (i / inner) % channels;
            let p = QParams {
                scale: scales[c],
                zero_point: 0,
            };
            quantize(v, p, -127, 127) as i8
        })
        .collect();
    (q, scales)
}

/// int32 biases at scale `input_scale x weight_scale[c]`.
pub fn quantize_bias(b: &[f32], input_scale: f32, weight_scales: &[f32]) -> (Vec<i32>, Vec<f32>) {
    let scales: Vec<f32> = (0..b.len())
        .map(|c| {
            let ws = weight_scales
                .get(c)
                .or(weight_scales.first())
                .copied()
                .unwrap_or(1.0);
            let s = input_scale * ws;
            if s < TINY { 1.0 } else { s }
        })
        .collect();
    let q = b
        .iter()
        .zip(&scales)
        .map(|(&v, &s)| {
            let q = (f64::from(v) / f64::from(s)).round_ties_even();
            q.clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32
        })
        .collect();
    (q, scales)
}
