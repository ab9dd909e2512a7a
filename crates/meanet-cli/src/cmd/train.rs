//! `meanet train` (cargo feature `train`): complexity-aware training into a deployment bundle,
//! then profiling of the exported networks and a check of the inference backend against burn's own
//! inference. The bundle is written only when that check passes.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use meanet_core::Manifest;
use meanet_core::manifest::MacsPerSample;
use meanet_energy::Graph;
use meanet_runtime::train::stages::Run;
use meanet_runtime::train::{HardBy, Preset, TrainConfig, TrainDevice};

use crate::settings::{Settings, TrainSettings};
use meanet_runtime::Engine;
use ndarray::{ArrayD, IxDyn};

use super::{DataArgs, Output};
use crate::wiring;
use meanet_runtime::Bundle;

/// The largest difference between the inference backend's and burn's outputs a bundle may have,
/// relative to the output's scale: `max |onnx - burn| / max(1, max |burn|)` per output. Outputs
/// within `[-1, 1]` are held to 1e-4 absolute; large logits (hundreds, in a deep network after
/// a short training) to the same relative precision, since float32 carries about 7 digits.
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

impl Stage {
    /// The stage's name, as `--stage` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Stage::All => "all",
            Stage::Main => "main",
            Stage::Partition => "partition",
            Stage::Extension => "extension",
            Stage::Cloud => "cloud",
            Stage::Export => "export",
        }
    }
}

/// Options of `meanet train`.
#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// The data set to train on (default: Fashion-MNIST).
    #[command(flatten)]
    pub data: DataArgs,
    /// The bundle directory to write (checkpoints go to OUT/work). Required: a default could
    /// land on a bundle someone keeps. A directory that holds a bundle already needs --force.
    #[arg(long)]
    pub out: PathBuf,
    /// Train into --out although it holds a bundle: the old bundle's files are replaced only
    /// once the new networks pass their export check (until then they stay as they were).
    #[arg(long)]
    pub force: bool,
    /// Stage to run.
    #[arg(long, value_enum, default_value = "all")]
    pub stage: Stage,
    /// Reuse checkpoints of stages already trained.
    #[arg(long)]
    pub resume: bool,
    /// Network sizes: small (the reference networks), resnet32 (the paper's CIFAR
    /// configuration), tiny (smoke tests), mobilenetv2 or resnet18 (the paper's ImageNet
    /// configuration, for 224x224 inputs) [train.preset; default small].
    #[arg(long)]
    pub preset: Option<Preset>,
    /// The cloud ResNet, by name or depth: resnet32 takes 6n + 2 (resnet20, resnet56,
    /// resnet110, ...; default resnet110), mobilenetv2 and resnet18 take resnet18, resnet34,
    /// resnet50, resnet101 or resnet152 (default resnet50) [train.cloud_depth].
    #[arg(long = "cloud", visible_alias = "cloud-depth", value_name = "RESNET", value_parser = parse_cloud)]
    pub cloud_depth: Option<usize>,
    /// Fraction of the classes that are hard: H = round(C x FRACTION)
    /// [train.hard_fraction; default 0.5].
    #[arg(long)]
    pub hard_fraction: Option<f64>,
    /// What the hard classes are the worst at: recall or precision of the main block per class
    /// on the validation split [train.hard_by; default recall].
    #[arg(long)]
    pub hard_by: Option<HardBy>,
    /// Fraction of the training set held out for validation (hard classes and calibration)
    /// [train.validation_fraction; default 0.1].
    #[arg(long)]
    pub validation_fraction: Option<f64>,
    /// Where training runs: flex (burn's CPU backend), wgpu or cuda (cargo features of the same
    /// name, and a GPU) [train.device; default flex].
    #[arg(long)]
    pub device: Option<TrainDevice>,
    /// Epochs of the main block [train.epochs_main; default 10].
    #[arg(long)]
    pub epochs_main: Option<usize>,
    /// Epochs of the adaptive + extension blocks [train.epochs_extension; default 10].
    #[arg(long)]
    pub epochs_extension: Option<usize>,
    /// Epochs of the cloud model [train.epochs_cloud; default 10].
    #[arg(long)]
    pub epochs_cloud: Option<usize>,
    /// Samples per training step [train.batch_size; default 128].
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

/// `resnet50` or `50`: the depth of the cloud ResNet.
fn parse_cloud(s: &str) -> Result<usize, String> {
    s.strip_prefix("resnet")
        .unwrap_or(s)
        .parse()
        .map_err(|_| format!("{s:?} is not a ResNet (resnet50, resnet110, or a depth such as 50)"))
}

