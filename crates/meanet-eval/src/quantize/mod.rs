//! `meanet quantize`: a bundle's blocks as static int8 QDQ graphs, calibrated on the bundle's
//! own training data, each kept only where it is faster than its f32 form on this machine.
//!
//! The graph work is meanet-quant's; this module does the I/O around it: it reads the
//! calibration batches through [`Dataset::batches`], runs them through each block's augmented
//! graph with the deployment's backend, times the f32 and int8 graphs side by side and writes
//! the new bundle with a `[quantization]` record. The extension is calibrated on what it will
//! see: the (chosen) main block's features of the samples the main block predicts hard.

mod calib;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use meanet_core::manifest::{QuantizationSpec, QuantizedBlock};
use meanet_data::Dataset;
use meanet_quant::{Activations, Collector, KeptF32, Method, Quantizer};
use meanet_runtime::Deployment;
use ndarray::{Axis, concatenate};

use calib::Feed;

/// How to quantize.
#[derive(Debug, Clone)]
pub struct QuantizeOptions {
    /// The activation-range method.
    pub method: Method,
    /// The activations' type.
    pub activations: Activations,
    /// Also the cloud model.
    pub cloud: bool,
    /// Calibration samples per block (the main block's first ones of the pool; the
    /// extension's, the first ones of the pool the main block predicts hard).
    pub samples: usize,
    /// Timing passes per graph (the best counts).
    pub rounds: usize,
    /// Every block int8 whatever its speed here (targets that run int8 only: NPUs, DSPs).
    pub always_int8: bool,
    /// Keep the int8 graph of a block that stays f32 (as `<block>.int8.onnx`, unused by the
    /// bundle), to compare or time it.
    pub keep_slower: bool,
    /// Write each block's calibration inputs into this directory as `.npy` files
    /// (`<block>.<tensor>.npy`), so that another quantizer can calibrate on the same samples.
    pub write_calibration: Option<PathBuf>,
}

/// What `quantize_bundle` did.
#[derive(Debug, Clone)]
pub struct QuantizeOutcome {
    /// The record written into the new bundle's manifest.
    pub spec: QuantizationSpec,
    /// Per block, the nodes that stayed f32 and why.
    pub kept_f32: Vec<(String, Vec<KeptF32>)>,
}

