use super::*;
use crate::policy::MeaNetPerClass;
use crate::ports::EnergyBreakdown;
use crate::units::Macs;
use ndarray::Array2;

/// Edge: 1 pJ per MAC plus 2 pJ per byte sent; cloud: 1 pJ per MAC.
struct Linear;
impl EnergyModel for Linear {
    fn price(&self, c: &SampleCost) -> EnergyBreakdown {
        let edge = c.main.unwrap_or_default().0 + c.extension.unwrap_or_default().0;
        EnergyBreakdown {
            edge_compute: Joules::from_picojoules(edge as f64),
            transmit: Joules::from_picojoules(2.0 * c.bytes_sent.0 as f64),
            cloud: Joules::from_picojoules(c.cloud.unwrap_or_default().0 as f64),
            ..EnergyBreakdown::default()
        }
    }
}

use crate::testing::Rng;

/// A synthetic validation set: main is right 70% of the time, extension 85%, cloud 95%.
fn cache(n: usize) -> CalibrationCache {
    let (c, hard) = (10, vec![5, 6, 7, 8, 9]);
    let partition = ClassPartition::try_new(c, hard.clone()).unwrap();
    let mut rng = crate::testing::rng(7);
    let labels: Vec<usize> = (0..n).map(|i| i % c).collect();
    let mut logits = |classes: usize, acc: f32, label: &dyn Fn(usize) -> usize| {
        Array2::from_shape_fn((n, classes), |_| 0.0f32).map_view_mut_fn(&mut rng, acc, label)
    };
    let main = logits(c, 0.7, &|i| labels[i]);
    let ext = logits(5, 0.85, &|i| partition.to_hard(labels[i]).unwrap_or(i % 5));
    let cloud = logits(c, 0.95, &|i| labels[i]);
    CalibrationCache::try_new(main.view(), ext.view(), cloud.view(), &labels, partition).unwrap()
}

trait Fill {
    fn map_view_mut_fn(
        self,
        rng: &mut Rng,
        acc: f32,
        label: &dyn Fn(usize) -> usize,
    ) -> Array2<f32>;
}
impl Fill for Array2<f32> {
    fn map_view_mut_fn(
        mut self,
        rng: &mut Rng,
        acc: f32,
        label: &dyn Fn(usize) -> usize,
    ) -> Array2<f32> {
        let k = self.ncols();
        for (i, mut row) in self.outer_iter_mut().enumerate() {
            for v in row.iter_mut() {
                *v = rng.f32() * 2.0;
            }
            let right = rng.f32() < acc;
            let target = if right { label(i) } else { (label(i) + 1) % k };
            row[target] += 1.0 + 4.0 * rng.f32();
        }
        self
    }
}

fn calibrator() -> Calibrator {
    let costs = BlockCosts {
        main: Macs(1_000),
        extension: Macs(500),
        cloud: Macs(100_000),
    };
    Calibrator::new(costs, (Bytes(3_136), Bytes(40)), &Linear)
}

#[test]
fn extreme_thresholds_behave() {
    let cache = cache(2_000);
    let cal = calibrator();
    let never = Thresholds {
        main: None,
        cloud_main: None,
        extension: None,
        ..Thresholds::default()
    };
    let m = cal.evaluate(&cache, &MeaNet { thresholds: never });
    assert_eq!(m.cloud_share, 0.0);
    let zero = Thresholds {
        main: Some(0.0),
        cloud_main: Some(0.0),
        extension: Some(0.0),
        ..Thresholds::default()
    };
    let m0 = cal.evaluate(&cache, &MeaNet { thresholds: zero });
    assert_eq!(m0.cloud_share, 1.0);
    // Offloading everything answers every sample with the cloud's class: its accuracy,
    // counted here from the cache itself.
    let cloud_right = (0..cache.len())
        .filter(|&i| cache.cloud[i] == cache.labels[i])
        .count() as f64
        / cache.len() as f64;
    assert!(
        (m0.accuracy - cloud_right).abs() < 1e-12,
        "cloud-only accuracy {} against the cloud's own {cloud_right}",
        m0.accuracy
    );
    assert!(
        m0.accuracy > 0.85,
        "the synthetic cloud is the most accurate network"
    );
    // Offloading everything costs main + transmission on the edge: 1000 + 2*3136 pJ.
    assert!((m0.edge_energy.0 - 7_272e-12).abs() < 1e-18);
    assert!((m0.cloud_energy.0 - 100_000e-12).abs() < 1e-18);
}

