//! `meanet data fetch`: getting a data set onto this machine; `meanet data generate`: an
//! ImageNet-style folder of generated images.

use std::path::Path;

use anyhow::{Context, Result, bail};
use meanet_core::manifest::DatasetKind;
use meanet_data::{DataSource, locate_fashion_mnist};

use super::Output;
use crate::wiring;

/// `meanet data fetch KIND`: Fashion-MNIST is found or fetched; other kinds are checked where
/// `--data` says they are.
pub fn fetch(kind: DatasetKind, dir: Option<&Path>, cache: &Path, out: Output) -> Result<()> {
    let found = match kind {
        DatasetKind::FashionMnist => {
            Some(locate_fashion_mnist(dir, cache).context("fetching Fashion-MNIST")?)
        }
        _ if dir.is_none() => bail!(
            "{kind} cannot be fetched here (no network access to it): download it yourself and pass --data DIR to check it"
        ),
        _ => dir.map(Path::to_path_buf),
    };
    let splits = wiring::data(&DataSource::new(kind, found.clone()), cache)?;
    let dir = found.map(|p| p.display().to_string()).unwrap_or_default();
    if out.json {
        crate::stdout::line(
            serde_json::json!({"dataset": kind.name(), "dir": dir, "train": splits.train.len(), "test": splits.test.len(), "classes": splits.train.classes.len()}),
        )
    } else {
        crate::stdout::line(format_args!(
            "{kind}: {} training and {} test samples of {} classes, {:?} each, in {dir}",
            splits.train.len(),
            splits.test.len(),
            splits.train.classes.len(),
            splits.train.shape,
        ))
    }
}

/// Options of `meanet data generate`.
#[derive(Debug, Clone, clap::Args)]
pub struct GenerateArgs {
    /// The directory to write (train/ and val/ go inside it).
    pub out: std::path::PathBuf,
    /// Class folders.
    #[arg(long, default_value_t = 10)]
    pub classes: usize,
    /// Images per class under train/.
    #[arg(long, default_value_t = 100)]
    pub train: usize,
    /// Images per class under val/.
    #[arg(long, default_value_t = 50)]
    pub val: usize,
    /// Image sizes: imagenet (500x375, 375x500, 400x400, ... about ImageNet's) or small (about
    /// 90x90, for fast tests).
    #[arg(long, default_value = "imagenet", value_parser = ["imagenet", "small"])]
    pub sizes: String,
    /// Seed of the noise.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// `meanet data generate`: writes the folder, class by class, with a progress bar.
pub fn generate(args: &GenerateArgs, out: Output) -> Result<()> {
    use meanet_data::synthetic::SyntheticFolder;
    if args.classes == 0 || args.classes > usize::from(meanet_data::Label::MAX) + 1 {
        bail!("--classes {} must be between 1 and 65536", args.classes);
    }
    let sizes = match args.sizes.as_str() {
        "small" => SyntheticFolder::small_sizes(),
        _ => SyntheticFolder::imagenet_sizes(),
    };
    let bar = super::bar(out, args.classes as u64, "classes");
    for k in 0..args.classes {
        // One class at a time (its own seed), so the bar moves and the tree is the same
        // whatever was written before.
        let spec = SyntheticFolder {
            classes: args.classes,
            train: args.train,
            val: args.val,
            sizes: sizes.clone(),
            seed: args.seed,
        };
        meanet_data::synthetic::write_class(&args.out, &spec, k)
            .with_context(|| format!("writing class {k} under {}", args.out.display()))?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let images = args.classes * (args.train + args.val);
    if out.json {
        crate::stdout::line(
            serde_json::json!({"dir": args.out.display().to_string(), "classes": args.classes, "train": args.classes * args.train, "val": args.classes * args.val}),
        )
    } else {
        crate::stdout::line(format_args!(
            "{images} images of {} classes in {} (train/: {} per class, val/: {} per class)",
            args.classes,
            args.out.display(),
            args.train,
            args.val
        ))
    }
}
