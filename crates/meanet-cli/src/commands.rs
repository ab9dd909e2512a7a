//! The data, calibration, evaluation, run and demo commands.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use meanet_core::{CloudLink, Target};
use meanet_data::{Dataset, fashion_mnist, load_idx, locate_fashion_mnist};
use meanet_onnx::OrtClassifier;
use meanet_transport::{
    HttpLink, HttpLinkConfig, QuicLink, QuicLinkConfig, RunningServer, Server, ServerConfig, Trust,
};

use crate::calibrate::{self, CalibrationReport};
use crate::deploy::Deployment;
use crate::eval::{self, MethodRun};
use crate::report::{self, Report};
use crate::serve::OrtServed;
use crate::settings::Settings;

/// Output options shared by the commands.
#[derive(Debug, Clone, Copy, Default)]
pub struct Output {
    /// No progress bars or chatter.
    pub quiet: bool,
    /// Machine-readable output.
    pub json: bool,
}

fn bar(out: Output, len: u64, prefix: &str) -> ProgressBar {
    if out.quiet || out.json {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(len);
    if let Ok(s) = ProgressStyle::with_template("{prefix:>16} [{bar:30}] {pos}/{len} ({eta})") {
        b.set_style(s.progress_chars("=> "));
    }
    b.set_prefix(prefix.to_string());
    b
}

fn say(out: Output, text: &str) {
    if !out.quiet && !out.json {
        eprintln!("{text}");
    }
}

/// `meanet data fetch fashion-mnist`.
pub fn fetch(dataset: &str, dir: Option<&Path>, cache: &Path, out: Output) -> Result<()> {
    if dataset != "fashion-mnist" {
        bail!(
            "unknown data set {dataset:?}: only fashion-mnist can be fetched (CIFAR and image folders are read from files you have)"
        );
    }
    let found = locate_fashion_mnist(dir, cache).context("fetching Fashion-MNIST")?;
    let (train, test) = fashion_mnist(Some(&found), cache)?;
    if out.json {
        println!(
            "{}",
            serde_json::json!({"dataset": dataset, "dir": found, "train": train.len(), "test": test.len()})
        );
    } else {
        println!(
            "fashion-mnist: {} training and {} test samples in {}",
            train.len(),
            test.len(),
            found.display()
        );
    }
    Ok(())
}

/// `meanet calibrate`.
pub fn calibrate(
    bundle: &Path,
    settings: &Settings,
    data: Option<&Path>,
    cache: &Path,
    out: Output,
) -> Result<()> {
    let target = Target::parse(&settings.calibration.target).context("calibration target")?;
    let dep = Deployment::load(bundle, settings)?;
    let (train, _) =
        fashion_mnist(data, cache).context("loading the training set for its validation split")?;
    say(
        out,
        &format!(
            "calibrating {} for {target} on the validation split",
            bundle.display()
        ),
    );
    let (thresholds, report) = calibrate::calibrate(&dep, &train, settings, target)?;
    calibrate::save(bundle, &thresholds, &report)?;
    if out.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{}", calibrate::describe(&report));
        println!(
            "thresholds written to {}",
            bundle.join("meanet.toml").display()
        );
    }
    Ok(())
}

/// Starts the bundle's cloud model on loopback (HTTP, and QUIC if `quic`), with the `[server]`
/// batching, limits and token.
pub async fn loopback_cloud(
    dep: &Deployment,
    settings: &Settings,
    quic: bool,
) -> Result<RunningServer> {
    let model = OrtClassifier::load(&dep.runtime, dep.bundle.cloud_path())
        .context("loading the cloud model")?;
    let loopback: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
    let cfg = ServerConfig {
        model_name: settings.cloud.model.clone(),
        http: Some(loopback),
        quic: quic.then_some(loopback),
        // A loopback server has no certificate files: QUIC uses a generated one.
        tls: None,
        ..crate::serve::server_config(&settings.server)
    };
    Ok(Server::start(Box::new(OrtServed(model)), cfg).await?)
}