/// Every grid point is evaluated once. How long the sweep takes is a figure of the bench
/// (`cargo bench -p meanet-core --bench calibration`, CPU time), never an assertion here.
#[test]
fn sweep_of_ten_thousand_samples_on_a_50x50_grid_evaluates_every_point() {
    let cache = cache(10_000);
    let cal = calibrator();
    let grid = Grid::quantiles(&cache, Measure::Entropy, 50);
    assert!(grid.len() >= 2_500, "grid has {} points", grid.len());
    let points = cal.sweep(&cache, Thresholds::default(), &grid);
    assert_eq!(points.len(), grid.len());
    // The points differ: the sweep measured each setting, it did not repeat one.
    let shares: std::collections::BTreeSet<u64> = points
        .iter()
        .map(|p| p.metrics.cloud_share.to_bits())
        .collect();
    assert!(
        shares.len() > 50,
        "{} distinct offload shares",
        shares.len()
    );
}

#[test]
fn frontier_and_targets() {
    let cache = cache(3_000);
    let cal = calibrator();
    let grid = Grid::quantiles(&cache, Measure::Entropy, 12);
    let points = cal.sweep(&cache, Thresholds::default(), &grid);
    let front = pareto_frontier(&points);
    assert!(!front.is_empty());
    for p in &points {
        let dominated_or_on = front.iter().any(|f| {
            f.metrics.accuracy >= p.metrics.accuracy
                && f.metrics.edge_energy.0 <= p.metrics.edge_energy.0
                && f.metrics.cloud_share <= p.metrics.cloud_share
        });
        assert!(dominated_or_on, "{p:?} escapes the frontier");
    }
    let best = pick(&points, Target::MaxOffload(0.2)).unwrap();
    assert!(best.metrics.cloud_share <= 0.2);
    assert!(
        points
            .iter()
            .filter(|p| p.metrics.cloud_share <= 0.2)
            .all(|p| p.metrics.accuracy <= best.metrics.accuracy)
    );
    let cheap = pick(&points, Target::MinAccuracy(0.75)).unwrap();
    assert!(cheap.metrics.accuracy >= 0.75);
    let err = pick(&points, Target::MinAccuracy(1.0)).unwrap_err();
    assert!(matches!(err, CalibrationError::Infeasible { .. }), "{err}");
    let e = pick(&points, Target::MaxEnergy(Joules(2e-9))).unwrap();
    assert!(e.metrics.edge_energy.0 <= 2e-9);
}

#[test]
fn targets_parse_and_bad_caches_are_refused() {
    assert_eq!(
        Target::parse("offload=0.2").unwrap(),
        Target::MaxOffload(0.2)
    );
    assert_eq!(
        Target::parse("accuracy=0.9").unwrap(),
        Target::MinAccuracy(0.9)
    );
    assert_eq!(
        Target::parse("energy=1e-5").unwrap(),
        Target::MaxEnergy(Joules(1e-5))
    );
    for bad in [
        "offload",
        "offload=2",
        "speed=1",
        "accuracy=x",
        "energy=-1",
        "energy=NaN",
    ] {
        assert!(Target::parse(bad).is_err(), "{bad}");
    }
    let p = ClassPartition::try_new(3, vec![2]).unwrap();
    let m = Array2::<f32>::zeros((2, 3));
    let e = Array2::<f32>::zeros((2, 1));
    let err =
        CalibrationCache::try_new(m.view(), e.view(), m.view(), &[0, 3], p.clone()).unwrap_err();
    assert!(matches!(
        err,
        CalibrationError::Label {
            sample: 1,
            label: 3,
            classes: 3
        }
    ));
    let err =
        CalibrationCache::try_new(m.view(), m.view(), m.view(), &[0, 1], p.clone()).unwrap_err();
    assert!(matches!(err, CalibrationError::Shape(_)));
    let mut nan = m.clone();
    nan[[1, 1]] = f32::NAN;
    let err = CalibrationCache::try_new(m.view(), e.view(), nan.view(), &[0, 1], p).unwrap_err();
    assert!(matches!(
        err,
        CalibrationError::Logits {
            block: "cloud",
            sample: 1,
            ..
        }
    ));
}

