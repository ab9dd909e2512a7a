//! The edge's memory footprint, estimated from its blocks' profiles and the backend: what
//! core's [`meanet_core::memory::plan`] turns into a batch size for `runtime.memory_mb`.
//!
//! The constants are measured on this project's presets (`scripts/footprint`, docs/edge.md):
//! the estimate is meant to be a little above the peak resident memory `/usr/bin/time`
//! reports, so that a plan inside the budget is a process inside it.

use meanet_core::memory::{Footprint, MIB};
use meanet_core::units::Bytes;
use meanet_energy::Profile;

use crate::options::{Backend, Options};

/// Resident before any block is loaded: the process, its runtime, the data reader and (ONNX
/// Runtime) its library. Measured: the reference edge idles at 37.4 MiB with ONNX Runtime and
/// 17.6 MiB with tract, and `meanet run` on its test split peaks at 46 and 27 MiB at batch 1.
fn base(backend: Backend) -> u64 {
    match backend {
        Backend::Ort => 46 * MIB,
        Backend::Tract => 28 * MIB,
    }
}

/// Per sample, besides its input and activations: the outcome, its record, and the backend's
/// own buffers (tract keeps more of them per sample than ONNX Runtime).
fn per_sample_overhead(backend: Backend) -> u64 {
    match backend {
        Backend::Ort => 64 * 1024,
        Backend::Tract => 200 * 1024,
    }
}

/// Bytes held per byte of weights once a block is loaded: the weights themselves plus the
/// backend's packed copies for its kernels (the same for both backends, measured).
const WEIGHT_FACTOR: u64 = 3;

/// Live activation bytes per byte of a block's largest layer (its input plus output), per
/// sample: neighbouring layers' buffers and the kernels' scratch are alive at the same time.
const ACTIVATION_FACTOR: u64 = 3;

/// The largest input-plus-output activation bytes of any layer of `p`, per sample.
fn widest_layer(p: &Profile) -> u64 {
    let batch = u64::try_from(p.batch.max(1)).unwrap_or(1);
    p.layers
        .iter()
        .map(|l| {
            l.activation_read_bytes
                .saturating_add(l.activation_write_bytes)
        })
        .max()
        .unwrap_or(0)
        / batch
}

/// The footprint of an edge running `main` and `extension` on samples of `values` numbers.
pub fn estimate(
    main: &Profile,
    extension: &Profile,
    values: usize,
    options: &Options,
) -> Footprint {
    let backend = options.runtime.backend;
    let weights = main
        .weight_bytes()
        .0
        .saturating_add(extension.weight_bytes().0);
    let widest = widest_layer(main).max(widest_layer(extension));
    let values = u64::try_from(values).unwrap_or(u64::MAX);
    // The 8-bit pixels, the normalised FP32 batch and its copy for the offloaded sub-batch.
    let input = values.saturating_mul(1 + 4 + 4);
    Footprint {
        fixed: Bytes(base(backend).saturating_add(weights.saturating_mul(WEIGHT_FACTOR))),
        per_sample: Bytes(
            input
                .saturating_add(widest.saturating_mul(ACTIVATION_FACTOR))
                .saturating_add(per_sample_overhead(backend)),
        ),
    }
}
