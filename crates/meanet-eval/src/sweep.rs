//! The target sweep: each method calibrated for several offload targets on the validation split,
//! measured on the test split.

use anyhow::Result;
use meanet_core::{BranchyNet, ExitPolicy, MeaNet, Thresholds};

use crate::schema::TargetPoint;
use meanet_runtime::Deployment;
use meanet_runtime::options::Options;

/// Offload targets of the sweep in reports.
pub const SWEEP_TARGETS: [f64; 7] = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4];

/// Calibrates MEANet (global and per-class thresholds) and the entropy exit on `validation`
/// for each of [`SWEEP_TARGETS`], and measures each on the `test` logits: what a calibrated
/// target delivers on samples calibration never saw.
pub fn target_sweep(
    dep: &Deployment,
    options: &Options,
    validation: &meanet_core::CalibrationCache,
    test: &meanet_core::CalibrationCache,
) -> Result<Vec<TargetPoint>> {
    use meanet_core::calibration::{Grid, pick};
    use meanet_core::{Calibrator, MeaNetPerClass, Target};
    let calibrator = Calibrator::new(
        dep.costs,
        dep.offload_bytes(options.cloud.payload),
        &dep.energy,
    );
    let c = &options.calibration;
    let measure = options.policy.measure;
    let base = Thresholds {
        measure,
        ..Thresholds::default()
    };
    let grid = Grid::all(validation, measure, c.steps, c.hard_mass);
    let entropy = crate::calibrate::entropy_exit_points(&calibrator, validation, base);
    let mut out = Vec::new();
    for &share in &SWEEP_TARGETS {
        let target = Target::MaxOffload(share);
        let Ok(global) = calibrator.search(validation, base, &grid, target, 8) else {
            continue;
        };
        let g = global.chosen;
        let mut point = |method: &str, val: meanet_core::PointMetrics, policy: &dyn ExitPolicy| {
            let t = calibrator.evaluate(test, policy);
            out.push(TargetPoint {
                method: method.to_string(),
                target: share,
                validation_accuracy: val.accuracy,
                validation_offload: val.cloud_share,
                test_accuracy: t.accuracy,
                test_offload: t.cloud_share,
            });
        };
        point(
            "meanet",
            g.metrics,
            &MeaNet {
                thresholds: g.thresholds,
            },
        );
        if let Ok(per) = calibrator.search_per_class(
            validation,
            &g.thresholds,
            c.steps,
            c.per_class_min_gain,
            target,
        ) {
            point(
                "meanet_per_class",
                per.metrics,
                &MeaNetPerClass {
                    thresholds: per.chosen,
                },
            );
        }
        if let Ok(e) = pick(&entropy, target) {
            point(
                "entropy_exit",
                e.metrics,
                &BranchyNet {
                    measure,
                    threshold: e.thresholds.main.unwrap_or(0.0),
                },
            );
        }
    }
    Ok(out)
}
