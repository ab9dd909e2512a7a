//! The training loop and the stages of complexity-aware training.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::error::TrainError;

/// Hyper-parameters of one training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hyper {
    /// Epochs.
    pub epochs: usize,
    /// Samples per step.
    pub batch_size: usize,
    /// Peak learning rate (AdamW, cosine decay to 5% of it).
    pub lr: f64,
    /// AdamW weight decay.
    pub weight_decay: f32,
    /// Random crop with 2-pixel padding and horizontal flips.
    pub augment: bool,
}

/// Per-channel normalisation of pixels scaled to `[0, 1]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Norm {
    /// Means.
    pub mean: Vec<f32>,
    /// Standard deviations.
    pub std: Vec<f32>,
}

/// Where progress goes: bars on a terminal (unless quiet) and lines in a log file.
pub struct Reporter {
    log: Option<std::fs::File>,
    quiet: bool,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporter")
            .field("quiet", &self.quiet)
            .finish()
    }
}

impl Reporter {
    /// Appends to `log` (if given); draws progress bars unless `quiet`.
    pub fn new(log: Option<&Path>, quiet: bool) -> std::io::Result<Self> {
        let log = match log {
            Some(p) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            ),
            None => None,
        };
        Ok(Reporter { log, quiet })
    }

    /// Writes one line to the log (and to stderr unless quiet).
    pub fn line(&mut self, text: &str) {
        if let Some(f) = self.log.as_mut() {
            let _ = writeln!(f, "{text}");
        }
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    fn bar(&self, len: u64, prefix: String) -> ProgressBar {
        if self.quiet {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        if let Ok(style) =
            ProgressStyle::with_template("{prefix:>18} [{bar:30}] {pos}/{len} {msg} ({eta})")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(prefix);
        bar
    }
}

/// The normalised `[N, C, H, W]` batch of the samples `idx` of `ds` (no augmentation).
pub fn images(
    ds: &Dataset,
    idx: &[usize],
    norm: &Norm,
    device: &Device,
) -> Result<Tensor<4>, TrainError> {
    Ok(tensor(&ds.read(idx)?, ds.shape, norm, None, device))
}

/// Builds a normalised `[N, C, H, W]` batch from `pixels` (samples of `shape`); with `rng`,
/// random shifts of up to 2 pixels and horizontal flips.
pub fn tensor(
    pixels: &[u8],
    shape: [usize; 3],
    norm: &Norm,
    rng: Option<&mut fastrand::Rng>,
    device: &Device,
) -> Tensor<4> {
    let [c, h, w] = shape;
    let n = pixels.len() / (c * h * w).max(1);
    let mut out = Vec::with_capacity(pixels.len());
    let mut rng = rng;
    for px in pixels.chunks_exact((c * h * w).max(1)) {
        let (dy, dx, flip) = match rng.as_deref_mut() {
            Some(r) => (r.i32(-2..=2), r.i32(-2..=2), r.bool()),
            None => (0, 0, false),
        };
        for ch in 0..c {
            let (m, s) = (norm.mean[ch], norm.std[ch]);
            for y in 0..h as i32 {
                for x in 0..w as i32 {
                    let (sy, sx) = (y + dy, if flip { w as i32 - 1 - x } else { x } + dx);
                    let v = if sy >= 0 && sy < h as i32 && sx >= 0 && sx < w as i32 {
                        f32::from(px[ch * h * w + sy as usize * w + sx as usize])
                    } else {
                        0.0
                    };
                    out.push((v / 255.0 - m) / s);
                }
            }
        }
    }
    Tensor::from_data(TensorData::new(out, [n, c, h, w]), device)
}

/// Labels as an `Int` tensor.
pub fn labels(values: impl IntoIterator<Item = i64>, device: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = values.into_iter().collect();
    let n = v.len();
    Tensor::from_data(TensorData::new(v, [n]), device)
}

/// Row-major values of a float tensor.
pub fn floats<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

fn argmax_rows(logits: &[f32], cols: usize) -> Vec<usize> {
    if cols == 0 {
        // No classes (or no rows to infer them from): no predictions, not a panic.
        return Vec::new();
    }
    logits
        .chunks(cols)
        .map(|r| {
            r.iter()
                .enumerate()
                .fold(0, |b, (k, v)| if *v > r[b] { k } else { b })
        })
        .collect()
}

/// Trains `model` on `device` (its autodiff form) on `set` (indices into it), targets given per sample by `target`.
///
/// `forward(model, x, idx)` returns the logits for a batch `x` of the samples `idx`. Batches
/// are read ahead while a step runs ([`Dataset::batches`]); files that crop at random when read
/// ([`Dataset::augments_when_read`]) get no shifts on top.
#[allow(clippy::too_many_arguments)]
pub fn fit<M: Module>(
    device: &Device,
    mut model: M,
    name: &str,
    set: &Dataset,
    train_idx: &[usize],
    target: &dyn Fn(usize) -> i64,
    norm: &Norm,
    hyper: &Hyper,
    seed: u64,
    report: &mut Reporter,
    forward: &dyn Fn(&M, Tensor<4>, &[usize]) -> Tensor<2>,
    validate: &mut dyn FnMut(&M) -> Result<f64, TrainError>,
) -> Result<M, TrainError> {
    let device = device.clone().autodiff();
    let mut optim = AdamWConfig::new()
        .with_weight_decay(hyper.weight_decay)
        .init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let mut rng = fastrand::Rng::with_seed(seed);
    let steps_per_epoch = train_idx.len().div_ceil(hyper.batch_size.max(1));
    let total = (steps_per_epoch * hyper.epochs).max(1);
    let mut step = 0usize;
    // Files that crop at random when read get no shifts on top; sets in memory keep the
    // random stream they always had (no seed is drawn for them).
    let at_read = hyper.augment && set.augments_when_read();
    let shifts = hyper.augment && !at_read;
    for epoch in 1..=hyper.epochs {
        let start = Instant::now();
        let mut order = train_idx.to_vec();
        rng.shuffle(&mut order);
        let bar = report.bar(
            steps_per_epoch as u64,
            format!("{name} {epoch}/{}", hyper.epochs),
        );
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        let read_seed = at_read.then(|| rng.u64(..));
        for read in set.batches(&order, hyper.batch_size.max(1), read_seed) {
            let read = read?;
            let batch = read.indices.as_slice();
            let progress = step as f64 / total as f64;
            let lr =
                hyper.lr * (0.05 + 0.95 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()));
            let x = tensor(
                &read.pixels,
                set.shape,
                norm,
                shifts.then_some(&mut rng),
                &device,
            );
            let y: Vec<i64> = batch.iter().map(|&i| target(i)).collect();
            let logits = forward(&model, x, batch);
            let cols = logits.dims()[1];
            let loss = loss_fn.forward(logits.clone(), labels(y.iter().copied(), &device));
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
            let l: f64 = loss
                .into_data()
                .iter::<f32>()
                .next()
                .map_or(f64::NAN, f64::from);
            let pred = argmax_rows(&floats(logits.detach()), cols);
            correct += pred
                .iter()
                .zip(&y)
                .filter(|(p, t)| **p as i64 == **t)
                .count();
            seen += batch.len();
            loss_sum += l * batch.len() as f64;
            step += 1;
            bar.inc(1);
            bar.set_message(format!(
                "loss {:.3} acc {:.3}",
                loss_sum / seen as f64,
                correct as f64 / seen as f64
            ));
        }
        bar.finish_and_clear();
        let val = validate(&model)?;
        report.line(&format!(
            "stage={name} epoch={epoch} loss={:.4} train_acc={:.4} val_acc={val:.4} secs={:.1}",
            loss_sum / seen.max(1) as f64,
            correct as f64 / seen.max(1) as f64,
            start.elapsed().as_secs_f64()
        ));
    }
    Ok(model)
}

/// Runs `forward` over `set` on `device` in inference mode, batch by batch; returns row-major outputs and
/// the number of columns.
pub fn infer(
    device: &Device,
    set: &Dataset,
    idx: &[usize],
    norm: &Norm,
    forward: &dyn Fn(Tensor<4>, &[usize]) -> Tensor<2>,
) -> Result<(Vec<f32>, usize), TrainError> {
    let mut out = Vec::new();
    let mut cols = 0;
    for read in set.batches(idx, 256, None) {
        let read = read?;
        let x = tensor(&read.pixels, set.shape, norm, None, device);
        let logits = forward(x, &read.indices);
        cols = logits.dims()[1];
        out.extend(floats(logits));
    }
    Ok((out, cols))
}

/// Accuracy of row-major `logits` against `targets`.
pub fn accuracy(logits: &[f32], cols: usize, targets: &[i64]) -> f64 {
    let pred = argmax_rows(logits, cols);
    let ok = pred
        .iter()
        .zip(targets)
        .filter(|(p, t)| **p as i64 == **t)
        .count();
    ok as f64 / targets.len().max(1) as f64
}

/// `argmax` of each row.
pub fn predictions(logits: &[f32], cols: usize) -> Vec<usize> {
    argmax_rows(logits, cols)
}
