//! The easy/hard class partition and the strategies that choose it.
//!
//! A [`ClassPartition`] can only be built valid: at least one hard class, no duplicates, every
//! class index below `C`. It owns the remap `class -> 0..H` used to train and read the extension
//! block, and its inverse.

use crate::stats::{ClassStats, ConfusionMatrix};

/// Why a partition could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartitionError {
    /// There were no classes at all.
    #[error("a partition needs at least one class")]
    NoClasses,
    /// The hard set was empty.
    #[error("a partition needs at least one hard class")]
    NoHardClasses,
    /// A hard class index was not below the class count.
    #[error("hard class {class} is out of range for {classes} classes")]
    OutOfRange {
        /// The offending class index.
        class: usize,
        /// The class count C.
        classes: usize,
    },
    /// A hard class was listed twice.
    #[error("hard class {0} is listed twice")]
    Duplicate(usize),
    /// A selector was asked for a hard-class count or fraction it cannot give.
    #[error("invalid hard-class selection: {0}")]
    InvalidSelection(String),
}

/// Easy and hard classes over `C` classes, with the hard-label remap and its inverse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassPartition {
    classes: usize,
    /// Hard classes in remap order: `hard[i]` is the class with hard label `i`.
    hard: Vec<usize>,
    /// `remap[c] = Some(i)` when class `c` is hard with hard label `i`.
    remap: Vec<Option<usize>>,
}

impl ClassPartition {
    /// Builds a partition of `classes` classes whose hard classes, in hard-label order, are `hard`.
    pub fn try_new(classes: usize, hard: Vec<usize>) -> Result<Self, PartitionError> {
        if classes == 0 {
            return Err(PartitionError::NoClasses);
        }
        if hard.is_empty() {
            return Err(PartitionError::NoHardClasses);
        }
        let mut remap = vec![None; classes];
        for (i, &c) in hard.iter().enumerate() {
            let slot = remap
                .get_mut(c)
                .ok_or(PartitionError::OutOfRange { class: c, classes })?;
            if slot.is_some() {
                return Err(PartitionError::Duplicate(c));
            }
            *slot = Some(i);
        }
        Ok(ClassPartition {
            classes,
            hard,
            remap,
        })
    }

    /// Number of classes C.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Hard classes in hard-label order.
    pub fn hard_classes(&self) -> &[usize] {
        &self.hard
    }

    /// Number of hard classes H.
    pub fn num_hard(&self) -> usize {
        self.hard.len()
    }

    /// Easy classes in ascending order.
    pub fn easy_classes(&self) -> Vec<usize> {
        (0..self.classes).filter(|&c| !self.is_hard(c)).collect()
    }

    /// Whether `class` is hard (false when out of range).
    pub fn is_hard(&self, class: usize) -> bool {
        self.remap.get(class).copied().flatten().is_some()
    }

    /// A mask of length C, true at hard classes.
    pub fn hard_mask(&self) -> Vec<bool> {
        self.remap.iter().map(Option::is_some).collect()
    }

    /// The hard label `0..H` of `class`, if it is hard.
    pub fn to_hard(&self, class: usize) -> Option<usize> {
        self.remap.get(class).copied().flatten()
    }

    /// The class with hard label `hard_label`, if it is in range.
    pub fn from_hard(&self, hard_label: usize) -> Option<usize> {
        self.hard.get(hard_label).copied()
    }
}

/// A strategy that picks the hard classes from the main block's validation statistics.
pub trait HardClassSelector {
    /// Chooses the partition from the main block's confusion matrix on the validation split.
    fn select(&self, confusion: &ConfusionMatrix) -> Result<ClassPartition, PartitionError>;
}

/// The `count` classes with the lowest recall (the paper's default, `count = C / 2`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorstByRecall {
    /// Number of hard classes H.
    pub count: usize,
}

/// The `count` classes with the lowest precision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorstByPrecision {
    /// Number of hard classes H.
    pub count: usize,
}

/// Every class whose recall is strictly below `threshold`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BelowAccuracy {
    /// Recall threshold in `[0, 1]`.
    pub threshold: f64,
}

impl WorstByRecall {
    /// The default: the worst half (`C / 2`, at least 1).
    pub fn half(classes: usize) -> Self {
        WorstByRecall {
            count: (classes / 2).max(1),
        }
    }
}

fn worst_by(
    confusion: &ConfusionMatrix,
    count: usize,
    key: impl Fn(&ClassStats) -> f64,
) -> Result<ClassPartition, PartitionError> {
    let classes = confusion.classes();
    if count == 0 || count > classes {
        return Err(PartitionError::InvalidSelection(format!(
            "asked for {count} hard classes out of {classes}"
        )));
    }
    let mut stats = confusion.per_class();
    // Worst first; ties broken by class index so the choice is deterministic.
    stats.sort_by(|a, b| key(a).total_cmp(&key(b)).then(a.class.cmp(&b.class)));
    let mut hard: Vec<usize> = stats.iter().take(count).map(|s| s.class).collect();
    hard.sort_unstable();
    ClassPartition::try_new(classes, hard)
}

