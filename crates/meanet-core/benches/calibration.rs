//! Threshold calibration on 10,000 validation samples of 10 classes, and on 50,000 of 1,000
//! classes (ImageNet's scale): the paper's two-threshold grid against the search over every
//! threshold (`Calibrator::search`), with `hard_mass` too, and the per-class search from its
//! pick (`Calibrator::search_per_class`).
//!
//! The caches are synthetic (half the classes hard; the main block right 70% of the time, the
//! extension 85%, the cloud 95%), so the bench needs no model or data; `meanet calibrate` reports
//! the same CPU time for a real bundle in `calibration.json` (`search_cpu_s`). Times are CPU time
//! of the calibrating thread (`/proc/thread-self/schedstat`), the median of 5 runs.
//!
//! `cargo bench -p meanet-core --bench calibration`

#![allow(clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use meanet_core::calibration::{Grid, pick};
use meanet_core::{
    BlockCosts, Bytes, CalibrationCache, Calibrator, ClassPartition, EnergyBreakdown, EnergyModel,
    Joules, Macs, Measure, SampleCost, Target, Thresholds,
};
use ndarray::Array2;

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

use meanet_core::testing::Rng;

fn logits(
    rng: &mut Rng,
    n: usize,
    k: usize,
    acc: f32,
    label: impl Fn(usize) -> usize,
) -> Array2<f32> {
    let mut a = Array2::zeros((n, k));
    for (i, mut row) in a.outer_iter_mut().enumerate() {
        for v in row.iter_mut() {
            *v = rng.f32() * 2.0;
        }
        let right = rng.f32() < acc;
        let t = if right { label(i) } else { (label(i) + 1) % k };
        row[t] += 1.0 + 4.0 * rng.f32();
    }
    a
}

/// `n` samples over `classes` classes, the upper half of them hard.
fn cache(n: usize, classes: usize) -> CalibrationCache {
    let hard: Vec<usize> = (classes / 2..classes).collect();
    let h = hard.len();
    let partition = ClassPartition::try_new(classes, hard).expect("partition");
    let mut rng = meanet_core::testing::rng(7);
    let labels: Vec<usize> = (0..n).map(|i| i % classes).collect();
    let main = logits(&mut rng, n, classes, 0.7, |i| labels[i]);
    let ext = logits(&mut rng, n, h, 0.85, |i| {
        partition.to_hard(labels[i]).unwrap_or(i % h)
    });
    let cloud = logits(&mut rng, n, classes, 0.95, |i| labels[i]);
    CalibrationCache::try_new(main.view(), ext.view(), cloud.view(), &labels, partition)
        .expect("cache")
}

fn cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(
        s.split_whitespace().next()?.parse().ok()?,
    ))
}

/// Median CPU time (wall where no CPU clock) of 5 runs of `f`, and its last result.
fn timed<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        let (c0, w0) = (cpu(), Instant::now());
        last = Some(f());
        times.push(match (c0, cpu()) {
            (Some(a), Some(b)) => b - a,
            _ => w0.elapsed(),
        });
    }
    times.sort();
    (times[2], last.expect("ran"))
}

fn main() {
    run(10_000, 10);
    // ImageNet's scale: 1,000 classes, 50,000 validation samples (the search must stay under
    // 1 s there too).
    run(50_000, 1_000);
}

fn run(n: usize, classes: usize) {
    let cache = cache(n, classes);
    let cal = Calibrator::new(
        BlockCosts {
            main: Macs(1_000),
            extension: Macs(500),
            cloud: Macs(100_000),
        },
        (Bytes(3_136), Bytes(40)),
        &Linear,
    );
    let base = Thresholds {
        cloud_main: None,
        extension: None,
        ..Thresholds::default()
    };
    let target = Target::MaxOffload(0.2);
    println!(
        "calibration for {target} on {n} samples of {classes} classes, 50 candidates per threshold (CPU time, median of 5)"
    );
    let (t, two) = timed(|| {
        let grid = Grid::quantiles(&cache, Measure::Entropy, 50);
        let points = cal.sweep(&cache, base, &grid);
        (points.len(), pick(&points, target).expect("feasible"))
    });
    println!(
        "  two thresholds (t_main x t_ext grid): {:>8.3} s  {:>6} points  accuracy {:.4} offload {:.3}",
        t.as_secs_f64(),
        two.0,
        two.1.metrics.accuracy,
        two.1.metrics.cloud_share
    );
    for hard_mass in [false, true] {
        let (t, found) = timed(|| {
            let grid = Grid::all(&cache, Measure::Entropy, 50, hard_mass);
            cal.search(&cache, base, &grid, target, 8)
                .expect("feasible")
        });
        println!(
            "  every threshold{}: {:>8.3} s  {:>6} points  accuracy {:.4} offload {:.3} ({} rounds; target < 1 s)",
            if hard_mass {
                " + hard_mass"
            } else {
                "           "
            },
            t.as_secs_f64(),
            found.points.len(),
            found.chosen.metrics.accuracy,
            found.chosen.metrics.cloud_share,
            found.rounds
        );
    }
    let grid = Grid::all(&cache, Measure::Entropy, 50, false);
    let start = cal
        .search(&cache, base, &grid, target, 8)
        .expect("feasible")
        .chosen;
    let (t, per) = timed(|| {
        cal.search_per_class(&cache, &start.thresholds, 50, 3.0, target)
            .expect("feasible")
    });
    println!(
        "  per class (from that pick):       {:>8.3} s  {:>6} prices  accuracy {:.4} offload {:.3}",
        t.as_secs_f64(),
        per.prices,
        per.metrics.accuracy,
        per.metrics.cloud_share
    );
}
