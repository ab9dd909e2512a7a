//! `meanet run`: the edge runtime on inputs, one outcome per sample.

use std::io::Write;
use std::path::{Path, PathBuf};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use meanet_core::manifest::DatasetKind;
use meanet_core::{EnergyModel, Joules, Outcome};
use meanet_data::{Dataset, load_idx};

use super::{DataArgs, Output, bar};
use crate::settings::Settings;
use crate::wiring;
use meanet_runtime::Deployment;
use meanet_runtime::edge::{EdgeStream, Sink, StdinBatches};

/// Options of `meanet run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The bundle directory.
    pub bundle: PathBuf,
    /// `-` for raw u8 samples (C*H*W bytes each) streamed on stdin (each outcome is printed
    /// as soon as it is decided), an IDX images file, a CIFAR .bin
    /// file (with --dataset cifar10|cifar100), or a directory of PNG/JPEG images. Without it,
    /// the test split of the data set (--dataset/--data, default: the bundle's) is run.
    #[arg(long)]
    pub input: Option<String>,
    /// With `--input -`: the longest a sample waits for others to fill its batch
    /// (`policy.batch_size`), in milliseconds. 0 routes whatever whole samples have arrived.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub max_wait_ms: u64,
    /// Serve Prometheus routing metrics at http://ADDR/metrics while running.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
    /// The data set (default: the one recorded in the bundle).
    #[command(flatten)]
    pub data: DataArgs,
}

