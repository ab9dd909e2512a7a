//! `meanet run`: the edge runtime on inputs, one outcome per sample.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use meanet_core::manifest::DatasetKind;
use meanet_core::{CloudLink, EnergyModel};
use meanet_data::{Dataset, load_idx};

use super::{DataArgs, Output, bar};
use crate::deploy::Deployment;
use crate::eval;
use crate::settings::Settings;
use crate::wiring;

/// Options of `meanet run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The bundle directory.
    pub bundle: PathBuf,
    /// `-` for raw u8 samples (C*H*W bytes each) on stdin, an IDX images file, a CIFAR .bin
    /// file (with --dataset cifar10|cifar100), or a directory of PNG/JPEG images. Without it,
    /// the test split of the data set (--dataset/--data, default: the bundle's) is run.
    #[arg(long)]
    pub input: Option<String>,
    /// The data set (default: the one recorded in the bundle).
    #[command(flatten)]
    pub data: DataArgs,
}

/// Reads `input` as pixels of the bundle's input shape.
fn read_input(dep: &Deployment, input: &str, kind: Option<DatasetKind>) -> Result<Dataset> {
    let m = &dep.bundle.manifest;
    let [c, h, w] = [m.input.shape[0], m.input.shape[1], m.input.shape[2]];
    let per = c * h * w;
    let pixels = if input == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading stdin")?;
        if !buf.len().is_multiple_of(per) {
            bail!(
                "stdin holds {} bytes, not a whole number of {per}-byte samples ({c}x{h}x{w} u8)",
                buf.len()
            );
        }
        buf
    } else {
        let p = Path::new(input);
        if p.is_dir() {
            let (hh, ww) = (
                u32::try_from(h).context("input height")?,
                u32::try_from(w).context("input width")?,
            );
            meanet_data::load_image_folder_flat(p, hh, ww, c)?.pixels
        } else if matches!(kind, Some(DatasetKind::Cifar10 | DatasetKind::Cifar100)) {
            let source = meanet_data::DataSource::new(kind.unwrap_or(DatasetKind::Cifar10), None);
            let ds = source.load_labelled(p)?;
            if ds.sample_len() != per {
                bail!(
                    "{}: samples are {:?}, the bundle takes {c}x{h}x{w}",
                    p.display(),
                    ds.shape
                );
            }
            ds.pixels
        } else {
            let (dims, data) = load_idx(p)?;
            let sample: &[usize] = dims.get(1..).unwrap_or_default();
            if dims.is_empty() || sample.iter().product::<usize>() != per {
                bail!(
                    "{}: samples are {:?}, the bundle takes {c}x{h}x{w}",
                    p.display(),
                    sample
                );
            }
            data
        }
    };
    let n = pixels.len() / per;
    Ok(Dataset {
        pixels,
        labels: vec![0; n],
        shape: [c, h, w],
        classes: m.classes.clone(),
    })
}

/// `meanet run`: one outcome per sample, as text or JSON lines.
pub fn run(args: &RunArgs, settings: &Settings, out: Output) -> Result<()> {
    let dep = Deployment::load(&args.bundle, settings)?;
    let (data, what) = match &args.input {
        Some(input) => (read_input(&dep, input, args.data.dataset)?, input.clone()),
        None => {
            let source = args.data.source(dep.bundle.manifest.dataset.as_ref());
            let test =
                dep.align_classes(wiring::data(&source, &args.data.cache)?.test, source.kind)?;
            (test, format!("the {} test split", source.kind))
        }
    };
    if data.is_empty() {
        bail!("no samples in {what}");
    }
    let (thresholds, _) = dep.thresholds(settings)?;
    let idx: Vec<usize> = (0..data.len()).collect();
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let (run, _) = rt.block_on(async {
        let link = wiring::link(settings, None)?;
        let b = bar(out, idx.len() as u64, "meanet");
        let none = wiring::NoCloud;
        let cloud: &dyn CloudLink = link.as_deref().unwrap_or(&none);
        let pipeline = dep.pipeline(Box::new(meanet_core::MeaNet { thresholds }))?;
        eval::run_method(
            &dep,
            pipeline,
            eval::Samples {
                data: &data,
                idx: &idx,
            },
            settings.policy.batch_size,
            cloud,
            &b,
        )
        .await
    })?;
    let names = &dep.bundle.manifest.classes;
    let labelled = args.input.is_none();
    for (o, &label) in run.outcomes.iter().zip(&run.labels) {
        let e = dep.energy.price(&o.cost);
        let name = names.get(o.class).map_or("?", String::as_str);
        if out.json {
            let mut line = serde_json::json!({
                "index": o.index, "class": o.class, "label": name, "exit": o.exit.name(),
                "edge_energy_j": e.edge().0, "bytes_sent": o.cost.bytes_sent.0,
                "degraded": o.degraded.map(|k| k.name()), "reason": o.reason.name(),
            });
            if labelled {
                line["true_class"] = serde_json::json!(label);
            }
            println!("{line}");
        } else {
            println!(
                "{:>6}  {:<12} exit={:<9} energy={:<12} {}",
                o.index,
                name,
                o.exit.name(),
                meanet_core::Joules(e.edge().0).to_string(),
                o.degraded
                    .map_or(String::new(), |k| format!("degraded ({})", k.name()))
            );
        }
    }
    if labelled && !out.json {
        let right = run
            .outcomes
            .iter()
            .zip(&run.labels)
            .filter(|(o, l)| o.class == **l)
            .count();
        eprintln!(
            "{right}/{} right ({:.4}) on {what}",
            run.outcomes.len(),
            right as f64 / run.outcomes.len().max(1) as f64
        );
    }
    Ok(())
}
