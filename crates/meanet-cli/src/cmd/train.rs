//! `meanet train` (cargo feature `train`): complexity-aware training into a deployment bundle,
//! then profiling of the exported networks and a check of ONNX Runtime against burn's own
//! inference. The bundle is written only when that check passes.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use meanet_core::Manifest;
use meanet_core::manifest::MacsPerSample;
use meanet_energy::Graph;
use meanet_onnx::Runtime;
use meanet_train::stages::Run;
use meanet_train::{HardBy, Preset, TrainConfig};
use ndarray::{ArrayD, IxDyn};

use super::DataArgs;
use crate::bundle::Bundle;
use crate::wiring;

/// The largest difference between ONNX Runtime's and burn's outputs a bundle may have.
pub const MAX_ONNX_DIFF: f32 = 1e-4;

/// Which stage(s) to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Stage {
    /// Every stage in order.
    All,
    /// Train the main block.
    Main,
    /// Class statistics on validation and the hard classes.
    Partition,
    /// Train the adaptive and extension blocks (main frozen).
    Extension,
    /// Train the cloud model.
    Cloud,
    /// Export ONNX files, manifest and test results from the checkpoints.
    Export,
}

/// Options of `meanet train`.
#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// The data set to train on (default: Fashion-MNIST).
    #[command(flatten)]
    pub data: DataArgs,
    /// The bundle directory to write (checkpoints go to OUT/work).
    #[arg(long, default_value = "models/fashion-mnist")]
    pub out: PathBuf,
    /// Stage to run.
    #[arg(long, value_enum, default_value = "all")]
    pub stage: Stage,
    /// Reuse checkpoints of stages already trained.
    #[arg(long)]
    pub resume: bool,
    /// Network sizes, derived from the input shape: small (the reference networks), resnet32
    /// (the paper's CIFAR configuration) or tiny (smoke tests).
    #[arg(long, default_value = "small")]
    pub preset: Preset,
    /// Depth of the cloud ResNet of the resnet32 preset: 6n + 2 (20, 32, 44, 56, 110).
    #[arg(long, default_value_t = 110)]
    pub cloud_depth: usize,
    /// Fraction of the classes that are hard: H = round(C x FRACTION).
    #[arg(long, default_value_t = 0.5)]
    pub hard_fraction: f64,
    /// What the hard classes are the worst at: recall or precision of the main block per class
    /// on the validation split.
    #[arg(long, default_value = "recall")]
    pub hard_by: HardBy,
    /// Fraction of the training set held out for validation (hard classes and calibration).
    #[arg(long, default_value_t = 0.1)]
    pub validation: f64,
    /// Epochs of the main block.
    #[arg(long)]
    pub epochs_main: Option<usize>,
    /// Epochs of the adaptive + extension blocks.
    #[arg(long)]
    pub epochs_extension: Option<usize>,
    /// Epochs of the cloud model.
    #[arg(long)]
    pub epochs_cloud: Option<usize>,
    /// Samples per training step.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Use only the first N training samples.
    #[arg(long)]
    pub limit_train: Option<usize>,
    /// Use only the first N test samples.
    #[arg(long)]
    pub limit_test: Option<usize>,
    /// Seed for split, shuffling, augmentation and initialisation.
    #[arg(long)]
    pub seed: Option<u64>,
    /// No random crops or flips.
    #[arg(long)]
    pub no_augment: bool,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

fn config(args: &TrainArgs) -> TrainConfig {
    let mut cfg = TrainConfig {
        preset: args.preset,
        cloud_depth: args.cloud_depth,
        hard_fraction: args.hard_fraction,
        hard_by: args.hard_by,
        validation: args.validation,
        limit_train: args.limit_train,
        limit_test: args.limit_test,
        ..TrainConfig::default()
    };
    if let Some(s) = args.seed {
        cfg.seed = s;
    }
    for (h, e) in [
        (&mut cfg.main, args.epochs_main),
        (&mut cfg.extension, args.epochs_extension),
        (&mut cfg.cloud, args.epochs_cloud),
    ] {
        if let Some(e) = e {
            h.epochs = e;
        }
        if let Some(b) = args.batch_size {
            h.batch_size = b;
        }
        if args.no_augment {
            h.augment = false;
        }
    }
    cfg
}

