//! Activation ranges from calibration data: MinMax, Percentile and Entropy (KL), as ONNX
//! Runtime's calibrators define them.
//!
//! Collection takes two passes over the calibration set. The first records each tensor's
//! minimum and maximum (all MinMax needs). The histogram methods take a second pass into
//! histograms whose range the first pass fixed, so no bin is ever rescaled.

use std::collections::BTreeMap;

use ndarray::ArrayViewD;

use crate::QuantError;

/// A calibration method.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// The observed minimum and maximum.
    MinMax,
    /// `[-t, t]` clamped to the observed extent, where `t` is the given percentile of the
    /// absolute values (ONNX Runtime's Percentile with `CalibTensorRangeSymmetric`), over
    /// 2,048 bins.
    Percentile(f64),
    /// The threshold whose 128-level quantization of the histogram of the values loses least
    /// information, measured as the KL divergence (TensorRT's method), clamped to the observed
    /// extent. As ONNX Runtime's Entropy calibrator (what `quantize_static` runs): 128 bins over
    /// the first batch's `[-max|x|, max|x|]`, widened at the same bin width when a later batch
    /// reaches further, so the candidates are the thresholds between the first batch's extent
    /// and the whole set's.
    Entropy,
}

impl Method {
    /// Whether a second pass over the calibration batches is needed (Percentile's histogram
    /// takes its range from the first).
    pub fn needs_histograms(&self) -> bool {
        matches!(self, Method::Percentile(_))
    }

    /// The method's name, as the manifest records it.
    pub fn describe(&self) -> String {
        match self {
            Method::MinMax => "minmax".into(),
            Method::Percentile(p) => format!("percentile {p}"),
            Method::Entropy => "entropy".into(),
        }
    }
}

/// Bins of the Percentile histogram (ONNX Runtime's default).
pub const PERCENTILE_BINS: usize = 2048;
/// Bins of the Entropy histogram over the first batch (ONNX Runtime's default).
pub const ENTROPY_BINS: usize = 128;
/// Quantized levels the Entropy search compares against.
pub const ENTROPY_QUANTIZED_BINS: usize = 128;

/// A calibrated range, `min <= max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    /// Lower end.
    pub min: f32,
    /// Upper end.
    pub max: f32,
}

#[derive(Debug, Clone)]
struct Stats {
    min: f32,
    max: f32,
    count: u64,
    hist: Vec<u64>,
    /// Entropy: the histogram's half-range.
    threshold: f32,
}

/// Collects statistics per tensor over the calibration batches.
#[derive(Debug, Clone)]
pub struct Collector {
    method: Method,
    second_pass: bool,
    stats: BTreeMap<String, Stats>,
}

