//! The seeded, stratified train/validation split.

use crate::Label;

/// Splits sample indices by label so each class keeps the same validation fraction.
/// Returns `(train, validation)` index lists; the same seed gives the same split.
pub fn stratified_split(labels: &[Label], validation: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let classes = labels
        .iter()
        .map(|&l| usize::from(l) + 1)
        .max()
        .unwrap_or(0);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &l) in labels.iter().enumerate() {
        by_class[usize::from(l)].push(i);
    }
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for mut idx in by_class.into_iter().filter(|v| !v.is_empty()) {
        rng.shuffle(&mut idx);
        let k = ((idx.len() as f64) * validation.clamp(0.0, 1.0)).round() as usize;
        val.extend_from_slice(&idx[..k]);
        train.extend_from_slice(&idx[k..]);
    }
    train.sort_unstable();
    val.sort_unstable();
    (train, val)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_stratified_disjoint_and_repeatable() {
        let labels: Vec<Label> = (0..1000).map(|i| (i % 10) as Label).collect();
        let (t, v) = stratified_split(&labels, 0.1, 7);
        assert_eq!(v.len(), 100);
        assert_eq!(t.len() + v.len(), 1000);
        for c in 0..10 as Label {
            assert_eq!(v.iter().filter(|&&i| labels[i] == c).count(), 10);
        }
        assert!(t.iter().all(|i| !v.contains(i)));
        assert_eq!(stratified_split(&labels, 0.1, 7), (t, v.clone()));
        assert_ne!(stratified_split(&labels, 0.1, 8).1, v);
    }
}