fn ops_line(ops: &BTreeMap<String, usize>) -> String {
    ops.iter()
        .map(|(op, n)| format!("{op} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A block's record, its nodes kept f32, and the int8 file the bundle uses (if it does).
type BlockOutcome = (QuantizedBlock, Vec<KeptF32>, Option<String>);

/// Quantizes one block file: calibrates on `feeds`, writes `<stem>.int8.onnx` into `out`,
/// times both and says which the bundle keeps. Returns the record and the file name to use.
fn block(
    dep: &Deployment,
    name: &str,
    file: &Path,
    out: &Path,
    feeds: &[Feed],
    opts: &QuantizeOptions,
) -> Result<BlockOutcome> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let q = Quantizer::new(bytes, format!("the {name} block {}", file.display()))?;
    let aug_path = out.join(format!(".{name}.calibrate.onnx"));
    std::fs::write(&aug_path, q.augmented()?)
        .with_context(|| format!("writing {}", aug_path.display()))?;
    let mut collector = Collector::new(opts.method)?;
    let collected = calib::collect(&dep.engine, &aug_path, &q, feeds, &mut collector);
    let _ = std::fs::remove_file(&aug_path);
    collected?;
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(name)
        .to_string();
    let int8_name = format!("{stem}.int8.onnx");
    let int8_path = out.join(&int8_name);
    std::fs::write(&int8_path, q.quantize(&collector, opts.activations)?)
        .with_context(|| format!("writing {}", int8_path.display()))?;
    let f32_rate = calib::rate(&dep.engine, file, feeds, opts.rounds)?;
    let int8_rate = calib::rate(&dep.engine, &int8_path, feeds, opts.rounds)
        .with_context(|| format!("running the int8 {name} block {}", int8_path.display()))?;
    let batch = feeds
        .first()
        .and_then(|f| f.first())
        .map_or(0, |(_, a)| a.shape().first().copied().unwrap_or(0));
    let ratio = int8_rate / f32_rate.max(1e-9);
    let int8 = int8_rate >= f32_rate || opts.always_int8;
    let why = if int8_rate >= f32_rate {
        format!("int8 is {ratio:.2}x f32 at batch {batch}")
    } else if int8 {
        format!("int8 is {ratio:.2}x f32 at batch {batch} (slower), kept by --always-int8")
    } else {
        format!("int8 is {ratio:.2}x f32 at batch {batch} (slower): kept f32")
    };
    let record = QuantizedBlock {
        block: name.into(),
        int8,
        f32_per_s: f32_rate,
        int8_per_s: int8_rate,
        batch,
        ops: ops_line(q.analysis().quantized_ops()),
        why,
    };
    let kept = q.analysis().kept_f32().to_vec();
    if let Some(dir) = &opts.write_calibration {
        calib::write_npy(dir, name, feeds)?;
    }
    if int8 || opts.keep_slower {
        Ok((record, kept, int8.then_some(int8_name)))
    } else {
        std::fs::remove_file(&int8_path).ok();
        Ok((record, kept, None))
    }
}

/// Copies the bundle's files (not its subdirectories) into `out`.
fn copy_bundle(dep: &Deployment, out: &Path) -> Result<()> {
    let dir = &dep.bundle.dir;
    let same = match (dir.canonicalize(), out.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        bail!(
            "--out {} is the bundle itself; give a new directory for the quantized bundle",
            out.display()
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    // int8 graphs of an earlier quantization into the same --out (--force) would linger.
    for entry in std::fs::read_dir(out).with_context(|| format!("reading {}", out.display()))? {
        let path = entry?.path();
        if path.is_file() && path.to_string_lossy().ends_with(".int8.onnx") {
            std::fs::remove_file(&path)
                .with_context(|| format!("removing the stale {}", path.display()))?;
        }
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_file()
            && let Some(name) = path.file_name()
        {
            let to: PathBuf = out.join(name);
            std::fs::copy(&path, &to)
                .with_context(|| format!("copying {} to {}", path.display(), to.display()))?;
        }
    }
    Ok(())
}

/// Writes the quantized bundle of `dep` into `out`, calibrated on samples of `train` drawn in
/// the order of `pool` (described by `data` in the manifest). Thresholds are not re-calibrated here: the
/// caller runs calibration on the new bundle.
pub fn quantize_bundle(
    dep: &Deployment,
    train: &Dataset,
    pool: &[usize],
    data: &str,
    out: &Path,
    opts: &QuantizeOptions,
) -> Result<QuantizeOutcome> {
    let manifest = &dep.bundle.manifest;
    if manifest.quantization.is_some() {
        bail!(
            "bundle {} is already quantized (its manifest has [quantization]): quantize the f32 bundle it came from",
            dep.bundle.dir.display()
        );
    }
    let idx = &pool[..opts.samples.min(pool.len())];
    if idx.is_empty() {
        bail!(
            "no calibration data: the calibration set is empty (raise --samples, or check the data set)"
        );
    }
    copy_bundle(dep, out)?;
    let names = manifest.tensors.clone();
    let batch = dep.batch_size().max(1);
    let mut main_feeds: Vec<Feed> = Vec::new();
    for read in train.batches(idx, batch, None) {
        let read = read?;
        let x = dep.batch_of(&read.pixels, read.indices.len());
        main_feeds.push(vec![(names.input.clone(), x)]);
    }
    let mut new = manifest.clone();
    let mut records = Vec::new();
    let mut kept_f32 = Vec::new();
    let dir = &dep.bundle.dir;

    // Records a block's outcome; the manifest names its int8 graph where that is kept.
    let mut record = |(rec, kept, file): BlockOutcome, model: &mut String| {
        if let Some(f) = file {
            *model = f;
        }
        kept_f32.push((rec.block.clone(), kept));
        records.push(rec);
    };
    let main_file = dir.join(&manifest.models.main);
    record(
        block(dep, "main", &main_file, out, &main_feeds, opts)?,
        &mut new.models.main,
    );

    // The extension sees the features of the samples the (chosen) main block predicts hard.
    let main_path = out.join(&new.models.main);
    let mut main = dep.engine.main(&main_path, &names)?;
    // By prediction first; a main block that predicts no hard class at all (an undertrained
    // one) gets the samples labelled hard instead.
    let mut by = "the main block predicts hard";
    let (mut ext_feeds, mut found) =
        extension_feeds(dep, &mut main, train, pool, batch, opts.samples, true)?;
    if found == 0 {
        by = "labelled hard (the main block predicts no hard class)";
        (ext_feeds, found) =
            extension_feeds(dep, &mut main, train, pool, batch, opts.samples, false)?;
    }
    if ext_feeds.is_empty() {
        bail!(
            "no calibration data for the extension: none of the {} training samples is of a hard class",
            pool.len()
        );
    }
    // Whole batches for timing: the hard samples, re-cut to the deployment's batch size.
    let ext_feeds = rebatch(ext_feeds, batch)?;
    let ext_file = dir.join(&manifest.models.extension);
    record(
        block(dep, "extension", &ext_file, out, &ext_feeds, opts)?,
        &mut new.models.extension,
    );

    if opts.cloud {
        let cloud = dep.bundle.cloud_file()?;
        record(
            block(dep, "cloud", &cloud, out, &main_feeds, opts)?,
            &mut new.models.cloud,
        );
    }
    let spec = QuantizationSpec {
        method: opts.method.describe(),
        activations: opts.activations.name().into(),
        data: format!(
            "{data}; main{}: the first {}; extension: the first {found} {by}",
            if opts.cloud { " and cloud" } else { "" },
            idx.len()
        ),
        blocks: records,
    };
    new.quantization = Some(spec.clone());
    // The old thresholds were chosen on the f32 blocks: calibration chooses new ones.
    new.thresholds = None;
    let path = out.join("meanet.toml");
    std::fs::write(&path, toml::to_string_pretty(&new)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(QuantizeOutcome { spec, kept_f32 })
}

/// The extension's calibration batches: up to `samples` samples of `pool` that the main block
/// predicts hard (`predicted`) or that are labelled hard, with the main block's features.
fn extension_feeds(
    dep: &Deployment,
    main: &mut meanet_core::MainNet,
    train: &Dataset,
    pool: &[usize],
    batch: usize,
    samples: usize,
    predicted: bool,
) -> Result<(Vec<Feed>, usize)> {
    let names = &dep.bundle.manifest.tensors;
    let mut feeds: Vec<Feed> = Vec::new();
    let mut found = 0;
    for read in train.batches(pool, batch, None) {
        if found >= samples {
            break;
        }
        let read = read?;
        let x = dep.batch_of(&read.pixels, read.indices.len());
        let o = main.run(x.view())?;
        let rows: Vec<usize> = (0..o.logits.nrows())
            .filter(|&r| {
                let class = if predicted {
                    let row = o.logits.row(r);
                    row.iter()
                        .enumerate()
                        .fold(
                            (0, f32::NEG_INFINITY),
                            |b, (i, &v)| {
                                if v > b.1 { (i, v) } else { b }
                            },
                        )
                        .0
                } else {
                    read.indices
                        .get(r)
                        .and_then(|&i| train.labels.get(i))
                        .map_or(usize::MAX, |&l| usize::from(l))
                };
                dep.partition.is_hard(class)
            })
            .collect();
        let rows = &rows[..rows.len().min(samples - found)];
        if rows.is_empty() {
            continue;
        }
        found += rows.len();
        feeds.push(vec![
            (names.input.clone(), x.select(Axis(0), rows)),
            (names.features.clone(), o.features.select(Axis(0), rows)),
        ]);
    }
    Ok((feeds, found))
}

/// Concatenates the feeds' samples and cuts them into batches of `batch`.
fn rebatch(feeds: Vec<Feed>, batch: usize) -> Result<Vec<Feed>> {
    let names: Vec<String> = feeds[0].iter().map(|(n, _)| n.clone()).collect();
    let mut whole = Vec::new();
    for (k, name) in names.iter().enumerate() {
        let views: Vec<_> = feeds.iter().map(|f| f[k].1.view()).collect();
        whole.push((name.clone(), concatenate(Axis(0), &views)?));
    }
    let n = whole[0].1.shape()[0];
    Ok((0..n)
        .step_by(batch)
        .map(|start| {
            let end = (start + batch).min(n);
            whole
                .iter()
                .map(|(name, a)| {
                    (
                        name.clone(),
                        a.slice_axis(Axis(0), (start..end).into()).to_owned(),
                    )
                })
                .collect()
        })
        .collect())
}