/// Runs `meanet train`.
pub fn run(args: &TrainArgs) -> Result<()> {
    if args.batch_size == Some(0) {
        bail!("--batch-size must be at least 1");
    }
    let source = args.data.source(None);
    let splits = wiring::data(&source, &args.data.cache)?;
    let mut run = Run::new(
        &args.out,
        config(args),
        (splits.train, splits.test),
        DataArgs::spec(&source),
        args.quiet,
    )
    .context("preparing the training run")?;
    let resume = args.resume;
    match args.stage {
        Stage::Main => {
            run.main(false)?;
        }
        Stage::Partition => {
            let main = run.load_main()?;
            run.partition(&main)?;
        }
        Stage::Extension => {
            let main = run.load_main()?;
            let (p, _) = run.partition(&main)?;
            run.extension(&main, &p, false)?;
        }
        Stage::Cloud => {
            run.cloud(false)?;
        }
        Stage::Export | Stage::All => {
            let all = args.stage == Stage::All;
            let main = if all {
                run.main(resume)?
            } else {
                run.load_main()?
            };
            let (p, cm) = run.partition(&main)?;
            let ext = if all {
                run.extension(&main, &p, resume)?
            } else {
                run.load_extension()?
            };
            let cloud = if all {
                run.cloud(resume)?
            } else {
                run.load_cloud()?
            };
            // Export into a staging directory; the bundle appears only once it is checked.
            let staged = args.out.join("work").join("staged");
            let _ = std::fs::remove_dir_all(&staged);
            let results = run.export(&staged, &main, &ext, &cloud, &p, &cm)?;
            let macs = record_macs(&staged)?;
            let diff = compare_with_onnx_runtime(&staged, &run, &main, &ext, &cloud)?;
            run.log(&format!(
                "ONNX Runtime vs burn: max |diff| {diff:.3e} (limit {MAX_ONNX_DIFF:.0e})"
            ));
            check_diff(diff)?;
            let mut json = serde_json::to_value(&results)?;
            json["macs_per_sample"] = serde_json::json!({"main": macs.main, "extension": macs.extension, "cloud": macs.cloud});
            json["onnx_max_abs_diff"] = serde_json::json!(diff);
            let path = staged.join("results.json");
            std::fs::write(&path, serde_json::to_string_pretty(&json)?)
                .with_context(|| format!("writing {}", path.display()))?;
            publish(&staged, &args.out)?;
            eprintln!(
                "bundle {}: main {:.4}, main+extension {:.4}, cloud {:.4} test accuracy; MACs/sample main {}, extension {}, cloud {}; ONNX vs burn max |diff| {:.2e}",
                args.out.display(),
                results.main_accuracy,
                results.main_extension_accuracy,
                results.cloud_accuracy,
                macs.main,
                macs.extension,
                macs.cloud,
                diff
            );
        }
    }
    Ok(())
}

/// Fails when ONNX Runtime and burn disagree by more than [`MAX_ONNX_DIFF`] or either
/// produced NaN (`diff` is NaN then).
pub fn check_diff(diff: f32) -> Result<()> {
    if diff.is_nan() {
        bail!(
            "the exported networks produce NaN (in ONNX Runtime or in burn); no bundle was written"
        );
    }
    if diff > MAX_ONNX_DIFF {
        bail!(
            "ONNX Runtime and burn disagree by {diff:.3e} (more than {MAX_ONNX_DIFF:.0e}); the export is wrong, so no bundle was written"
        );
    }
    Ok(())
}