/// The cloud link the settings describe, pointed at `server` if given.
pub fn link(
    settings: &Settings,
    server: Option<&RunningServer>,
) -> Result<Option<Arc<dyn CloudLink>>> {
    let c = &settings.cloud;
    let retry = c.retry();
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    match c.transport.as_str() {
        "none" => Ok(None),
        "quic" => {
            let (addr, trust) = match server {
                Some(s) => (
                    s.quic_addr()
                        .context("the loopback server has no QUIC listener")?,
                    Trust::Der(
                        s.quic_certificate()
                            .context("no QUIC certificate")?
                            .to_vec(),
                    ),
                ),
                None => (
                    c.quic_addr
                        .parse()
                        .with_context(|| format!("cloud.quic_addr = {:?}", c.quic_addr))?,
                    Trust::PemFile(PathBuf::from(&c.quic_cert)),
                ),
            };
            let cfg = QuicLinkConfig {
                server_name: c.quic_server_name.clone(),
                model: c.model.clone(),
                input_name: c.input_name.clone(),
                token: opt(&c.token),
                retry,
                ..QuicLinkConfig::new(addr, trust)
            };
            Ok(Some(Arc::new(QuicLink::new(cfg)?)))
        }
        _ => {
            let url = match server {
                Some(s) => format!("http://{}", s.http_addr().context("no HTTP listener")?),
                None => c.url.clone(),
            };
            let cfg = HttpLinkConfig {
                input_name: c.input_name.clone(),
                binary: c.binary,
                token: opt(&c.token),
                ca_cert: opt(&c.ca_cert).map(PathBuf::from),
                retry,
                ..HttpLinkConfig::new(url, c.model.clone())
            };
            Ok(Some(Arc::new(HttpLink::new(cfg)?)))
        }
    }
}

/// Evaluates every method on `idx` of `test`; the cloud is `cloud` (or none).
pub async fn evaluate(
    dep: &Deployment,
    settings: &Settings,
    test: &Dataset,
    idx: &[usize],
    cloud: Option<&dyn CloudLink>,
    out: Output,
) -> Result<(Report, Vec<MethodRun>, Option<CalibrationReport>)> {
    dep.check_data(test)?;
    let (thresholds, calibrated) = dep.thresholds(settings)?;
    if !calibrated {
        say(
            out,
            "note: the bundle has no calibrated thresholds; using [policy] settings (run `meanet calibrate`)",
        );
    }
    let calibration: Option<CalibrationReport> =
        std::fs::read_to_string(dep.bundle.dir.join("calibration.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
    let entropy_exit = calibration
        .as_ref()
        .map_or(0.8, |c| c.entropy_exit_threshold);
    let none = NoCloud;
    let cloud: &dyn CloudLink = cloud.unwrap_or(&none);
    let mut runs = Vec::new();
    // One set of loaded blocks serves every method; only the policy changes.
    let mut pipeline = dep.pipeline(Box::new(meanet_core::EdgeOnly))?;
    for policy in eval::methods(thresholds, entropy_exit) {
        let b = bar(out, idx.len() as u64, policy.name());
        pipeline.set_policy(policy);
        let (run, p) = eval::run_method(
            dep,
            pipeline,
            eval::Samples { data: test, idx },
            settings.policy.batch_size,
            cloud,
            &b,
        )
        .await?;
        pipeline = p;
        b.finish_and_clear();
        runs.push(run);
    }
    let m = &dep.bundle.manifest;
    let report = Report {
        bundle: dep.bundle.dir.display().to_string(),
        samples: idx.len(),
        classes: m.classes.clone(),
        hard_classes: m.hard_classes.clone(),
        thresholds: report::Thresholds {
            measure: thresholds.measure.name().to_string(),
            main: thresholds.main,
            cloud_main: thresholds.cloud_main,
            extension: thresholds.extension,
            entropy_exit,
            target: m.thresholds.as_ref().and_then(|t| t.target.clone()),
        },
        link: format!(
            "{:?} ({} Mbps up)",
            settings.link.kind, settings.link.uplink_mbps
        ),
        methods: runs.iter().map(|r| r.report.clone()).collect(),
    };
    Ok((report, runs, calibration))
}

/// A link that is never there: offloads degrade (transport = none).
struct NoCloud;

#[async_trait::async_trait]
impl CloudLink for NoCloud {
    async fn classify(
        &self,
        _: ndarray::ArrayD<f32>,
    ) -> Result<meanet_core::CloudReply, meanet_core::CloudError> {
        Err(meanet_core::CloudError::NotConfigured)
    }
}

/// Options of `meanet eval` and `meanet demo`.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// The bundle.
    pub bundle: PathBuf,
    /// Report directory.
    pub out: PathBuf,
    /// Only the first N test samples.
    pub limit: Option<usize>,
    /// Use the configured cloud (cloud.url / cloud.quic_addr) instead of a loopback server.
    pub external_cloud: bool,
    /// Fashion-MNIST directory.
    pub data: Option<PathBuf>,
    /// Data cache.
    pub cache: PathBuf,
}

/// `meanet eval` (and the core of `meanet demo`).
pub fn eval(opts: &EvalOptions, settings: &Settings, out: Output) -> Result<Report> {
    let dep = Deployment::load(&opts.bundle, settings)?;
    let (_, test) =
        fashion_mnist(opts.data.as_deref(), &opts.cache).context("loading the test split")?;
    let n = opts.limit.unwrap_or(test.len()).min(test.len());
    let idx: Vec<usize> = (0..n).collect();
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let (report, runs, calibration) = rt.block_on(async {
        let server = if opts.external_cloud || settings.cloud.transport == "none" {
            None
        } else {
            let s = loopback_cloud(&dep, settings, settings.cloud.transport == "quic").await?;
            say(
                out,
                &format!(
                    "cloud model serving on loopback http://{}",
                    s.http_addr().map_or(String::new(), |a| a.to_string())
                ),
            );
            Some(s)
        };
        let link = link(settings, server.as_ref())?;
        let result = evaluate(&dep, settings, &test, &idx, link.as_deref(), out).await;
        if let Some(s) = server {
            s.shutdown(Duration::from_secs(2)).await;
        }
        result
    })?;
    report::write(&opts.out, &report, &runs, calibration.as_ref())?;
    if out.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{}", report::table(&report.methods));
        println!("report: {}", opts.out.join("report.md").display());
    }
    Ok(report)
}

