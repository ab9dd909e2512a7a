//! `meanet eval` and `meanet demo`: every method on the test split, through a real cloud link.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{DataArgs, Output, bar, say};
use crate::settings::{PayloadKind, Settings, Transport};
use crate::wiring;
use meanet_eval as eval;
use meanet_eval::report::{self, Report};
use meanet_runtime::Deployment;

/// Options of `meanet eval` and `meanet demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct EvalArgs {
    /// The bundle directory (default: the reference bundle, models/fashion-mnist of the meanet
    /// checkout that holds the working directory or that built this binary).
    pub bundle: Option<PathBuf>,
    /// Report directory.
    #[arg(long, default_value = "meanet-report")]
    pub out: PathBuf,
    /// Only the first N test samples.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Offload to the configured cloud (cloud.url / cloud.quic_addr) instead of starting one.
    #[arg(long)]
    pub external_cloud: bool,
    /// Also route a stream whose class mix shifts (easy-heavy, then hard-heavy) with static
    /// thresholds and under the online controller (settings policy.online_*), and plot the offload
    /// share per 1,000-sample window.
    #[arg(long)]
    pub drift: bool,
    /// Skip the target sweep (calibrating each method for several offload targets on the
    /// validation split and measuring it on the test split); it runs the networks over the
    /// validation and test samples once more.
    #[arg(long)]
    pub no_sweep: bool,
    /// Also evaluate BUNDLE on the same samples (an f32 bundle beside its `meanet quantize`d
    /// one, say) and print both side by side: per method, both accuracies, their paired
    /// bootstrap difference and both edge energies (OUT/compare.md; BUNDLE's report in
    /// OUT/compare/).
    #[arg(long, value_name = "BUNDLE")]
    pub compare: Option<PathBuf>,
    /// The data set (default: the one recorded in the bundle).
    #[command(flatten)]
    pub data: DataArgs,
}

/// Where the reference bundle lives inside a meanet checkout.
pub const REFERENCE_BUNDLE: &str = "models/fashion-mnist";

