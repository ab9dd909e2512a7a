//! `meanet calibrate`: thresholds for a target, written into the bundle.

use std::path::PathBuf;

use anyhow::{Context, Result};
use meanet_core::Target;

use super::{DataArgs, Output, say};
use crate::settings::Settings;
use crate::wiring;
use meanet_eval::calibrate::{self, ValidationSet};
use meanet_runtime::Deployment;

/// Options of `meanet calibrate`.
#[derive(Debug, Clone, clap::Args)]
pub struct CalibrateArgs {
    /// The bundle directory.
    pub bundle: PathBuf,
    /// The target: offload=FRACTION, energy=JOULES_PER_SAMPLE or accuracy=FRACTION
    /// [calibration.target; default offload=0.2].
    #[arg(long)]
    pub target: Option<Target>,
    /// Also choose one main threshold per class and one extension threshold per hard class
    /// for the target; they route from then on [calibration.per_class].
    #[arg(long)]
    pub per_class: bool,
    /// A labelled validation set of your own, in the --dataset format (an IDX directory, a
    /// CIFAR .bin file or directory, or a folder PATH/CLASS/*). Only its samples are used.
    /// This is the way for bundles trained elsewhere; without it, bundles trained by meanet
    /// use the validation split recorded in them.
    #[arg(long, value_name = "PATH")]
    pub validation: Option<PathBuf>,
    /// The data set (default: the one recorded in the bundle).
    #[command(flatten)]
    pub data: DataArgs,
}

/// Runs `meanet calibrate`.
pub fn run(args: &CalibrateArgs, settings: &Settings, out: Output) -> Result<()> {
    let mut settings = settings.clone();
    if let Some(t) = args.target {
        settings.calibration.target = t;
    }
    settings.calibration.per_class |= args.per_class;
    let target = settings.calibration.target;
    let dep = Deployment::load_full(&args.bundle, &settings)?;
    let source = args.data.source(dep.bundle.manifest.dataset.as_ref());
    let (data, idx, from) = match &args.validation {
        Some(path) => {
            let ds = source.load_labelled(path).with_context(|| {
                format!(
                    "loading the validation set {} as {}",
                    path.display(),
                    source.kind
                )
            })?;
            let ds = dep.align_classes(ds, source.kind)?;
            let idx: Vec<usize> = (0..ds.len()).collect();
            let from = format!(
                "{} ({}, all {} samples)",
                path.display(),
                source.kind,
                ds.len()
            );
            (ds, idx, from)
        }
        None => {
            if dep.bundle.manifest.split.is_none() {
                say(
                    out,
                    "note: the bundle records no train/validation split (was it trained elsewhere?); \
                     its training samples may be among the ones calibrated on: pass --validation PATH",
                );
            }
            let train =
                dep.align_classes(wiring::data(&source, &args.data.cache)?.train, source.kind)?;
            let idx = calibrate::validation_split(&dep, &train, &settings);
            let from = format!(
                "validation split of the {} training set, {} samples",
                source.kind,
                idx.len()
            );
            (train, idx, from)
        }
    };
    say(
        out,
        &format!(
            "calibrating {} for {target} on {from}",
            args.bundle.display()
        ),
    );
    let (thresholds, per_class, report) = calibrate::calibrate(
        &dep,
        ValidationSet {
            data: &data,
            idx: &idx,
            source: &from,
        },
        &settings,
        target,
    )?;
    calibrate::save(&args.bundle, &thresholds, per_class.as_ref(), &report)?;
    if let Some(m) = &report.missed_target {
        // Said even with --json (stderr): a missed target is no detail.
        crate::stdout::note(format_args!(
            "meanet calibrate: {} (recorded as missed_target in {})",
            m.describe(&report.target),
            args.bundle.join("calibration.json").display()
        ));
    }
    if out.json {
        crate::stdout::line(serde_json::to_string(&report)?)
    } else {
        crate::stdout::line(format_args!(
            "{}\nthresholds written to {}",
            calibrate::describe(&report),
            args.bundle.join("meanet.toml").display()
        ))
    }
}