/// Reads the file or directory `input` as samples of the bundle's input shape: a directory of
/// images is listed and read lazily, batch by batch; a file is read whole.
fn read_input(dep: &Deployment, input: &str, data: &DataArgs) -> Result<Dataset> {
    let m = &dep.bundle.manifest;
    let [c, h, w] = [m.input.shape[0], m.input.shape[1], m.input.shape[2]];
    let per = c * h * w;
    let kind = data.dataset;
    let pixels = {
        let p = Path::new(input);
        if p.is_dir() {
            if h != w {
                bail!(
                    "{}: the bundle takes {h}x{w} samples, and image folders give squares",
                    p.display()
                );
            }
            let side = u32::try_from(h).context("input height")?;
            let resize = data.source(m.dataset.as_ref()).resize_for(side);
            let mut ds = meanet_data::load_image_folder_flat(p, side, c, resize)?;
            ds.classes = m.classes.clone();
            return Ok(ds);
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
            ds.pixels().unwrap_or_default().to_vec()
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
    // Both readers above checked the sample shape, so the pixels are whole samples.
    let n = pixels.len() / per;
    Ok(Dataset::from_pixels(
        pixels,
        vec![0; n],
        [c, h, w],
        m.classes.clone(),
    )?)
}

/// Writes outcomes as they come out of the reorder buffer: text or JSON lines on stdout.
struct Printer {
    out: std::io::BufWriter<std::io::Stdout>,
    json: bool,
    names: Vec<String>,
    energy: meanet_energy::OnnxEnergyModel,
    labels: Option<Arc<Vec<u16>>>,
    right: usize,
    flush_each_batch: bool,
    progress: indicatif::ProgressBar,
    failed: Option<std::io::Error>,
    written: usize,
    /// Degraded outcomes by cause, for the summary at the end.
    degraded: std::collections::BTreeMap<&'static str, usize>,
    /// Offloads the link's budgets kept at the edge, by reason.
    withheld: std::collections::BTreeMap<&'static str, usize>,
}

impl Printer {
    fn line(&mut self, o: &Outcome, e: &meanet_core::EnergyBreakdown) -> std::io::Result<()> {
        let name = self.names.get(o.class).map_or("?", String::as_str);
        let label = self
            .labels
            .as_ref()
            .and_then(|l| l.get(o.index))
            .map(|&l| usize::from(l));
        if label == Some(o.class) {
            self.right += 1;
        }
        if self.json {
            let mut line = serde_json::json!({
                "index": o.index, "class": o.class, "label": name, "exit": o.exit.name(),
                "edge_energy_j": e.edge().0, "bytes_sent": o.cost.bytes_sent.0,
                "degraded": o.degraded.map(|k| k.name()), "reason": o.reason.name(),
            });
            if let Some(l) = label {
                line["true_class"] = serde_json::json!(l);
            }
            if let Some(t) = o.cloud_latency {
                line["cloud_ms"] = serde_json::json!(t.0 * 1e3);
            }
            if let Some(t) = o.latency {
                line["latency_ms"] = serde_json::json!(t.0 * 1e3);
            }
            if let Some(w) = o.withheld {
                line["withheld"] = serde_json::json!(w.name());
            }
            writeln!(self.out, "{line}")
        } else {
            writeln!(
                self.out,
                "{:>6}  {:<12} exit={:<9} energy={:<12} {}",
                o.index,
                name,
                o.exit.name(),
                Joules(e.edge().0).to_string(),
                match (o.degraded, o.withheld) {
                    (Some(k), _) => format!("degraded ({})", k.name()),
                    (None, Some(w)) => format!("withheld ({})", w.name()),
                    (None, None) => String::new(),
                }
            )
        }
    }
}

impl Sink for Printer {
    fn write(&mut self, o: Outcome) {
        let e = self.energy.price(&o.cost);
        self.written += 1;
        if let Some(k) = o.degraded {
            *self.degraded.entry(k.name()).or_default() += 1;
        }
        if let Some(w) = o.withheld {
            *self.withheld.entry(w.name()).or_default() += 1;
        }
        self.progress.inc(1);
        if self.failed.is_none()
            && let Err(err) = self.line(&o, &e)
        {
            self.failed = Some(err);
        }
    }

    fn batch_done(&mut self) {
        if self.flush_each_batch
            && self.failed.is_none()
            && let Err(e) = self.out.flush()
        {
            self.failed = Some(e);
        }
    }
}

/// What to say of a directory with no images in it: where `--input` looks, and, when it holds
/// folders (class folders, say), how to run those.
fn empty_folder(dir: &Path) -> String {
    let mut folders: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    folders.sort();
    let d = dir.display();
    if folders.is_empty() {
        return format!(
            "no images in {d}: --input DIR reads the PNG and JPEG files that sit directly in DIR"
        );
    }
    let shown: Vec<&str> = folders.iter().take(5).map(String::as_str).collect();
    format!(
        "no images directly in {d}: --input DIR reads the PNG and JPEG files that sit in DIR itself, not in its subfolders, and {d} holds {} folder{} ({}{}). Give one of them (--input {}), or run a labelled set of class folders with --dataset folder --data PARENT, where PARENT holds train/ and test/ (or val/)",
        folders.len(),
        if folders.len() == 1 { "" } else { "s" },
        shown.join(", "),
        if folders.len() > shown.len() {
            ", ..."
        } else {
            ""
        },
        dir.join(&folders[0]).display()
    )
}

/// "N of M samples degraded (cause n, ...)" with what to do, or `None` when none was.
fn degraded_summary(
    causes: &std::collections::BTreeMap<&'static str, usize>,
    written: usize,
) -> Option<String> {
    let total: usize = causes.values().sum();
    if total == 0 {
        return None;
    }
    let list: Vec<String> = causes.iter().map(|(k, n)| format!("{k} {n}")).collect();
    // A link that is not configured has no failure to log; every other cause was logged once.
    let why = if causes.keys().all(|k| *k == "not_configured") {
        "there is no cloud link (cloud.transport = \"none\")"
    } else {
        "the first failure of each cause is logged above with its reason"
    };
    Some(format!(
        "{total} of {written} samples degraded, answered on the edge instead of the cloud ({}); {why}",
        list.join(", ")
    ))
}

/// Where `meanet run` takes its samples from.
enum Input {
    /// Read whole (a file, a directory, the test split).
    Loaded { data: Dataset, labelled: bool },
    /// stdin, batched as it arrives.
    Stream(StdinBatches),
}

/// `meanet run`: one outcome per sample, as text or JSON lines, in input order, each written
/// as soon as it is decided.
pub fn run(args: &RunArgs, settings: &Settings, out: Output) -> Result<()> {
    let dep = Deployment::load(&args.bundle, settings)?;
    super::say_plan("run", &dep);
    let per = dep.bundle.manifest.input.shape.iter().product();
    let batch = dep.batch_size();
    // SIGTERM or SIGINT: stop taking samples, answer every one already read, flush, exit 0.
    let stop = Arc::new(AtomicBool::new(false));
    let (input, what) = match args.input.as_deref() {
        Some("-") => (
            Input::Stream(
                StdinBatches::new(
                    std::io::stdin(),
                    per,
                    batch,
                    Duration::from_millis(args.max_wait_ms),
                )
                .with_stop(Arc::clone(&stop)),
            ),
            "stdin".to_string(),
        ),
        Some(path) => (
            Input::Loaded {
                data: read_input(&dep, path, &args.data)?,
                labelled: false,
            },
            path.to_string(),
        ),
        None => {
            let source = args.data.source(dep.bundle.manifest.dataset.as_ref());
            let test =
                dep.align_classes(wiring::test_data(&source, &args.data.cache)?, source.kind)?;
            dep.check_data(&test)?;
            (
                Input::Loaded {
                    data: test,
                    labelled: true,
                },
                format!("the {} test split", source.kind),
            )
        }
    };
    if let Input::Loaded { data, .. } = &input
        && data.is_empty()
    {
        if let Some(dir) = args.input.as_deref().map(Path::new).filter(|p| p.is_dir()) {
            bail!("{}", empty_folder(dir));
        }
        bail!("no samples in {what}");
    }
    // One async worker thread carries the offloads; the edge runs on this thread.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let _entered = rt.enter();
    let signalled: Arc<std::sync::OnceLock<&'static str>> = Arc::default();
    {
        let (stop, signalled) = (Arc::clone(&stop), Arc::clone(&signalled));
        rt.spawn(async move {
            if let Ok(name) = super::shutdown_signal().await {
                let _ = signalled.set(name);
                stop.store(true, Ordering::SeqCst);
            }
        });
    }
    let (worker, metrics) = dep.edge_worker(settings, None, rt.handle().clone())?;
    let metrics_server = match args.metrics {
        Some(addr) => {
            let s = rt.block_on(meanet_runtime::serving::metrics_server(
                addr,
                Arc::clone(&metrics),
            ))?;
            crate::stdout::note(format_args!(
                "meanet run: metrics on http://{}/metrics",
                s.addr()
            ));
            Some(s)
        }
        None => None,
    };
    let (total, labels) = match &input {
        Input::Loaded { data, labelled } => (
            Some(data.len() as u64),
            labelled.then(|| Arc::new(data.labels.clone())),
        ),
        Input::Stream(_) => (None, None),
    };
    let printer = Printer {
        out: std::io::BufWriter::new(std::io::stdout()),
        json: out.json,
        names: dep.bundle.manifest.classes.clone(),
        energy: dep.energy.clone(),
        labels,
        right: 0,
        flush_each_batch: matches!(input, Input::Stream(_)),
        progress: match total {
            Some(n) => bar(out, n, "meanet"),
            None => indicatif::ProgressBar::hidden(),
        },
        failed: None,
        written: 0,
        degraded: std::collections::BTreeMap::new(),
        withheld: std::collections::BTreeMap::new(),
    };
    let mut stream = EdgeStream::new(worker, printer);
    if args.metrics.is_some() {
        stream = stream.with_metrics(Arc::clone(&metrics), Arc::new(dep.energy.clone()));
    }
    let route = |stream: &mut EdgeStream<Printer>, pixels: &[u8]| -> Result<()> {
        let first = stream.routed();
        stream
            .route(pixels)
            .with_context(|| format!("routing samples {first}.. of {what}"))
    };
    let mut read = None;
    let result = match input {
        Input::Loaded { data, .. } => {
            let order: Vec<usize> = (0..data.len()).collect();
            data.batches(&order, batch, None)
                .take_while(|_| !stop.load(Ordering::SeqCst))
                .try_for_each(|read| {
                    let read = read.with_context(|| format!("reading {what}"))?;
                    route(&mut stream, &read.pixels)
                })
        }
        Input::Stream(mut batches) => {
            let r = (|| {
                while let Some(pixels) = batches.next_batch().context("reading stdin")? {
                    route(&mut stream, &pixels)?;
                }
                Ok(())
            })();
            read = Some((batches.samples(), batches.dropped_bytes()));
            r
        }
    };
    // Whatever happened, every offload in flight is answered before we report.
    let finished = stream.finish();
    rt.block_on(meanet_runtime::serving::stop_metrics(metrics_server));
    let mut printer = finished?;
    printer.progress.finish_and_clear();
    let flushed = printer.out.flush();
    result?;
    if let Some(e) = printer.failed {
        return Err(e).context("writing outcomes to stdout");
    }
    flushed.context("writing outcomes to stdout")?;
    let written = printer.written;
    if let Some(summary) = degraded_summary(&printer.degraded, written) {
        crate::stdout::note(format_args!("meanet run: {summary}"));
    }
    if !printer.withheld.is_empty() {
        let total: usize = printer.withheld.values().sum();
        let list: Vec<String> = printer
            .withheld
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        crate::stdout::note(format_args!(
            "meanet run: {total} of {written} samples meant for the cloud were answered on the edge to hold the link's budgets ({}); see policy.latency_budget_ms and docs/link.md",
            list.join(", ")
        ));
    }
    if let Some(signal) = signalled.get() {
        let (samples, dropped) = read.unwrap_or((written, 0));
        crate::stdout::note(format_args!(
            "meanet run: {signal}: stopped reading after {samples} samples; {written} answered{}",
            if dropped > 0 {
                format!(" ({dropped} bytes of an unfinished sample were not a sample)")
            } else {
                String::new()
            }
        ));
    }
    if printer.labels.is_some() && !out.json {
        crate::stdout::note(format_args!(
            "{}/{written} right ({:.4}) on {what}",
            printer.right,
            printer.right as f64 / written.max(1) as f64
        ));
    }
    Ok(())
}
