//! `meanet quantize`: a new bundle whose blocks are static int8 QDQ graphs where that pays on
//! this machine, calibrated on the bundle's training data, with thresholds re-calibrated.

use std::path::PathBuf;

use anyhow::{Result, bail};
use meanet_core::Target;
use meanet_eval::calibrate;
use meanet_eval::quantize::{QuantizeOptions, quantize_bundle};
use meanet_quant::{Activations, Method};
use meanet_runtime::Deployment;

use super::calibrate::CalibrateArgs;
use super::{DataArgs, Output, say};
use crate::settings::Settings;
use crate::wiring;

/// The activation-range method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MethodArg {
    /// The observed minimum and maximum.
    Minmax,
    /// A percentile of the absolute values (--percentile).
    Percentile,
    /// The threshold of least KL divergence (TensorRT's method).
    Entropy,
}

/// The activations' type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ActivationsArg {
    /// u8 activations, s8 weights (U8S8): the fast path on x86 with VNNI.
    U8,
    /// s8 activations (S8S8), for targets that want them.
    S8,
}

/// Options of `meanet quantize`.
#[derive(Debug, Clone, clap::Args)]
pub struct QuantizeArgs {
    /// The f32 bundle directory.
    pub bundle: PathBuf,
    /// Where to write the quantized bundle (a new directory; never the bundle itself).
    #[arg(long)]
    pub out: PathBuf,
    /// Write into --out even if it already holds a bundle.
    #[arg(long)]
    pub force: bool,
    /// How activation ranges are chosen.
    #[arg(long, value_enum, default_value_t = MethodArg::Minmax)]
    pub method: MethodArg,
    /// The percentile of --method percentile.
    #[arg(long, default_value_t = 99.99)]
    pub percentile: f64,
    /// The activations' type.
    #[arg(long, value_enum, default_value_t = ActivationsArg::U8)]
    pub activations: ActivationsArg,
    /// Calibration samples, drawn evenly from the bundle's training split.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    pub samples: u32,
    /// Also quantize the cloud model (for `meanet serve` and `meanet export triton`).
    #[arg(long)]
    pub cloud: bool,
    /// Every block int8, even where int8 is slower than f32 on this machine: for targets that
    /// run int8 only (NPUs, DSPs). The default keeps a block int8 only where it pays here.
    #[arg(long)]
    pub always_int8: bool,
    /// Also write the int8 graph of a block that stays f32 (as BLOCK.int8.onnx, which the
    /// bundle does not use), to compare or time it.
    #[arg(long)]
    pub keep_slower: bool,
    /// Write each block's calibration inputs into DIR as .npy files (BLOCK.TENSOR.npy),
    /// so that another quantizer (scripts/quantize-peer) calibrates on the same samples.
    #[arg(long, value_name = "DIR")]
    pub write_calibration: Option<PathBuf>,
    /// The target the thresholds are re-calibrated for [calibration.target].
    #[arg(long)]
    pub target: Option<Target>,
    /// The data set (default: the one recorded in the bundle).
    #[command(flatten)]
    pub data: DataArgs,
}

/// Runs `meanet quantize`.
pub fn run(args: &QuantizeArgs, settings: &Settings, out: Output) -> Result<()> {
    if args.out.join("meanet.toml").is_file() && !args.force {
        bail!(
            "{} already holds a bundle (meanet.toml): give another --out, or --force to write into it",
            args.out.display()
        );
    }
    let method = match args.method {
        MethodArg::Minmax => Method::MinMax,
        MethodArg::Percentile => Method::Percentile(args.percentile),
        MethodArg::Entropy => Method::Entropy,
    };
    let activations = match args.activations {
        ActivationsArg::U8 => Activations::U8,
        ActivationsArg::S8 => Activations::S8,
    };
    let dep = if args.cloud {
        Deployment::load_full(&args.bundle, settings)?
    } else {
        Deployment::load(&args.bundle, settings)?
    };
    let source = args.data.source(dep.bundle.manifest.dataset.as_ref());
    let train = dep.align_classes(wiring::data(&source, &args.data.cache)?.train, source.kind)?;
    let validation: std::collections::HashSet<usize> =
        calibrate::validation_split(&dep, &train, settings)
            .into_iter()
            .collect();
    // The training split in a spread-out order: evenly spaced first, so that the first N
    // cover the whole set (and its classes) for any N.
    let train_idx: Vec<usize> = (0..train.len())
        .filter(|i| !validation.contains(i))
        .collect();
    let pool = spread(&train_idx, args.samples as usize);
    let data = format!(
        "the {} training split (validation samples excluded), evenly spaced",
        source.kind
    );
    say(
        out,
        &format!(
            "quantizing {} ({}, {} activations) on {} samples per block of {data}",
            args.bundle.display(),
            method.describe(),
            activations.name(),
            args.samples,
        ),
    );
    let outcome = quantize_bundle(
        &dep,
        &train,
        &pool,
        &data,
        &args.out,
        &QuantizeOptions {
            method,
            activations,
            cloud: args.cloud,
            samples: args.samples as usize,
            rounds: 3,
            always_int8: args.always_int8,
            keep_slower: args.keep_slower,
            write_calibration: args.write_calibration.clone(),
        },
    )?;
    for b in &outcome.spec.blocks {
        crate::stdout::line(format_args!(
            "{:<9} {}: f32 {:.0}/s, int8 {:.0}/s; {}; quantized: {}",
            b.block,
            if b.int8 { "int8" } else { "f32 " },
            b.f32_per_s,
            b.int8_per_s,
            b.why,
            if b.ops.is_empty() { "nothing" } else { &b.ops }
        ))?;
    }
    for (block, kept) in &outcome.kept_f32 {
        let mut by_reason: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for k in kept {
            by_reason
                .entry(format!("{} ({})", k.op, k.why))
                .or_default()
                .push(k.node.clone());
        }
        for (what, nodes) in by_reason {
            crate::stdout::line(format_args!(
                "{block:<9} kept f32: {} x {what}",
                nodes.len()
            ))?;
        }
    }
    // Quantization moves the entropies the thresholds were chosen on.
    let cal = CalibrateArgs {
        bundle: args.out.clone(),
        target: args.target,
        per_class: false,
        validation: None,
        data: args.data.clone(),
    };
    super::calibrate::run(&cal, settings, out)
}

/// `idx` reordered in rounds of `n` evenly spaced elements: every prefix of length `n` (and of
/// each multiple of it) spreads over the whole of `idx`.
fn spread(idx: &[usize], n: usize) -> Vec<usize> {
    let n = n.clamp(1, idx.len().max(1));
    let stride = idx.len().div_ceil(n).max(1);
    (0..stride)
        .flat_map(|offset| idx.iter().skip(offset).step_by(stride).copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::spread;

    #[test]
    fn spread_is_a_permutation_whose_prefix_spans_the_set() {
        let idx: Vec<usize> = (100..1100).collect();
        let s = spread(&idx, 64);
        let mut sorted = s.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, idx);
        // Stride 16: the first 63 are every 16th, from the first to the last sixteenth.
        assert!(s[..63].iter().all(|i| (i - 100) % 16 == 0));
        assert_eq!((s[0], s[62]), (100, 1092));
    }
}
