//! Class statistics: confusion matrix, per-class recall and precision, accuracy.

/// A `C x C` confusion matrix: `counts[truth][predicted]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfusionMatrix {
    classes: usize,
    counts: Vec<u64>,
}

/// Recall and precision of one class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassStats {
    /// Class index.
    pub class: usize,
    /// Samples whose true label is this class.
    pub support: u64,
    /// Samples predicted as this class.
    pub predicted: u64,
    /// Correct predictions of this class.
    pub correct: u64,
    /// `correct / support` (0 when the class has no samples).
    pub recall: f64,
    /// `correct / predicted` (0 when the class was never predicted).
    pub precision: f64,
}

impl ConfusionMatrix {
    /// An empty matrix over `classes` classes.
    pub fn new(classes: usize) -> Self {
        ConfusionMatrix {
            classes,
            counts: vec![0; classes * classes],
        }
    }

    /// Builds a matrix from `(truth, predicted)` pairs; `None` if a label is out of range.
    pub fn from_pairs(
        classes: usize,
        pairs: impl IntoIterator<Item = (usize, usize)>,
    ) -> Option<Self> {
        let mut m = Self::new(classes);
        for (t, p) in pairs {
            m.record(t, p)?;
        }
        Some(m)
    }

    /// Records one prediction; `None` (and nothing recorded) if either label is out of range.
    pub fn record(&mut self, truth: usize, predicted: usize) -> Option<()> {
        if truth >= self.classes || predicted >= self.classes {
            return None;
        }
        self.counts[truth * self.classes + predicted] += 1;
        Some(())
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Count of samples of class `truth` predicted as `predicted` (0 when out of range).
    pub fn count(&self, truth: usize, predicted: usize) -> u64 {
        if truth >= self.classes || predicted >= self.classes {
            return 0;
        }
        self.counts[truth * self.classes + predicted]
    }

    /// Total number of recorded samples.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Fraction of samples on the diagonal (0 for an empty matrix).
    pub fn accuracy(&self) -> f64 {
        let total = self.total();
        if total == 0 {
            return 0.0;
        }
        let correct: u64 = (0..self.classes).map(|c| self.count(c, c)).sum();
        correct as f64 / total as f64
    }

    /// Recall and precision of every class, in class order.
    pub fn per_class(&self) -> Vec<ClassStats> {
        (0..self.classes)
            .map(|c| {
                let support: u64 = (0..self.classes).map(|p| self.count(c, p)).sum();
                let predicted: u64 = (0..self.classes).map(|t| self.count(t, c)).sum();
                let correct = self.count(c, c);
                ClassStats {
                    class: c,
                    support,
                    predicted,
                    correct,
                    recall: ratio(correct, support),
                    precision: ratio(correct, predicted),
                }
            })
            .collect()
    }

    /// The rows of the matrix, for reports.
    pub fn rows(&self) -> Vec<Vec<u64>> {
        self.counts
            .chunks(self.classes.max(1))
            .map(<[u64]>::to_vec)
            .collect()
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recall_precision_and_accuracy_by_hand() {
        // truth 0: predicted 0,0,1 ; truth 1: predicted 1 ; truth 2: predicted 0
        let m = ConfusionMatrix::from_pairs(3, [(0, 0), (0, 0), (0, 1), (1, 1), (2, 0)]).unwrap();
        assert_eq!(m.total(), 5);
        assert!((m.accuracy() - 0.6).abs() < 1e-12);
        let s = m.per_class();
        assert!((s[0].recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((s[0].precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((s[1].recall - 1.0).abs() < 1e-12);
        assert!((s[1].precision - 0.5).abs() < 1e-12);
        assert_eq!(s[2].recall, 0.0);
        assert_eq!(s[2].precision, 0.0);
        assert_eq!(m.rows(), vec![vec![2, 1, 0], vec![0, 1, 0], vec![1, 0, 0]]);
    }

    #[test]
    fn out_of_range_labels_are_refused() {
        let mut m = ConfusionMatrix::new(2);
        assert_eq!(m.record(2, 0), None);
        assert_eq!(m.record(0, 5), None);
        assert_eq!(m.total(), 0);
        assert_eq!(m.accuracy(), 0.0);
        assert!(ConfusionMatrix::from_pairs(2, [(0, 3)]).is_none());
    }
}