impl Collector {
    /// A collector for `method`.
    pub fn new(method: Method) -> Result<Self, QuantError> {
        if let Method::Percentile(p) = method
            && !(p > 0.0 && p <= 100.0)
        {
            return Err(QuantError::Percentile(p));
        }
        Ok(Self {
            method,
            second_pass: false,
            stats: BTreeMap::new(),
        })
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// Ends the first pass (minimum and maximum); histogram methods then need the same
    /// batches observed again.
    pub fn start_second_pass(&mut self) {
        self.second_pass = true;
        if let Method::Percentile(_) = self.method {
            for s in self.stats.values_mut() {
                s.hist = vec![0; PERCENTILE_BINS];
            }
        }
    }

    /// Records one batch of one tensor's values.
    pub fn observe(&mut self, tensor: &str, values: ArrayViewD<'_, f32>) -> Result<(), QuantError> {
        if let Some(&bad) = values.iter().find(|v| !v.is_finite()) {
            return Err(QuantError::NonFinite {
                tensor: tensor.into(),
                value: bad,
            });
        }
        if !self.second_pass {
            let s = self.stats.entry(tensor.to_string()).or_insert(Stats {
                min: f32::INFINITY,
                max: f32::NEG_INFINITY,
                count: 0,
                hist: Vec::new(),
                threshold: 0.0,
            });
            let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
            for &v in values.iter() {
                lo = lo.min(v);
                hi = hi.max(v);
            }
            if values.is_empty() {
                return Ok(());
            }
            if self.method == Method::Entropy {
                merge_histogram(s, &values, lo.abs().max(hi.abs()));
            }
            s.min = s.min.min(lo);
            s.max = s.max.max(hi);
            s.count += values.len() as u64;
            return Ok(());
        }
        let Some(s) = self.stats.get_mut(tensor) else {
            return Ok(());
        };
        let amax = s.min.abs().max(s.max.abs());
        let bins = s.hist.len();
        if amax == 0.0 || bins == 0 {
            return Ok(());
        }
        match self.method {
            Method::Percentile(_) => {
                for &v in values.iter() {
                    s.hist[bin(v.abs(), 0.0, amax, bins)] += 1;
                }
            }
            Method::Entropy | Method::MinMax => {}
        }
        Ok(())
    }

    /// The tensors observed.
    pub fn tensors(&self) -> impl Iterator<Item = &str> {
        self.stats.keys().map(String::as_str)
    }

    /// The calibrated range of `tensor`, or `None` if it was never observed.
    pub fn range(&self, tensor: &str) -> Result<Option<Range>, QuantError> {
        let Some(s) = self.stats.get(tensor) else {
            return Ok(None);
        };
        if s.count == 0 {
            return Ok(None);
        }
        let observed = Range {
            min: s.min,
            max: s.max,
        };
        let amax = s.min.abs().max(s.max.abs());
        if amax == 0.0 || self.method == Method::MinMax {
            return Ok(Some(observed));
        }
        let (lo, hi) = match self.method {
            Method::Percentile(p) => {
                let needed = (100.0 / (100.0 - p).max(1e-9)).ceil() as u64;
                if p < 100.0 && s.count < needed {
                    return Err(QuantError::TooFewForPercentile {
                        tensor: tensor.into(),
                        percentile: p,
                        values: s.count,
                        needed,
                    });
                }
                let t = percentile_threshold(&s.hist, amax, p);
                (-t, t)
            }
            Method::Entropy if s.threshold > 0.0 => {
                entropy_threshold(&s.hist, s.threshold, ENTROPY_QUANTIZED_BINS)
            }
            Method::Entropy => (s.min, s.max),
            Method::MinMax => (s.min, s.max),
        };
        Ok(Some(Range {
            min: lo.max(s.min),
            max: hi.min(s.max),
        }))
    }
}

/// ONNX Runtime's `merge_histogram`: the first batch's histogram spans its own
/// `[-t, t]` in [`ENTROPY_BINS`] bins; a batch reaching further widens it by whole bins of the
/// same width on both sides.
fn merge_histogram(s: &mut Stats, values: &ndarray::ArrayViewD<'_, f32>, t: f32) {
    let fill = |hist: &mut [u64], half: f32| {
        let n = hist.len();
        if half > 0.0 {
            for &v in values.iter() {
                if v >= -half && v <= half {
                    hist[bin(v, -half, half, n)] += 1;
                }
            }
        }
    };
    if s.hist.is_empty() {
        s.hist = vec![0; ENTROPY_BINS];
        s.threshold = t;
        fill(&mut s.hist, t);
        return;
    }
    let old_t = s.threshold;
    if t <= old_t {
        fill(&mut s.hist, old_t);
    } else if old_t == 0.0 {
        let old = std::mem::replace(&mut s.hist, vec![0; ENTROPY_BINS]);
        fill(&mut s.hist, t);
        s.hist.iter_mut().zip(old).for_each(|(h, o)| *h += o);
        s.threshold = t;
    } else {
        let n = s.hist.len();
        let stride = 2.0 * old_t / n as f32;
        let half_inc = ((t - old_t) / stride).floor() as usize + 1;
        let new_t = half_inc as f32 * stride + old_t;
        let mut hist = vec![0; n + 2 * half_inc];
        fill(&mut hist, new_t);
        hist[half_inc..half_inc + n]
            .iter_mut()
            .zip(&s.hist)
            .for_each(|(h, o)| *h += o);
        s.hist = hist;
        s.threshold = new_t;
    }
}

/// numpy.histogram's binning over `[lo, hi]`: the last bin holds `hi`.
fn bin(v: f32, lo: f32, hi: f32, bins: usize) -> usize {
    let f = ((v - lo) / (hi - lo) * bins as f32).floor();
    if f.is_nan() || f < 0.0 {
        0
    } else {
        (f as usize).min(bins - 1)
    }
}

/// The left edge of the first bin where the cumulative share reaches `p` percent
/// (numpy's `searchsorted(cdf, p / 100)` over a histogram of `|x|` on `[0, amax]`).
pub(crate) fn percentile_threshold(hist: &[u64], amax: f32, p: f64) -> f32 {
    let total: u64 = hist.iter().sum();
    let width = amax / hist.len() as f32;
    let mut cum = 0u64;
    for (i, &h) in hist.iter().enumerate() {
        cum += h;
        if cum as f64 / total as f64 >= p / 100.0 {
            return width * i as f32;
        }
    }
    amax
}

/// ONNX Runtime's `get_entropy_threshold` on a histogram over `[-amax, amax]`.
pub(crate) fn entropy_threshold(hist: &[u64], amax: f32, quantized_bins: usize) -> (f32, f32) {
    let n = hist.len();
    let zero = n / 2;
    let half = quantized_bins / 2;
    let edge = |i: usize| -amax + 2.0 * amax * i as f32 / n as f32;
    let mut best = (f64::INFINITY, (edge(0), edge(n)));
    for i in half..=zero {
        let start = zero - i;
        let end = (zero + i + 1).min(n);
        let sliced = &hist[start..end];
        let mut p: Vec<f64> = sliced.iter().map(|&h| h as f64).collect();
        let left: u64 = hist[..start].iter().sum();
        let right: u64 = hist[end..].iter().sum();
        p[0] += left as f64;
        let last = p.len() - 1;
        p[last] += right as f64;
        let merged = sliced.len() / quantized_bins;
        let mut q = vec![0f64; p.len()];
        if merged > 0 {
            for k in 0..quantized_bins {
                let (a, b) = (k * merged, (k + 1) * merged);
                let mut sum: u64 = sliced[a..b].iter().sum();
                if k == quantized_bins - 1 {
                    sum += sliced[quantized_bins * merged..].iter().sum::<u64>();
                }
                let nonzero = p[a..b].iter().filter(|&&v| v != 0.0).count();
                if nonzero != 0 {
                    // numpy assigns into an int64 array: the quotient is truncated.
                    let each = (sum as f64 / nonzero as f64).trunc();
                    q[a..b].iter_mut().for_each(|v| *v = each);
                }
            }
        }
        let div = match (smooth(&p), smooth(&q)) {
            (Some(p), Some(q)) => kl(&p, &q),
            _ => f64::INFINITY,
        };
        if div < best.0 {
            best = (div, (edge(start), edge(end)));
        }
    }
    best.1
}

/// Replaces zeros by `eps`, taking the same mass off the non-zeros (ONNX Runtime's
/// `smooth_distribution`).
fn smooth(p: &[f64]) -> Option<Vec<f64>> {
    const EPS: f64 = 1e-4;
    let zeros = p.iter().filter(|&&v| v == 0.0).count();
    let nonzeros = p.len() - zeros;
    if nonzeros == 0 {
        return None;
    }
    let eps1 = EPS * zeros as f64 / nonzeros as f64;
    Some(
        p.iter()
            .map(|&v| if v == 0.0 { EPS } else { v - eps1 })
            .collect(),
    )
}

/// `scipy.stats.entropy(p, q)`: both normalised, natural logarithm.
fn kl(p: &[f64], q: &[f64]) -> f64 {
    let (sp, sq): (f64, f64) = (p.iter().sum(), q.iter().sum());
    p.iter()
        .zip(q)
        .map(|(&a, &b)| {
            let (a, b) = (a / sp, b / sq);
            if a > 0.0 { a * (a / b).ln() } else { 0.0 }
        })
        .sum()
}
