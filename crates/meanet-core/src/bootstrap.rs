//! Paired bootstrap confidence intervals for accuracies measured on the same samples.
//!
//! Methods evaluated on one test set are compared sample by sample: each resample draws `n`
//! sample indices with replacement and computes every method's accuracy on that same draw, so
//! the interval of a difference reflects how often the methods disagree, not only how noisy each
//! is alone. Intervals are percentile intervals (the 2.5th and 97.5th percentiles of the
//! resampled statistic for 95%).

/// An estimate with its interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// The statistic on the samples as measured.
    pub estimate: f64,
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

impl Interval {
    /// Whether the interval lies entirely above zero (for a difference: the lead is real at
    /// this confidence).
    pub fn above_zero(&self) -> bool {
        self.low > 0.0
    }

    /// Whether the interval lies entirely below zero.
    pub fn below_zero(&self) -> bool {
        self.high < 0.0
    }
}

/// Why a bootstrap could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BootstrapError {
    /// No sample, or no method.
    #[error("nothing to resample: {0}")]
    Empty(&'static str),
    /// The methods were not measured on the same number of samples.
    #[error("method {method} has {got} samples, the first has {expected}")]
    Unpaired {
        /// Index of the method.
        method: usize,
        /// Its sample count.
        got: usize,
        /// The first method's.
        expected: usize,
    },
    /// A pair named a method that does not exist.
    #[error("pair ({0}, {1}) names a method beyond the {2} given")]
    Pair(usize, usize, usize),
    /// The confidence level is not in (0, 1).
    #[error("confidence {0} is not between 0 and 1")]
    Confidence(f64),
}

/// Intervals of each method's accuracy and of each pair's difference `a - b`.
#[derive(Debug, Clone, PartialEq)]
pub struct Paired {
    /// One per method, in the order given.
    pub accuracy: Vec<Interval>,
    /// One per pair, in the order given.
    pub difference: Vec<Interval>,
}

/// SplitMix64: a small, well-mixed generator for resampling (no RNG crate in core).
#[derive(Debug, Clone)]
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2^-32 for any n here).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

/// [`crate::numerics::percentile`] of the draws (at least one: NaN never shows).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    crate::numerics::percentile(sorted, q).unwrap_or(f64::NAN)
}