#[test]
fn the_three_threshold_search_is_never_worse_than_the_two_threshold_grid() {
    let cache = cache(3_000);
    let cal = calibrator();
    let base = Thresholds {
        cloud_main: None,
        extension: None,
        ..Thresholds::default()
    };
    for target in [
        Target::MaxOffload(0.1),
        Target::MaxOffload(0.2),
        Target::MaxOffload(0.4),
        Target::MinAccuracy(0.8),
    ] {
        let two = pick(
            &cal.sweep(&cache, base, &Grid::quantiles(&cache, Measure::Entropy, 20)),
            target,
        )
        .unwrap();
        for hard_mass in [false, true] {
            let grid = Grid::all(&cache, Measure::Entropy, 20, hard_mass);
            let found = cal.search(&cache, base, &grid, target, 6).unwrap();
            let (a, b) = (found.chosen.metrics, two.metrics);
            match target {
                Target::MaxOffload(f) => {
                    assert!(a.cloud_share <= f + 1e-12, "{target}: {a:?}");
                    assert!(a.accuracy >= b.accuracy, "{target}: {a:?} vs {b:?}");
                }
                Target::MinAccuracy(x) => {
                    assert!(a.accuracy >= x - 1e-12, "{target}: {a:?}");
                    assert!(a.edge_energy.0 <= b.edge_energy.0 + 1e-18, "{target}");
                }
                Target::MaxEnergy(_) => unreachable!(),
            }
            // What the search reports is what routing does.
            let again = cal.evaluate(
                &cache,
                &MeaNet {
                    thresholds: found.chosen.thresholds,
                },
            );
            assert_eq!(again, a);
            assert!(found.rounds >= 1 && found.points.len() > 1);
            assert_eq!(found.two_threshold, two, "it starts from the grid's pick");
            if !hard_mass {
                assert_eq!(found.chosen.thresholds.hard_mass, None);
            }
        }
    }
}

#[test]
fn the_full_grid_offers_no_check_on_every_axis() {
    let cache = cache(1_000);
    let g = Grid::all(&cache, Measure::Entropy, 10, true);
    for axis in [&g.main, &g.cloud_main, &g.extension, &g.hard_mass] {
        assert_eq!(axis.last(), Some(&None), "{axis:?}");
        assert!(axis.len() >= 3, "{axis:?}");
    }
    assert!(g.hard_mass.iter().flatten().all(|&m| m > 0.0 && m <= 1.0));
    let off = Grid::all(&cache, Measure::Entropy, 10, false);
    assert_eq!(off.hard_mass, vec![None]);
}

/// Like [`cache`], but the main block's accuracy depends on the class: from 99% on class 0
/// down to 40% on class 4 (easy classes), while its uncertainty does not, so one global
/// threshold cannot tell the weak classes from the strong ones.
fn uneven_cache(n: usize) -> CalibrationCache {
    let (c, hard) = (10, vec![5, 6, 7, 8, 9]);
    let partition = ClassPartition::try_new(c, hard).unwrap();
    let mut rng = crate::testing::rng(11);
    let labels: Vec<usize> = (0..n).map(|i| i % c).collect();
    let mut main = Array2::<f32>::zeros((n, c));
    for (i, mut row) in main.outer_iter_mut().enumerate() {
        for v in row.iter_mut() {
            *v = rng.f32() * 2.0;
        }
        let acc = if labels[i] < 5 {
            0.99 - 0.15 * labels[i] as f32
        } else {
            0.8
        };
        let right = rng.f32() < acc;
        let t = if right {
            labels[i]
        } else {
            (labels[i] + 1) % c
        };
        row[t] += 1.0 + 4.0 * rng.f32();
    }
    let ext = Array2::<f32>::zeros((n, 5)).map_view_mut_fn(&mut rng, 0.85, &|i| {
        partition.to_hard(labels[i]).unwrap_or(i % 5)
    });
    let cloud = Array2::<f32>::zeros((n, c)).map_view_mut_fn(&mut rng, 0.95, &|i| labels[i]);
    CalibrationCache::try_new(main.view(), ext.view(), cloud.view(), &labels, partition).unwrap()
}