/// Moves the checked files from `staged` into the bundle directory `out`.
fn publish(staged: &Path, out: &Path) -> Result<()> {
    for f in [
        "main.onnx",
        "extension.onnx",
        "cloud.onnx",
        "meanet.toml",
        "results.json",
    ] {
        let (from, to) = (staged.join(f), out.join(f));
        std::fs::rename(&from, &to)
            .with_context(|| format!("moving {} to {}", from.display(), to.display()))?;
    }
    // A fresh bundle has no thresholds: an old calibration no longer applies.
    let _ = std::fs::remove_file(out.join("calibration.json"));
    let _ = std::fs::remove_dir_all(staged);
    Ok(())
}

/// Profiles the bundle's ONNX files and writes MACs per sample into its manifest.
fn record_macs(bundle: &Path) -> Result<MacsPerSample> {
    let path = bundle.join("meanet.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut manifest: Manifest =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let macs = |file: &str| -> Result<u64> {
        let p = Graph::read(bundle.join(file))?.profile(1)?;
        if !p.is_complete() {
            bail!("{file}: could not count {:?}", p.uncounted);
        }
        Ok(p.macs_per_sample().0)
    };
    let m = MacsPerSample {
        main: macs(&manifest.models.main)?,
        extension: macs(&manifest.models.extension)?,
        cloud: macs(&manifest.models.cloud)?,
    };
    manifest.macs = Some(m);
    std::fs::write(&path, toml::to_string_pretty(&manifest)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(m)
}

/// Runs the exported networks in ONNX Runtime on a test batch and returns the largest absolute
/// difference from burn's own inference on the same batch.
pub fn compare_with_onnx_runtime(
    bundle: &Path,
    run: &Run,
    main: &meanet_train::nets::MainNet,
    ext: &meanet_train::nets::ExtensionNet,
    cloud: &meanet_train::nets::CloudNet,
) -> Result<f32> {
    let (x, ml, f, el, cl) = run.reference_outputs(main, ext, cloud, 16);
    let b = Bundle::load(bundle)?;
    let rt = Runtime::with_defaults().context("loading ONNX Runtime")?;
    let mut nets = b.networks(&rt)?;
    let shape: Vec<usize> = std::iter::once(x.len() / b.manifest.sample_len())
        .chain(b.manifest.input.shape.iter().copied())
        .collect();
    let x = ArrayD::from_shape_vec(IxDyn(&shape), x)?;
    let out = nets.main.run(x.view())?;
    let hard = nets.extension.run(x.view(), out.features.view())?;
    let logits = nets.cloud.run(x.view())?;
    // NaN anywhere makes the difference NaN (f32::max would drop it).
    let diff = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, |m, d| {
                if d.is_nan() || m.is_nan() {
                    f32::NAN
                } else {
                    m.max(d)
                }
            })
    };
    let pairs = [
        (out.logits.iter().copied().collect::<Vec<_>>(), ml),
        (out.features.iter().copied().collect(), f),
        (hard.iter().copied().collect(), el),
        (logits.iter().copied().collect(), cl),
    ];
    let mut worst = 0f32;
    for (onnx, burn) in &pairs {
        if onnx.len() != burn.len() {
            bail!(
                "ONNX output has {} values, burn's {}",
                onnx.len(),
                burn.len()
            );
        }
        let d = diff(onnx, burn);
        worst = if d.is_nan() { d } else { worst.max(d) };
        if worst.is_nan() {
            break;
        }
    }
    Ok(worst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nan_or_a_large_difference_fails_the_export() {
        check_diff(0.0).unwrap();
        check_diff(9e-5).unwrap();
        let e = check_diff(2e-4).unwrap_err().to_string();
        assert!(
            e.contains("disagree by 2.000e-4") && e.contains("no bundle"),
            "{e}"
        );
        let e = check_diff(f32::NAN).unwrap_err().to_string();
        assert!(e.contains("NaN"), "{e}");
    }
}