/// Paired bootstrap over `correct[m][i]` (whether method `m` answered sample `i` right):
/// `resamples` draws (at least 1) seeded by `seed`, intervals at `confidence` (0.95 for 95%).
pub fn paired_bootstrap(
    correct: &[Vec<bool>],
    pairs: &[(usize, usize)],
    resamples: usize,
    confidence: f64,
    seed: u64,
) -> Result<Paired, BootstrapError> {
    let Some(first) = correct.first() else {
        return Err(BootstrapError::Empty("no method"));
    };
    let n = first.len();
    if n == 0 {
        return Err(BootstrapError::Empty("no sample"));
    }
    if let Some((method, c)) = correct.iter().enumerate().find(|(_, c)| c.len() != n) {
        return Err(BootstrapError::Unpaired {
            method,
            got: c.len(),
            expected: n,
        });
    }
    let m = correct.len();
    if let Some(&(a, b)) = pairs.iter().find(|(a, b)| *a >= m || *b >= m) {
        return Err(BootstrapError::Pair(a, b, m));
    }
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(BootstrapError::Confidence(confidence));
    }
    let resamples = resamples.max(1);
    // Each sample's outcome across methods as a bit pattern (up to 64 methods per word chunk).
    let accuracy_of =
        |hits: &[usize]| -> Vec<f64> { hits.iter().map(|&h| h as f64 / n as f64).collect() };
    let measured: Vec<usize> = correct
        .iter()
        .map(|c| c.iter().filter(|&&x| x).count())
        .collect();
    let mut acc_draws: Vec<Vec<f64>> = vec![Vec::with_capacity(resamples); m];
    let mut diff_draws: Vec<Vec<f64>> = vec![Vec::with_capacity(resamples); pairs.len()];
    let mut rng = SplitMix(seed);
    let mut hits = vec![0usize; m];
    for _ in 0..resamples {
        hits.iter_mut().for_each(|h| *h = 0);
        for _ in 0..n {
            let i = rng.below(n);
            for (h, c) in hits.iter_mut().zip(correct) {
                *h += usize::from(c[i]);
            }
        }
        let acc = accuracy_of(&hits);
        for (d, a) in acc_draws.iter_mut().zip(&acc) {
            d.push(*a);
        }
        for (d, &(a, b)) in diff_draws.iter_mut().zip(pairs) {
            d.push(acc[a] - acc[b]);
        }
    }
    let (lo_q, hi_q) = ((1.0 - confidence) / 2.0, 1.0 - (1.0 - confidence) / 2.0);
    let interval = |mut draws: Vec<f64>, estimate: f64| {
        draws.sort_by(f64::total_cmp);
        Interval {
            estimate,
            low: percentile(&draws, lo_q),
            high: percentile(&draws, hi_q),
        }
    };
    let point = accuracy_of(&measured);
    Ok(Paired {
        accuracy: acc_draws
            .into_iter()
            .zip(&point)
            .map(|(d, &e)| interval(d, e))
            .collect(),
        difference: diff_draws
            .into_iter()
            .zip(pairs)
            .map(|(d, &(a, b))| interval(d, point[a] - point[b]))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(n: usize, right: impl Fn(usize) -> bool) -> Vec<bool> {
        (0..n).map(right).collect()
    }

    #[test]
    fn identical_methods_differ_by_exactly_zero() {
        let a = pattern(1000, |i| i % 3 != 0);
        let p = paired_bootstrap(&[a.clone(), a], &[(0, 1)], 200, 0.95, 1).unwrap();
        assert_eq!(p.difference[0].low, 0.0);
        assert_eq!(p.difference[0].high, 0.0);
        let acc = p.accuracy[0];
        assert!((acc.estimate - 0.666).abs() < 1e-12, "{acc:?}");
        assert!(acc.low < acc.estimate && acc.estimate < acc.high);
    }

    #[test]
    fn a_consistent_lead_is_above_zero_and_a_coin_flip_is_not() {
        let n = 2000;
        let base = pattern(n, |i| i % 2 == 0);
        // Right everywhere the base is, and on 10% more.
        let better = pattern(n, |i| i % 2 == 0 || i % 10 == 1);
        let p = paired_bootstrap(&[better, base.clone()], &[(0, 1)], 500, 0.95, 7).unwrap();
        assert!(p.difference[0].above_zero(), "{:?}", p.difference[0]);
        // As many wins as losses against the base: the interval straddles zero.
        let swap = pattern(n, |i| (i % 2 == 0) != (i % 20 == 0 || i % 20 == 1));
        let p = paired_bootstrap(&[swap, base], &[(0, 1)], 500, 0.95, 7).unwrap();
        let d = p.difference[0];
        assert!(!d.above_zero() && !d.below_zero(), "{d:?}");
        assert!(d.estimate.abs() < 1e-12);
    }

    #[test]
    fn wider_confidence_gives_wider_intervals_and_the_seed_fixes_them() {
        let a = pattern(500, |i| i % 4 != 0);
        let p90 = paired_bootstrap(std::slice::from_ref(&a), &[], 400, 0.90, 3)
            .unwrap()
            .accuracy[0];
        let p99 = paired_bootstrap(std::slice::from_ref(&a), &[], 400, 0.99, 3)
            .unwrap()
            .accuracy[0];
        assert!(p99.low <= p90.low && p99.high >= p90.high);
        let again = paired_bootstrap(&[a], &[], 400, 0.90, 3).unwrap().accuracy[0];
        assert_eq!(p90, again);
    }

    #[test]
    fn bad_inputs_name_the_problem() {
        assert_eq!(
            paired_bootstrap(&[], &[], 10, 0.95, 0),
            Err(BootstrapError::Empty("no method"))
        );
        assert!(matches!(
            paired_bootstrap(&[vec![true], vec![true, false]], &[], 10, 0.95, 0),
            Err(BootstrapError::Unpaired { method: 1, .. })
        ));
        assert!(matches!(
            paired_bootstrap(&[vec![true]], &[(0, 2)], 10, 0.95, 0),
            Err(BootstrapError::Pair(0, 2, 1))
        ));
        assert!(matches!(
            paired_bootstrap(&[vec![true]], &[], 10, 1.0, 0),
            Err(BootstrapError::Confidence(_))
        ));
    }
}
