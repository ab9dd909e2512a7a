//! `meanet train`: complexity-aware training into a deployment bundle, then profiling of the
//! exported networks and a check of ONNX Runtime against burn's own inference.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use meanet_core::Manifest;
use meanet_core::manifest::MacsPerSample;
use meanet_data::fashion_mnist;
use meanet_energy::Graph;
use meanet_onnx::Runtime;
use meanet_train::stages::{Run, TrainConfig};
use ndarray::{ArrayD, IxDyn};

use crate::bundle::Bundle;

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
    /// Directory with the Fashion-MNIST IDX files (default: /usr/share/datasets/fashion-mnist,
    /// else fetched with apt-get download into --cache).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Where downloaded data sets are kept.
    #[arg(long, default_value = ".cache/datasets")]
    pub cache: PathBuf,
    /// The bundle directory to write (checkpoints go to OUT/work).
    #[arg(long, default_value = "models/fashion-mnist")]
    pub out: PathBuf,
    /// Stage to run.
    #[arg(long, value_enum, default_value = "all")]
    pub stage: Stage,
    /// Reuse checkpoints of stages already trained.
    #[arg(long)]
    pub resume: bool,
    /// Network sizes: reference or tiny (smoke tests).
    #[arg(long, default_value = "reference")]
    pub preset: String,
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
        preset: args.preset.clone(),
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
    let (train, test) =
        fashion_mnist(args.data.as_deref(), &args.cache).context("loading Fashion-MNIST")?;
    let mut run = Run::new(&args.out, config(args), train, test, args.quiet)
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
            let results = run.export(&args.out, &main, &ext, &cloud, &p, &cm)?;
            let macs = record_macs(&args.out)?;
            let diff = compare_with_onnx_runtime(&args.out, &run, &main, &ext, &cloud)?;
            let mut json = serde_json::to_value(&results)?;
            json["macs_per_sample"] = serde_json::json!({"main": macs.main, "extension": macs.extension, "cloud": macs.cloud});
            json["onnx_max_abs_diff"] = serde_json::json!(diff);
            let path = args.out.join("results.json");
            std::fs::write(&path, serde_json::to_string_pretty(&json)?)
                .with_context(|| format!("writing {}", path.display()))?;
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
    let diff = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max)
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
        worst = worst.max(diff(onnx, burn));
    }
    Ok(worst)
}
