//! Numerically stable softmax, entropy and confidence measures over one row of logits.
//!
//! Every function rejects NaN or infinite logits with a [`NumericError`]: a broken model must
//! never be routed silently as if it were confident (or unconfident).

/// Why a row of logits could not be scored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NumericError {
    /// The row was empty: a classifier needs at least one class.
    #[error("empty logits row")]
    Empty,
    /// A logit was NaN or infinite.
    #[error("non-finite logit {value} at class {index}")]
    NonFinite {
        /// Class index of the offending logit.
        index: usize,
        /// The offending value (NaN or +-inf).
        value: f32,
    },
}

/// The confidence measure a threshold is expressed in.
///
/// Every measure is turned into an *uncertainty* `u >= 0` where larger means less confident, so
/// that one rule, "exit when `u <= t`", serves all of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Measure {
    /// Shannon entropy in nats, in `[0, ln K]` (the paper's measure; default).
    #[default]
    Entropy,
    /// Entropy divided by `ln K`, in `[0, 1]`: comparable across class counts.
    #[serde(alias = "normalised-entropy")]
    NormalizedEntropy,
    /// `1 - max_k p_k`, in `[0, 1 - 1/K]`: exit when the top probability is at least `1 - t`.
    MaxProb,
}

impl Measure {
    /// Parses `entropy`, `normalized-entropy` or `max-prob`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "entropy" => Some(Measure::Entropy),
            "normalized-entropy" | "normalised-entropy" => Some(Measure::NormalizedEntropy),
            "max-prob" => Some(Measure::MaxProb),
            _ => None,
        }
    }

    /// The name [`Measure::parse`] accepts.
    pub fn name(self) -> &'static str {
        match self {
            Measure::Entropy => "entropy",
            Measure::NormalizedEntropy => "normalized-entropy",
            Measure::MaxProb => "max-prob",
        }
    }
}

/// What a block's logits say about one sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    /// `argmax` of the logits (the lowest index on ties).
    pub class: usize,
    /// The largest softmax probability.
    pub max_prob: f64,
    /// Entropy of the softmax in nats.
    pub entropy: f64,
    /// Number of classes K.
    pub num_classes: usize,
    /// Probability mass on the classes of a mask (the hard classes), when one was given.
    pub masked_mass: f64,
}

impl Scores {
    /// Scores a row of logits.
    pub fn from_logits(logits: &[f32]) -> Result<Self, NumericError> {
        Self::compute(logits, None)
    }

    /// Scores a row of logits and sums the probability on the classes where `mask` is true.
    ///
    /// `mask` must have one entry per class; missing entries count as false.
    pub fn from_logits_masked(logits: &[f32], mask: &[bool]) -> Result<Self, NumericError> {
        Self::compute(logits, Some(mask))
    }

    fn compute(logits: &[f32], mask: Option<&[bool]>) -> Result<Self, NumericError> {
        let (class, max) = argmax(logits)?;
        // Softmax with the max subtracted: exp never overflows, the largest term is exactly 1.
        let mut z = 0.0f64;
        let mut weighted = 0.0f64; // sum of e_k * (x_k - max)
        let mut masked = 0.0f64;
        for (k, &x) in logits.iter().enumerate() {
            let d = f64::from(x) - max;
            let e = d.exp();
            z += e;
            weighted += e * d;
            if mask.and_then(|m| m.get(k)).copied().unwrap_or(false) {
                masked += e;
            }
        }
        // H = -sum p log p = log Z - sum p (x - max); clamp rounding noise into [0, ln K].
        let ln_k = (logits.len() as f64).ln();
        let entropy = (z.ln() - weighted / z).clamp(0.0, ln_k);
        Ok(Scores {
            class,
            max_prob: 1.0 / z,
            entropy,
            num_classes: logits.len(),
            masked_mass: masked / z,
        })
    }

    /// Uncertainty under `measure`: larger means less confident.
    pub fn uncertainty(&self, measure: Measure) -> f64 {
        match measure {
            Measure::Entropy => self.entropy,
            Measure::NormalizedEntropy => self.normalized_entropy(),
            Measure::MaxProb => 1.0 - self.max_prob,
        }
    }

    /// Entropy divided by `ln K` (0 when K = 1).
    pub fn normalized_entropy(&self) -> f64 {
        if self.num_classes <= 1 {
            0.0
        } else {
            self.entropy / (self.num_classes as f64).ln()
        }
    }
}

/// Index and value of the largest logit (first on ties), rejecting non-finite values.
pub fn argmax(logits: &[f32]) -> Result<(usize, f64), NumericError> {
    check_finite(logits)?;
    let mut best = 0;
    for (k, &x) in logits.iter().enumerate() {
        if x > logits[best] {
            best = k;
        }
    }
    Ok((best, f64::from(logits[best])))
}