/// The `[train]` settings with the flags on top.
pub fn apply(args: &TrainArgs, mut t: TrainSettings) -> TrainSettings {
    fn set<T: Copy>(slot: &mut T, flag: Option<T>) {
        if let Some(v) = flag {
            *slot = v;
        }
    }
    set(&mut t.preset, args.preset);
    if args.cloud_depth.is_some() {
        t.cloud_depth = args.cloud_depth;
    }
    set(&mut t.hard_fraction, args.hard_fraction);
    set(&mut t.hard_by, args.hard_by);
    set(&mut t.validation_fraction, args.validation_fraction);
    set(&mut t.device, args.device);
    set(&mut t.epochs_main, args.epochs_main);
    set(&mut t.epochs_extension, args.epochs_extension);
    set(&mut t.epochs_cloud, args.epochs_cloud);
    set(&mut t.batch_size, args.batch_size);
    set(&mut t.seed, args.seed);
    if args.no_augment {
        t.augment = false;
    }
    t
}

/// The trainer's configuration for `[train]` settings.
pub fn config(t: &TrainSettings, args: &TrainArgs) -> TrainConfig {
    let mut cfg = TrainConfig {
        preset: t.preset,
        cloud_depth: t.cloud_depth,
        hard_fraction: t.hard_fraction,
        hard_by: t.hard_by,
        validation: t.validation_fraction,
        seed: t.seed,
        device: t.device,
        limit_train: args.limit_train,
        limit_test: args.limit_test,
        ..TrainConfig::default()
    };
    for (h, epochs) in [
        (&mut cfg.main, t.epochs_main),
        (&mut cfg.extension, t.epochs_extension),
        (&mut cfg.cloud, t.epochs_cloud),
    ] {
        h.epochs = epochs;
        h.batch_size = t.batch_size;
        h.augment = t.augment;
    }
    cfg
}

/// Runs `meanet train`.
pub fn run(args: &TrainArgs, settings: &Settings, out: Output) -> Result<()> {
    if args.out.join("meanet.toml").is_file() && !args.force {
        bail!(
            "{} already holds a bundle (meanet.toml): give another --out, or --force to train into it (its files are replaced only once the new networks pass their export check)",
            args.out.display()
        );
    }
    let mut settings = settings.clone();
    settings.train = apply(args, settings.train);
    settings.validate()?;
    let source = args.data.source(None);
    let splits = wiring::data(&source, &args.data.cache)?;
    let mut run = Run::new(
        &args.out,
        config(&settings.train, args),
        (splits.train, splits.test),
        DataArgs::spec(&source),
        args.quiet,
    )
    .context("preparing the training run")?;
    let resume = args.resume;
    let mut peaks = Peaks::default();
    match args.stage {
        Stage::Main => {
            peaks.measure(&mut run, "main", |run| run.main(false))?;
        }
        Stage::Partition => {
            let main = run.load_main()?;
            run.partition(&main)?;
        }
        Stage::Extension => {
            let main = run.load_main()?;
            let (p, _) = run.partition(&main)?;
            peaks.measure(&mut run, "extension", |run| run.extension(&main, &p, false))?;
        }
        Stage::Cloud => {
            peaks.measure(&mut run, "cloud", |run| run.cloud(false))?;
        }
        Stage::Export | Stage::All => {
            let all = args.stage == Stage::All;
            let main = if all {
                peaks.measure(&mut run, "main", |run| run.main(resume))?
            } else {
                run.load_main()?
            };
            let (p, cm) = run.partition(&main)?;
            let ext = if all {
                peaks.measure(&mut run, "extension", |run| {
                    run.extension(&main, &p, resume)
                })?
            } else {
                run.load_extension()?
            };
            let cloud = if all {
                peaks.measure(&mut run, "cloud", |run| run.cloud(resume))?
            } else {
                run.load_cloud()?
            };
            // Export into a staging directory; the bundle appears only once it is checked.
            let staged = args.out.join("work").join("staged");
            let _ = std::fs::remove_dir_all(&staged);
            let (results, macs, abs, diff) = peaks.measure(&mut run, "export", |run| -> Result<_> {
                let results = run.export(&staged, &main, &ext, &cloud, &p, &cm)?;
                let macs = record_macs(&staged)?;
                let engine = Engine::new(&settings.runtime)?;
                let (abs, diff) = compare_with_backend(&engine, &staged, run, &main, &ext, &cloud)?;
                run.log(&format!(
                    "{} vs burn: max |diff| {abs:.3e}, relative to the output scale {diff:.3e} (limit {MAX_ONNX_DIFF:.0e})",
                    engine.backend().name()
                ));
                Ok((results, macs, abs, diff))
            })?;
            check_diff(diff)?;
            let mut json = serde_json::to_value(&results)?;
            json["macs_per_sample"] = serde_json::json!({"main": macs.main, "extension": macs.extension, "cloud": macs.cloud});
            json["onnx_max_abs_diff"] = serde_json::json!(abs);
            json["onnx_max_scaled_diff"] = serde_json::json!(diff);
            json["peak_rss_mib"] = peaks.json();
            let path = staged.join("results.json");
            std::fs::write(&path, serde_json::to_string_pretty(&json)?)
                .with_context(|| format!("writing {}", path.display()))?;
            publish(&staged, &args.out)?;
            if out.json {
                json["bundle"] = args.out.display().to_string().into();
                return crate::stdout::line(json);
            }
            crate::stdout::note(format_args!(
                "bundle {}: main {:.4}, main+extension {:.4}, cloud {:.4} test accuracy; MACs/sample main {}, extension {}, cloud {}; ONNX vs burn max |diff| {:.2e}; peak memory {}",
                args.out.display(),
                results.main_accuracy,
                results.main_extension_accuracy,
                results.cloud_accuracy,
                macs.main,
                macs.extension,
                macs.cloud,
                diff,
                peaks.describe()
            ));
            return Ok(());
        }
    }
    if out.json {
        crate::stdout::line(serde_json::json!({
            "stage": args.stage.name(),
            "out": args.out.display().to_string(),
            "peak_rss_mib": peaks.json(),
        }))?;
    }
    Ok(())
}