impl HardClassSelector for WorstByRecall {
    fn select(&self, confusion: &ConfusionMatrix) -> Result<ClassPartition, PartitionError> {
        worst_by(confusion, self.count, |s| s.recall)
    }
}

impl HardClassSelector for WorstByPrecision {
    fn select(&self, confusion: &ConfusionMatrix) -> Result<ClassPartition, PartitionError> {
        worst_by(confusion, self.count, |s| s.precision)
    }
}

impl HardClassSelector for BelowAccuracy {
    fn select(&self, confusion: &ConfusionMatrix) -> Result<ClassPartition, PartitionError> {
        if !(0.0..=1.0).contains(&self.threshold) {
            return Err(PartitionError::InvalidSelection(format!(
                "recall threshold {} is outside [0, 1]",
                self.threshold
            )));
        }
        let hard = confusion
            .per_class()
            .into_iter()
            .filter(|s| s.recall < self.threshold)
            .map(|s| s.class)
            .collect();
        ClassPartition::try_new(confusion.classes(), hard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn matrix() -> ConfusionMatrix {
        // recalls: c0 = 1.0, c1 = 0.5, c2 = 0.0, c3 = 0.75 ; precisions: c0 = 0.5, c1 = 1, c3 = 1
        let mut pairs = vec![(0, 0), (0, 0), (1, 1), (1, 0), (2, 0), (2, 0)];
        pairs.extend([(3, 3), (3, 3), (3, 3), (3, 1)]);
        ConfusionMatrix::from_pairs(4, pairs).unwrap()
    }

    #[test]
    fn selectors_pick_the_worst_classes() {
        let m = matrix();
        let table: Vec<(Box<dyn HardClassSelector>, Vec<usize>)> = vec![
            (Box::new(WorstByRecall { count: 2 }), vec![1, 2]),
            (Box::new(WorstByRecall::half(4)), vec![1, 2]),
            (Box::new(WorstByPrecision { count: 2 }), vec![0, 2]),
            (Box::new(BelowAccuracy { threshold: 0.8 }), vec![1, 2, 3]),
        ];
        for (selector, want) in table {
            assert_eq!(selector.select(&m).unwrap().hard_classes(), want.as_slice());
        }
    }

    #[test]
    fn invalid_partitions_cannot_be_built() {
        assert_eq!(
            ClassPartition::try_new(0, vec![0]),
            Err(PartitionError::NoClasses)
        );
        assert_eq!(
            ClassPartition::try_new(3, vec![]),
            Err(PartitionError::NoHardClasses)
        );
        assert_eq!(
            ClassPartition::try_new(3, vec![3]),
            Err(PartitionError::OutOfRange {
                class: 3,
                classes: 3
            })
        );
        assert_eq!(
            ClassPartition::try_new(3, vec![1, 1]),
            Err(PartitionError::Duplicate(1))
        );
        assert!(WorstByRecall { count: 5 }.select(&matrix()).is_err());
        assert!(BelowAccuracy { threshold: 0.0 }.select(&matrix()).is_err());
        assert!(BelowAccuracy { threshold: 1.5 }.select(&matrix()).is_err());
    }

    #[test]
    fn easy_and_hard_sets_are_complementary() {
        let p = ClassPartition::try_new(5, vec![4, 1]).unwrap();
        assert_eq!(p.easy_classes(), vec![0, 2, 3]);
        assert_eq!(p.hard_mask(), vec![false, true, false, false, true]);
        assert_eq!(p.to_hard(4), Some(0));
        assert_eq!(p.from_hard(1), Some(1));
        assert_eq!(p.to_hard(2), None);
        assert_eq!(p.from_hard(2), None);
    }

    proptest! {
        #[test]
        fn remap_round_trips(classes in 1usize..60, seed in any::<u64>()) {
            // Deterministic subset from the seed: class c is hard when bit (c mod 64) is set.
            let mut hard: Vec<usize> = (0..classes).filter(|c| seed >> (c % 64) & 1 == 1).collect();
            if hard.is_empty() { hard.push(classes - 1); }
            let p = ClassPartition::try_new(classes, hard.clone()).unwrap();
            for (i, &c) in hard.iter().enumerate() {
                prop_assert_eq!(p.to_hard(c), Some(i));
                prop_assert_eq!(p.from_hard(i), Some(c));
            }
            for c in 0..classes {
                prop_assert_eq!(p.is_hard(c), p.to_hard(c).and_then(|h| p.from_hard(h)) == Some(c));
            }
            prop_assert_eq!(p.easy_classes().len() + p.num_hard(), classes);
        }
    }
}