#[test]
fn per_class_thresholds_meet_the_target_and_beat_global_ones_where_classes_differ() {
    let cal = calibrator();
    for (cache, must_gain) in [(cache(4_000), 0.0), (uneven_cache(4_000), 0.01)] {
        let measure = Measure::Entropy;
        let grid = Grid::all(&cache, measure, 30, false);
        let target = Target::MaxOffload(0.2);
        let base = Thresholds {
            measure,
            ..Thresholds::default()
        };
        let global = cal.search(&cache, base, &grid, target, 8).unwrap().chosen;
        let per = cal
            .search_per_class(&cache, &global.thresholds, 30, 1.0, target)
            .unwrap();
        per.chosen.validate(cache.partition()).unwrap();
        assert!(per.metrics.cloud_share <= 0.2 + 1e-12, "{:?}", per.metrics);
        // What the search reports is what the policy does.
        let routed = cal.evaluate(
            &cache,
            &MeaNetPerClass {
                thresholds: per.chosen.clone(),
            },
        );
        assert_eq!(routed, per.metrics);
        assert!(
            per.metrics.accuracy >= per.start.1.accuracy,
            "{:?} vs start {:?}",
            per.metrics,
            per.start.1
        );
        assert!(
            per.metrics.accuracy >= global.metrics.accuracy + must_gain,
            "per class {:.4} vs global {:.4}",
            per.metrics.accuracy,
            global.metrics.accuracy
        );
    }
}

#[test]
fn per_class_search_reports_an_unreachable_target() {
    let cache = cache(500);
    let t = Thresholds::default();
    let err = calibrator()
        .search_per_class(&cache, &t, 10, 1.0, Target::MinAccuracy(1.0))
        .unwrap_err();
    assert!(matches!(err, CalibrationError::Infeasible { .. }), "{err}");
}

#[test]
fn a_target_the_frontier_stops_short_of_is_reported_and_a_met_one_is_not() {
    use super::{CalibrationPoint, PointMetrics, shortfall};
    // Accuracy rises with the share up to 0.28, then stays flat: the frontier ends there.
    let point = |share: f64| {
        let accuracy = 0.90 + 0.1 * share.min(0.28);
        CalibrationPoint {
            thresholds: Thresholds::default(),
            metrics: PointMetrics {
                accuracy,
                edge_energy: Joules(1e-5 + 1e-3 * share),
                cloud_energy: Joules(0.0),
                cloud_share: share,
                extension_share: 0.0,
            },
        }
    };
    let points: Vec<CalibrationPoint> = (0..=50).map(|k| point(f64::from(k) / 50.0)).collect();
    let steps = 50;
    // (target, whether it is missed, what the reason must say)
    let cases = [
        (Target::MaxOffload(0.2), false, ""),
        (
            Target::MaxOffload(0.4),
            true,
            "does not raise validation accuracy",
        ),
        (
            Target::MaxEnergy(Joules(1e-5 + 1e-3 * 0.6)),
            true,
            "spending more edge energy",
        ),
        (Target::MinAccuracy(0.92), false, ""),
        (Target::MinAccuracy(0.99), true, "no point reaches accuracy"),
    ];
    for (target, missed, why) in cases {
        // An infeasible target is an error for `pick`; the most accurate point stands in.
        let chosen = pick(&points, target).unwrap_or_else(|_| {
            points
                .iter()
                .max_by(|a, b| a.metrics.accuracy.total_cmp(&b.metrics.accuracy))
                .copied()
                .unwrap()
        });
        let s = shortfall(target, &chosen.metrics, &points, steps);
        assert_eq!(s.is_some(), missed, "{target}: {s:?}");
        if let Some(s) = s {
            assert!(s.why.contains(why), "{target}: {}", s.why);
            assert!((s.reached - s.wanted).abs() > s.step, "{target}: {s:?}");
            assert_eq!(s.target, target.to_string());
        }
    }
    let off = shortfall(
        Target::MaxOffload(0.4),
        &pick(&points, Target::MaxOffload(0.4)).unwrap().metrics,
        &points,
        steps,
    )
    .unwrap();
    assert!((off.reached - 0.28).abs() < 1e-9, "{off:?}");
    assert!(off.why.contains("0.280"), "{}", off.why);
}