/// Fails when the inference backend and burn disagree by more than [`MAX_ONNX_DIFF`] or either
/// produced NaN (`diff` is NaN then).
pub fn check_diff(diff: f32) -> Result<()> {
    if diff.is_nan() {
        bail!(
            "the exported networks produce NaN (in the inference backend or in burn); no bundle was written"
        );
    }
    if diff > MAX_ONNX_DIFF {
        bail!(
            "the inference backend and burn disagree by {diff:.3e} (more than {MAX_ONNX_DIFF:.0e}); the export is wrong, so no bundle was written"
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

/// Profiles the bundle's ONNX files and writes MACs per sample and the cloud's interface into
/// its manifest.
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
    // What the cloud takes and answers, so an edge bundle made from this one needs no cloud
    // file (the agreement check that follows loads the cloud against it).
    manifest.cloud = Some(meanet_core::manifest::CloudSpec::expected(&manifest));
    std::fs::write(&path, toml::to_string_pretty(&manifest)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(m)
}

/// Runs the exported networks with the inference backend on a test batch and returns the
/// largest absolute difference from burn's own inference on the same batch, and the largest
/// relative to each output's scale (see [`MAX_ONNX_DIFF`]).
pub fn compare_with_backend(
    engine: &Engine,
    bundle: &Path,
    run: &Run,
    main: &meanet_runtime::train::nets::MainNet,
    ext: &meanet_runtime::train::nets::ExtensionNet,
    cloud: &meanet_runtime::train::nets::CloudNet,
) -> Result<(f32, f32)> {
    let (x, ml, f, el, cl) = run.reference_outputs(main, ext, cloud, 16)?;
    let b = Bundle::load(bundle)?;
    let mut nets = b.networks(engine)?;
    let shape: Vec<usize> = std::iter::once(x.len() / b.manifest.sample_len())
        .chain(b.manifest.input.shape.iter().copied())
        .collect();
    let x = ArrayD::from_shape_vec(IxDyn(&shape), x)?;
    let out = nets.main.infer(x.view())?;
    let hard = nets.extension.infer(x.view(), out.features.view())?;
    let logits = nets.cloud.classify(x.view())?;
    let pairs = [
        (out.logits.iter().copied().collect::<Vec<_>>(), ml),
        (out.features.iter().copied().collect(), f),
        (hard.iter().copied().collect(), el),
        (logits.iter().copied().collect(), cl),
    ];
    let (mut worst, mut scaled) = (0f32, 0f32);
    for (onnx, burn) in &pairs {
        if onnx.len() != burn.len() {
            bail!(
                "ONNX output has {} values, burn's {}",
                onnx.len(),
                burn.len()
            );
        }
        let d = meanet_runtime::train::export::max_abs_diff(onnx, burn);
        let scale = burn.iter().fold(1f32, |m, x| m.max(x.abs()));
        worst = if d.is_nan() { d } else { worst.max(d) };
        scaled = if d.is_nan() { d } else { scaled.max(d / scale) };
        if worst.is_nan() {
            break;
        }
    }
    Ok((worst, scaled))
}

mod peaks;

use peaks::Peaks;

#[cfg(test)]
mod tests;