/// Numerically stable softmax of one row.
pub fn softmax(logits: &[f32]) -> Result<Vec<f64>, NumericError> {
    let (_, max) = argmax(logits)?;
    let exps: Vec<f64> = logits.iter().map(|&x| (f64::from(x) - max).exp()).collect();
    let z: f64 = exps.iter().sum();
    Ok(exps.into_iter().map(|e| e / z).collect())
}

/// Numerically stable log-softmax of one row.
pub fn log_softmax(logits: &[f32]) -> Result<Vec<f64>, NumericError> {
    let (_, max) = argmax(logits)?;
    let lse = logits
        .iter()
        .map(|&x| (f64::from(x) - max).exp())
        .sum::<f64>()
        .ln()
        + max;
    Ok(logits.iter().map(|&x| f64::from(x) - lse).collect())
}

/// Indices of the `k` largest logits, largest first (ties by lower index).
pub fn top_k(logits: &[f32], k: usize) -> Result<Vec<usize>, NumericError> {
    check_finite(logits)?;
    let mut idx: Vec<usize> = (0..logits.len()).collect();
    idx.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    idx.truncate(k);
    Ok(idx)
}

fn check_finite(logits: &[f32]) -> Result<(), NumericError> {
    if logits.is_empty() {
        return Err(NumericError::Empty);
    }
    match logits.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(NumericError::NonFinite {
            index,
            value: logits[index],
        }),
        None => Ok(()),
    }
}

/// The `q` quantile (`q` in `[0, 1]`) of `sorted` (ascending), by linear interpolation between
/// the two nearest ranks (NumPy's default): the one percentile definition the workspace uses,
/// for bootstrap intervals and latency figures alike. `None` for no values.
pub fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let pos = q.clamp(0.0, 1.0) * last as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let w = pos - lo as f64;
    Some(sorted[lo] * (1.0 - w) + sorted[hi] * w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn uniform_logits_have_maximal_entropy() {
        let s = Scores::from_logits(&[3.0; 10]).unwrap();
        assert!((s.entropy - 10f64.ln()).abs() < 1e-9);
        assert!((s.normalized_entropy() - 1.0).abs() < 1e-9);
        assert!((s.max_prob - 0.1).abs() < 1e-9);
        assert_eq!(s.class, 0);
    }

    #[test]
    fn huge_logits_do_not_overflow() {
        let s = Scores::from_logits(&[1e30, 0.0, -1e30]).unwrap();
        assert_eq!(s.class, 0);
        assert_eq!(s.entropy, 0.0);
        assert_eq!(s.max_prob, 1.0);
        let p = softmax(&[1000.0, 1000.0]).unwrap();
        assert_eq!(p, vec![0.5, 0.5]);
        let lp = log_softmax(&[1000.0, 1000.0]).unwrap();
        assert!((lp[0] - 0.5f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn non_finite_and_empty_rows_are_errors() {
        let table: [(&[f32], NumericError); 3] = [
            (&[], NumericError::Empty),
            (
                &[0.0, f32::INFINITY],
                NumericError::NonFinite {
                    index: 1,
                    value: f32::INFINITY,
                },
            ),
            (
                &[f32::NEG_INFINITY, 0.0],
                NumericError::NonFinite {
                    index: 0,
                    value: f32::NEG_INFINITY,
                },
            ),
        ];
        for (row, want) in table {
            assert_eq!(Scores::from_logits(row).unwrap_err(), want);
            assert_eq!(softmax(row).unwrap_err(), want);
        }
        assert!(matches!(
            Scores::from_logits(&[f32::NAN, 1.0]),
            Err(NumericError::NonFinite { index: 0, .. })
        ));
    }

    #[test]
    fn masked_mass_and_top_k() {
        let s =
            Scores::from_logits_masked(&[0.0, 0.0, 0.0, 0.0], &[true, false, true, false]).unwrap();
        assert!((s.masked_mass - 0.5).abs() < 1e-12);
        assert_eq!(top_k(&[0.1, 0.9, 0.5, 0.9], 3).unwrap(), vec![1, 3, 2]);
    }

    #[test]
    fn measures_parse_and_map() {
        for m in [
            Measure::Entropy,
            Measure::NormalizedEntropy,
            Measure::MaxProb,
        ] {
            assert_eq!(Measure::parse(m.name()), Some(m));
        }
        assert_eq!(Measure::parse("nope"), None);
        let s = Scores::from_logits(&[2.0, 0.0]).unwrap();
        assert!((s.uncertainty(Measure::MaxProb) - (1.0 - s.max_prob)).abs() < 1e-12);
    }

    proptest! {
        #[test]
        fn entropy_stays_within_zero_and_ln_k(row in prop::collection::vec(-50f32..50f32, 1..40)) {
            let s = Scores::from_logits(&row).unwrap();
            prop_assert!(s.entropy >= 0.0);
            prop_assert!(s.entropy <= (row.len() as f64).ln() + 1e-12);
            prop_assert!((0.0..=1.0).contains(&s.normalized_entropy()));
            let p = softmax(&row).unwrap();
            prop_assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            prop_assert!((s.max_prob - p[s.class]).abs() < 1e-9);
        }
    }
}
