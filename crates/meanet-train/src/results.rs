//! Test-set results of a trained deployment: pure arithmetic over predictions.

use meanet_core::ClassPartition;
use serde::{Deserialize, Serialize};

/// Test-set results of a trained deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// Test samples.
    pub samples: usize,
    /// Main block accuracy.
    pub main_accuracy: f64,
    /// Main + extension accuracy (samples predicted hard are answered by the extension).
    pub main_extension_accuracy: f64,
    /// Cloud model accuracy.
    pub cloud_accuracy: f64,
    /// Test samples whose label is a hard class.
    pub hard_samples: usize,
    /// Main block accuracy on those samples.
    pub main_accuracy_on_hard: f64,
    /// Extension accuracy on those samples (its hard-class prediction mapped back).
    pub extension_accuracy_on_hard: f64,
    /// Hard classes (label indices).
    pub hard_classes: Vec<usize>,
    /// Main block recall per class on the validation split (how hard classes were chosen).
    pub validation_recall: Vec<f64>,
}

/// The predictions of each network on the same test samples.
#[derive(Debug, Clone, Copy)]
pub struct Predictions<'a> {
    /// True labels.
    pub labels: &'a [usize],
    /// Main block class per sample.
    pub main: &'a [usize],
    /// Extension prediction per sample, as a hard-class index (`0..H`).
    pub extension: &'a [usize],
    /// Cloud model class per sample.
    pub cloud: &'a [usize],
}

fn accuracy(idx: &[usize], predicted: impl Fn(usize) -> Option<usize>, labels: &[usize]) -> f64 {
    let ok = idx
        .iter()
        .filter(|&&i| predicted(i) == labels.get(i).copied())
        .count();
    ok as f64 / idx.len().max(1) as f64
}

impl Results {
    /// Accuracies of main, main + extension (the extension answers samples the main block
    /// predicts hard) and cloud, overall and on samples of hard classes. Predictions missing
    /// for a sample count as wrong.
    pub fn from_predictions(
        p: Predictions<'_>,
        partition: &ClassPartition,
        validation_recall: Vec<f64>,
    ) -> Results {
        let all: Vec<usize> = (0..p.labels.len()).collect();
        let hard: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&i| partition.is_hard(p.labels[i]))
            .collect();
        let main = |i: usize| p.main.get(i).copied();
        let ext = |i: usize| p.extension.get(i).and_then(|&h| partition.from_hard(h));
        let combined = |i: usize| match main(i) {
            Some(m) if partition.is_hard(m) => ext(i),
            m => m,
        };
        Results {
            samples: all.len(),
            main_accuracy: accuracy(&all, main, p.labels),
            main_extension_accuracy: accuracy(&all, combined, p.labels),
            cloud_accuracy: accuracy(&all, |i| p.cloud.get(i).copied(), p.labels),
            hard_samples: hard.len(),
            main_accuracy_on_hard: accuracy(&hard, main, p.labels),
            extension_accuracy_on_hard: accuracy(&hard, ext, p.labels),
            hard_classes: partition.hard_classes().to_vec(),
            validation_recall,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracies_over_a_table_of_predictions() {
        // 4 classes, hard = {1, 3} (hard indices 0 -> 1, 1 -> 3).
        let partition = ClassPartition::try_new(4, vec![1, 3]).unwrap();
        let labels = [0, 1, 3, 2, 1];
        // main: right, wrong (says 3: hard -> extension), right (3: hard), wrong (says 0), right (1).
        let main = [0, 3, 3, 0, 1];
        // extension (hard index): -, 0 (=1, right), 1 (=3, right), -, 1 (=3, wrong).
        let extension = [0, 0, 1, 1, 1];
        let cloud = [0, 1, 3, 2, 0];
        let r = Results::from_predictions(
            Predictions {
                labels: &labels,
                main: &main,
                extension: &extension,
                cloud: &cloud,
            },
            &partition,
            vec![1.0; 4],
        );
        assert_eq!(r.samples, 5);
        assert_eq!(r.main_accuracy, 3.0 / 5.0);
        // Samples 0 (easy, main right), 1 (ext right), 2 (ext right), 3 (main wrong), 4 (ext
        // wrong).
        assert_eq!(r.main_extension_accuracy, 3.0 / 5.0);
        assert_eq!(r.cloud_accuracy, 4.0 / 5.0);
        assert_eq!(r.hard_samples, 3);
        assert_eq!(r.main_accuracy_on_hard, 2.0 / 3.0);
        assert_eq!(r.extension_accuracy_on_hard, 2.0 / 3.0);
        assert_eq!(r.hard_classes, vec![1, 3]);
    }

    #[test]
    fn empty_and_short_predictions_do_not_panic() {
        let partition = ClassPartition::try_new(2, vec![1]).unwrap();
        let none = Predictions {
            labels: &[],
            main: &[],
            extension: &[],
            cloud: &[],
        };
        let r = Results::from_predictions(none, &partition, vec![]);
        assert_eq!((r.samples, r.main_accuracy), (0, 0.0));
        let short = Predictions {
            labels: &[0, 1],
            main: &[0],
            extension: &[],
            cloud: &[0, 1],
        };
        let r = Results::from_predictions(short, &partition, vec![]);
        assert_eq!(r.main_accuracy, 0.5);
        assert_eq!(r.extension_accuracy_on_hard, 0.0);
    }
}