impl EvalArgs {
    /// The bundle to evaluate: the one given, else [`reference_bundle`].
    pub fn bundle(&self) -> Result<PathBuf> {
        match &self.bundle {
            Some(b) => Ok(b.clone()),
            None => reference_bundle(
                std::env::current_dir().ok().as_deref(),
                Some(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")),
            ),
        }
    }
}

/// The reference bundle, found from anywhere: [`REFERENCE_BUNDLE`] under the working directory,
/// else under the meanet checkout that holds it (`cwd` or one of its parents), else under the
/// checkout this binary was built from (`built_in`), if it still exists. Else an error naming
/// the argument to give.
pub fn reference_bundle(cwd: Option<&Path>, built_in: Option<&Path>) -> Result<PathBuf> {
    let holds = |dir: &Path| dir.join(REFERENCE_BUNDLE).join("meanet.toml").is_file();
    let checkout = cwd.and_then(|c| {
        c.ancestors()
            .find(|d| meanet_core::cache::is_meanet_workspace(d, Path::is_file))
    });
    let candidates: Vec<&Path> = cwd.into_iter().chain(checkout).chain(built_in).collect();
    match candidates.iter().find(|d| holds(d)) {
        Some(d) => Ok(d.join(REFERENCE_BUNDLE)),
        None => anyhow::bail!(
            "no bundle given, and no reference bundle found ({REFERENCE_BUNDLE} of a meanet checkout; looked under {}): give the bundle directory as the first argument, e.g. `meanet eval path/to/meanet/{REFERENCE_BUNDLE}`",
            candidates
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `meanet eval` (and the core of `meanet demo`).
pub fn eval(args: &EvalArgs, settings: &Settings, out: Output) -> Result<Report> {
    let bundle = args.bundle()?;
    let report = evaluate(args, &bundle, settings, out)?;
    if out.json {
        crate::stdout::line(serde_json::to_string(&report)?)?;
    } else {
        let mut text = format!(
            "{}\n{}{}",
            report::table(&report.methods),
            report::difference_table(&report.differences),
            report::target_table(&report.targets)
        );
        if let Some(d) = &report.drift {
            text.push_str(&report::drift_table(d));
        }
        crate::stdout::text(format_args!(
            "{text}report: {}\n",
            args.out.join("report.md").display()
        ))?;
    }
    if let Some(other) = &args.compare {
        compare(args, &bundle, &report, other, settings, out)?;
    }
    Ok(report)
}

/// Evaluates `bundle` and writes the report into `args.out`.
fn evaluate(args: &EvalArgs, bundle: &Path, settings: &Settings, out: Output) -> Result<Report> {
    let dep = Deployment::load_full(bundle, settings)?;
    let source = args.data.source(dep.bundle.manifest.dataset.as_ref());
    let test = dep.align_classes(wiring::test_data(&source, &args.data.cache)?, source.kind)?;
    let n = args.limit.unwrap_or(test.len()).min(test.len());
    let idx: Vec<usize> = (0..n).collect();
    if dep.bundle.manifest.thresholds.is_none() {
        say(
            out,
            "note: the bundle has no calibrated thresholds; using [policy] settings (run `meanet calibrate`)",
        );
    }
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let (report, runs, calibration) = rt.block_on(async {
        let transport = settings.cloud.transport;
        let server = if args.external_cloud || transport == Transport::None {
            None
        } else {
            let s = meanet_runtime::serving::loopback_cloud(
                &dep,
                &settings.server,
                &settings.cloud.model,
                transport == Transport::Quic,
                dep.batch_size(),
            )
            .await?;
            say(
                out,
                &format!(
                    "cloud model serving on loopback http://{}",
                    s.http_addr().map_or(String::new(), |a| a.to_string())
                ),
            );
            Some(s)
        };
        let input = &dep.bundle.manifest.input;
        // Our own loopback server takes both payloads: measure the other one too.
        let mut other = settings.clone();
        other.cloud.payload = match settings.cloud.payload {
            PayloadKind::F32 => PayloadKind::U8,
            PayloadKind::U8 | PayloadKind::Png | PayloadKind::Jpeg => PayloadKind::F32,
        };
        let links =
            meanet_runtime::links::link(&settings.cloud, input, server.as_ref()).and_then(|l| {
                let o = match &server {
                    Some(s) => meanet_runtime::links::link(&other.cloud, input, Some(s))?,
                    None => None,
                };
                Ok((l, o))
            });
        let result = match links {
            Ok((link, other)) => {
                let progress = |len, name: &str| bar(out, len, name);
                let evaluated = eval::evaluate(
                    &dep,
                    settings,
                    &test,
                    &idx,
                    link.as_deref(),
                    other.as_deref(),
                    &progress,
                )
                .await;
                match evaluated {
                    Ok((mut report, runs, cal)) if args.drift => {
                        let none = meanet_runtime::links::NoCloud;
                        let cloud: &dyn meanet_core::CloudLink = match link.as_deref() {
                            Some(l) => l,
                            None => &none,
                        };
                        eval::drift(&dep, settings, &test, &idx, cloud, &progress)
                            .await
                            .map(|d| {
                                report.drift = Some(d);
                                (report, runs, cal)
                            })
                    }
                    other => other,
                }
            }
            Err(e) => Err(e),
        };
        meanet_runtime::serving::stop(server).await;
        result
    })?;
    let mut report = report;
    if !args.no_sweep && dep.bundle.manifest.split.is_some() {
        let sweep = || -> Result<Vec<eval::TargetPoint>> {
            let train =
                dep.align_classes(wiring::data(&source, &args.data.cache)?.train, source.kind)?;
            let val_idx = meanet_eval::calibrate::validation_split(&dep, &train, settings);
            let validation = meanet_eval::calibrate::cache(&dep, &train, &val_idx)?;
            let tested = meanet_eval::calibrate::cache(&dep, &test, &idx)?;
            eval::target_sweep(&dep, settings, &validation, &tested)
        };
        say(
            out,
            "calibrating for several offload targets on the validation split, measuring on the test split",
        );
        match sweep() {
            Ok(points) => report.targets = points,
            Err(e) => say(out, &format!("note: no target sweep: {e:#}")),
        }
    } else if !args.no_sweep {
        say(
            out,
            "note: the bundle records no train/validation split, so the report has no target sweep",
        );
    }
    report::write(&args.out, &report, &runs, calibration.as_ref())?;
    Ok(report)
}

/// `--compare`: the other bundle evaluated on the same samples, and the side-by-side table.
fn compare(
    args: &EvalArgs,
    bundle: &Path,
    report: &Report,
    other: &Path,
    settings: &Settings,
    out: Output,
) -> Result<()> {
    say(
        out,
        &format!("evaluating {} on the same samples", other.display()),
    );
    let other_args = EvalArgs {
        bundle: Some(other.to_path_buf()),
        out: args.out.join("compare"),
        compare: None,
        drift: false,
        no_sweep: true,
        ..args.clone()
    };
    let quiet = Output {
        quiet: true,
        json: false,
    };
    let other_report = evaluate(&other_args, other, settings, quiet)?;
    let name = |p: &Path| {
        p.file_name().map_or_else(
            || p.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    };
    let table = meanet_eval::compare::compare(
        (report, &args.out, &name(bundle)),
        (&other_report, &other_args.out, &name(other)),
    )?;
    let path = args.out.join("compare.md");
    std::fs::write(&path, &table).with_context(|| format!("writing {}", path.display()))?;
    if out.json {
        Ok(())
    } else {
        crate::stdout::text(format_args!("{table}comparison: {}\n", path.display()))
    }
}

/// `meanet demo`: fetch Fashion-MNIST, then [`eval()`] the bundle.
pub fn demo(args: &EvalArgs, settings: &Settings, out: Output) -> Result<Report> {
    let bundle = args.bundle()?;
    say(
        out,
        &format!(
            "meanet demo: test split, bundle {}, cloud model on loopback",
            bundle.display()
        ),
    );
    let dep = meanet_runtime::Bundle::load(&bundle)?;
    let source = args.data.source(dep.manifest.dataset.as_ref());
    if source.kind == meanet_core::manifest::DatasetKind::FashionMnist {
        super::data::fetch(
            source.kind,
            source.path.as_deref(),
            &args.data.cache,
            Output::QUIET,
        )
        .context("getting Fashion-MNIST")?;
    }
    eval(args, settings, out)
}
