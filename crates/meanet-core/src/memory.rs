//! The edge's memory: what it needs at a batch size, the batch size it uses by default, and the
//! largest batch a budget (`runtime.memory_mb`) allows.
//!
//! Pure arithmetic over a [`Footprint`] the runtime estimates from the blocks' profiles and the
//! backend; the figures behind the estimate and the table are measured (docs/edge.md,
//! "Footprint").

use crate::units::Bytes;

/// One mebibyte.
pub const MIB: u64 = 1 << 20;

/// What the edge holds in memory: a part that does not depend on the batch (the process, the
/// backend's library, the loaded blocks) and a part per sample in a batch (its input and the
/// blocks' activations while they run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// Resident whatever the batch.
    pub fixed: Bytes,
    /// Added per sample of a batch.
    pub per_sample: Bytes,
}

impl Footprint {
    /// The estimate at `batch` samples (saturating).
    pub fn at(&self, batch: usize) -> Bytes {
        let b = u64::try_from(batch).unwrap_or(u64::MAX);
        Bytes(
            self.fixed
                .0
                .saturating_add(self.per_sample.0.saturating_mul(b)),
        )
    }
}

/// The batch size the edge routes with, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryPlan {
    /// Samples per batch.
    pub batch: usize,
    /// The estimated peak at that batch.
    pub estimate: Bytes,
    /// The budget it was chosen for (`None`: no budget).
    pub budget: Option<Bytes>,
    /// Whether the budget made the batch smaller than wanted.
    pub limited: bool,
}

impl MemoryPlan {
    /// Whether a budget is held: the backend should give memory back after each batch (ONNX
    /// Runtime: no arena, no memory pattern) rather than keep its peak.
    pub fn frugal(&self) -> bool {
        self.budget.is_some()
    }
}

/// A budget that batch 1 does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "runtime.memory_mb = {budget_mb} is too small for this bundle: even batch 1 needs about {need_mb} MiB (the process, the backend and the loaded blocks take about {fixed_mb} MiB, each sample about {per_sample_kib} KiB more); the smallest budget that works is runtime.memory_mb = {need_mb}"
)]
pub struct BudgetTooSmall {
    /// The budget, in MiB.
    pub budget_mb: u64,
    /// What batch 1 needs, in MiB (rounded up).
    pub need_mb: u64,
    /// The fixed part, in MiB (rounded up).
    pub fixed_mb: u64,
    /// Per sample, in KiB (rounded up).
    pub per_sample_kib: u64,
}

/// The default batch size for samples of `values` numbers each (`C * H * W`), when none is
/// set: 64 up to 32x32x3 (Fashion-MNIST, CIFAR), then halving as the samples grow, down to 8 at
/// ImageNet's 224x224x3. Measured on the reference presets (docs/edge.md): past these sizes a
/// larger batch buys less than 5% throughput on a CPU and costs its whole activation memory.
pub fn default_batch(values: usize) -> usize {
    match values {
        0..=3_072 => 64,
        3_073..=12_288 => 32,
        12_289..=49_152 => 16,
        _ => 8,
    }
}

/// The batch to route with: `wanted` (a configured batch size, else [`default_batch`]), made as
/// small as `budget` needs, never below 1.
pub fn plan(
    footprint: Footprint,
    budget: Option<Bytes>,
    wanted: usize,
) -> Result<MemoryPlan, BudgetTooSmall> {
    let wanted = wanted.max(1);
    let Some(limit) = budget else {
        return Ok(MemoryPlan {
            batch: wanted,
            estimate: footprint.at(wanted),
            budget: None,
            limited: false,
        });
    };
    let one = footprint.at(1);
    if one > limit {
        let up = |b: u64, unit: u64| b.div_ceil(unit);
        return Err(BudgetTooSmall {
            budget_mb: limit.0 / MIB,
            need_mb: up(one.0, MIB),
            fixed_mb: up(footprint.fixed.0, MIB),
            per_sample_kib: up(footprint.per_sample.0, 1024),
        });
    }
    let room = limit.0 - footprint.fixed.0;
    let fits = room
        .checked_div(footprint.per_sample.0)
        .map_or(wanted, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let batch = wanted.min(fits).max(1);
    Ok(MemoryPlan {
        batch,
        estimate: footprint.at(batch),
        budget: Some(limit),
        limited: batch < wanted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: Footprint = Footprint {
        fixed: Bytes(100 * MIB),
        per_sample: Bytes(10 * MIB),
    };

    #[test]
    fn without_a_budget_the_wanted_batch_is_kept() {
        let p = plan(FP, None, 64).unwrap();
        assert_eq!((p.batch, p.limited, p.frugal()), (64, false, false));
        assert_eq!(p.estimate, Bytes(740 * MIB));
    }

    #[test]
    fn a_budget_takes_the_largest_batch_that_fits() {
        let p = plan(FP, Some(Bytes(256 * MIB)), 64).unwrap();
        // (256 - 100) / 10 = 15.6 -> 15 samples.
        assert_eq!((p.batch, p.limited, p.frugal()), (15, true, true));
        assert!(p.estimate <= Bytes(256 * MIB));
        assert!(FP.at(p.batch + 1) > Bytes(256 * MIB));
        let roomy = plan(FP, Some(Bytes(4096 * MIB)), 8).unwrap();
        assert_eq!((roomy.batch, roomy.limited), (8, false));
    }

    #[test]
    fn a_budget_below_batch_one_names_the_smallest_that_works() {
        let e = plan(FP, Some(Bytes(64 * MIB)), 8).unwrap_err();
        assert_eq!(e.need_mb, 110);
        let text = e.to_string();
        assert!(text.contains("runtime.memory_mb = 64"), "{text}");
        assert!(text.contains("the smallest budget that works is runtime.memory_mb = 110"));
        // Exactly batch 1 fits.
        assert_eq!(plan(FP, Some(Bytes(110 * MIB)), 8).unwrap().batch, 1);
    }

    #[test]
    fn nothing_per_sample_and_absurd_sizes_neither_divide_by_zero_nor_overflow() {
        let flat = Footprint {
            fixed: Bytes(MIB),
            per_sample: Bytes(0),
        };
        assert_eq!(plan(flat, Some(Bytes(2 * MIB)), 32).unwrap().batch, 32);
        let huge = Footprint {
            fixed: Bytes(u64::MAX - 1),
            per_sample: Bytes(u64::MAX),
        };
        assert_eq!(huge.at(usize::MAX), Bytes(u64::MAX));
        assert!(plan(huge, Some(Bytes(u64::MAX - 1)), 4).is_err());
    }

    #[test]
    fn the_default_batch_halves_as_samples_grow() {
        assert_eq!(default_batch(28 * 28), 64);
        assert_eq!(default_batch(3 * 32 * 32), 64);
        assert_eq!(default_batch(3 * 64 * 64), 32);
        assert_eq!(default_batch(3 * 96 * 96), 16);
        assert_eq!(default_batch(3 * 224 * 224), 8);
    }
}