/// Options of `meanet run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The bundle.
    pub bundle: PathBuf,
    /// `-` (raw u8 samples on stdin), an IDX images file, or a directory of images.
    pub input: String,
}

/// Reads the input of `meanet run` as pixels of the bundle's input shape.
fn read_input(dep: &Deployment, input: &str) -> Result<Dataset> {
    let m = &dep.bundle.manifest;
    let [c, h, w] = [m.input.shape[0], m.input.shape[1], m.input.shape[2]];
    let per = c * h * w;
    let classes = m.classes.clone();
    let pixels = if input == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading stdin")?;
        if buf.len() % per != 0 {
            bail!(
                "stdin holds {} bytes, not a whole number of {per}-byte samples ({c}x{h}x{w} u8)",
                buf.len()
            );
        }
        buf
    } else {
        let p = Path::new(input);
        if p.is_dir() {
            let ds = meanet_data::load_image_folder_flat(p, h as u32, w as u32, c)?;
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
        classes,
    })
}

/// `meanet run`: one outcome per sample, as text or JSON lines.
pub fn run(opts: &RunOptions, settings: &Settings, out: Output) -> Result<()> {
    let dep = Deployment::load(&opts.bundle, settings)?;
    let data = read_input(&dep, &opts.input)?;
    if data.is_empty() {
        bail!("no samples in {}", opts.input);
    }
    let (thresholds, _) = dep.thresholds(settings)?;
    let idx: Vec<usize> = (0..data.len()).collect();
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let (run, _) = rt.block_on(async {
        // Inside the runtime: a QUIC endpoint binds its socket on the runtime it is made in.
        let link = link(settings, None)?;
        let b = bar(out, idx.len() as u64, "meanet");
        let none = NoCloud;
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
    use meanet_core::EnergyModel;
    for o in &run.outcomes {
        let e = dep.energy.price(&o.cost);
        if out.json {
            println!(
                "{}",
                serde_json::json!({
                    "index": o.index, "class": o.class, "label": names[o.class], "exit": o.exit.name(),
                    "edge_energy_j": e.edge().0, "bytes_sent": o.cost.bytes_sent.0,
                    "degraded": o.degraded.map(|k| k.name()), "reason": o.reason.name(),
                })
            );
        } else {
            println!(
                "{:>6}  {:<12} exit={:<9} energy={:<12} {}",
                o.index,
                names[o.class],
                o.exit.name(),
                meanet_core::Joules(e.edge().0).to_string(),
                o.degraded
                    .map_or(String::new(), |k| format!("degraded ({})", k.name()))
            );
        }
    }
    Ok(())
}
