//! The stage sequence of complexity-aware training, each stage resumable from its checkpoint
//! (configuration in [`crate::config`], errors in [`crate::error`], results in
//! [`crate::results`], bundle writing in [`crate::bundle`]):
//!
//! 1. `main`: train M on all classes (training split).
//! 2. `partition`: M's class statistics on the VALIDATION split -> hard classes (core's selector).
//! 3. `extension`: freeze M (batch-norm statistics too), train A + X on hard-class samples only.
//! 4. `cloud`: train the cloud model on all classes.
//! 5. `export`: ONNX files, manifest and test-set results into the bundle directory.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;
use meanet_core::manifest::DatasetSpec;
use meanet_core::{ClassPartition, ConfusionMatrix};

use crate::bundle::{self, BundleInfo};
use crate::config::{TrainConfig, burn_device};
use crate::data::{Dataset, stratified_split};
use crate::error::{TrainError, io};
use crate::export;
use crate::nets::{Architecture, CloudNet, ExtensionNet, MainNet};
use crate::results::{Predictions, Results};
use crate::train::{Hyper, Norm, Reporter, accuracy, fit, infer, predictions};

mod checkpoint;
mod output;

/// A training run over one data set.
#[derive(Debug)]
pub struct Run {
    work: PathBuf,
    cfg: TrainConfig,
    train: Dataset,
    test: Dataset,
    dataset: DatasetSpec,
    train_idx: Vec<usize>,
    val_idx: Vec<usize>,
    norm: Norm,
    arch: Architecture,
    report: Reporter,
    device: Device,
}

impl Run {
    /// Prepares a run over `train` and `test` (read from `dataset`), writing checkpoints
    /// under `out/work`.
    pub fn new(
        out: &Path,
        cfg: TrainConfig,
        (train, test): (Dataset, Dataset),
        dataset: DatasetSpec,
        quiet: bool,
    ) -> Result<Self, TrainError> {
        cfg.validate()?;
        if train.classes.len() < 2 {
            return Err(TrainError::Config(format!(
                "the training set has {} class(es); MEANet needs at least 2",
                train.classes.len()
            )));
        }
        if test.shape != train.shape || test.classes != train.classes {
            return Err(TrainError::Config(format!(
                "the test split ({:?}, {} classes) does not match the training split ({:?}, {} classes)",
                test.shape,
                test.classes.len(),
                train.shape,
                train.classes.len()
            )));
        }
        let classes = train.classes.len();
        if let Some(n) = cfg.limit_train.filter(|&n| n < classes) {
            return Err(TrainError::Config(format!(
                "--limit-train {n} is fewer than the {classes} classes: every class needs training samples; give a larger limit (a few per class at least) or none"
            )));
        }
        let train = match cfg.limit_train {
            Some(n) => train.take(n),
            None => train,
        };
        let test = match cfg.limit_test {
            Some(n) => test.take(n),
            None => test,
        };
        if test.is_empty() {
            return Err(TrainError::Config(
                "the test split is empty: the bundle's accuracies are measured on it; add images (test/CLASS/ or val/CLASS/ for folders), or a --limit-test above 0".into(),
            ));
        }
        let work = out.join("work");
        std::fs::create_dir_all(&work).map_err(io("creating", &work))?;
        let (train_idx, val_idx) = stratified_split(&train.labels, cfg.validation, cfg.seed);
        check_split(&train, &train_idx, &val_idx, cfg.validation)?;
        let (mean, std) = train.subset(&train_idx).channel_stats()?;
        let hard = cfg.hard_count(classes);
        let arch = Architecture::new(cfg.preset, train.shape, classes, hard, cfg.cloud_depth)
            .map_err(TrainError::Config)?;
        let path = work.join("config.json");
        let text = serde_json::to_string_pretty(&cfg).unwrap_or_default();
        std::fs::write(&path, text).map_err(io("writing", &path))?;
        let mut report = Reporter::new(Some(&out.join("train.log")), quiet)
            .map_err(io("opening", &out.join("train.log")))?;
        report.line(&format!(
            "data: {} {} training ({} train / {} validation, seed {}), {} test, {} classes, input {:?}; preset {}, {} hard classes by {}",
            dataset.kind,
            train.len(),
            train_idx.len(),
            val_idx.len(),
            cfg.seed,
            test.len(),
            classes,
            train.shape,
            cfg.preset,
            hard,
            cfg.hard_by.name()
        ));
        let device = burn_device(cfg.device)?;
        device.seed(cfg.seed);
        Ok(Run {
            work,
            cfg,
            train,
            test,
            dataset,
            train_idx,
            val_idx,
            norm: Norm { mean, std },
            arch,
            report,
            device,
        })
    }

    /// The training device, with automatic differentiation.
    fn autodiff(&self) -> Device {
        self.device.clone().autodiff()
    }

    fn labels(set: &Dataset, idx: &[usize]) -> Vec<i64> {
        idx.iter().map(|&i| i64::from(set.labels[i])).collect()
    }

    /// Trains a classifier over all classes on the training split (or loads its checkpoint
    /// when `resume` and present), validating each epoch.
    #[allow(clippy::too_many_arguments)]
    fn classifier<M: Module>(
        &mut self,
        fresh: M,
        name: &'static str,
        seed: u64,
        hyper: Hyper,
        resume: bool,
        forward: &dyn Fn(&M, burn::tensor::Tensor<4>) -> burn::tensor::Tensor<2>,
    ) -> Result<M, TrainError> {
        if resume && self.has(name) {
            self.report
                .line(&format!("stage={name} resumed from checkpoint"));
            return self.load(fresh, name, name);
        }
        let (train, val_idx, norm, train_idx) = (
            self.train.clone(),
            self.val_idx.clone(),
            self.norm.clone(),
            self.train_idx.clone(),
        );
        let device = self.device.clone();
        let val_y = Self::labels(&train, &val_idx);
        let target = |i: usize| i64::from(train.labels[i]);
        let mut validate = |m: &M| {
            let v = m.valid();
            let (l, c) = infer(&device, &train, &val_idx, &norm, &|x, _| forward(&v, x))?;
            Ok(accuracy(&l, c, &val_y))
        };
        let m = fit(
            &self.device,
            fresh,
            name,
            &train,
            &train_idx,
            &target,
            &norm,
            &hyper,
            seed,
            &mut self.report,
            &|m, x, _| forward(m, x),
            &mut validate,
        )?;
        self.save(&m, name)?;
        Ok(m)
    }

    /// Stage 1: the main block (loaded from its checkpoint when `resume` and present).
    pub fn main(&mut self, resume: bool) -> Result<MainNet, TrainError> {
        let fresh = MainNet::new(&self.arch, &self.autodiff());
        let (seed, hyper) = (self.cfg.seed, self.cfg.main.clone());
        self.classifier(fresh, "main", seed, hyper, resume, &|m, x| m.forward(x).0)
    }

    /// Stage 2: M's confusion matrix on the validation split, and the hard classes it implies.
    pub fn partition(
        &mut self,
        main: &MainNet,
    ) -> Result<(ClassPartition, ConfusionMatrix), TrainError> {
        let v = main.valid();
        let (l, c) = infer(
            &self.device,
            &self.train,
            &self.val_idx,
            &self.norm,
            &|x, _| v.forward(x).0,
        )?;
        let pred = predictions(&l, c);
        let classes = self.train.classes.len();
        let cm = ConfusionMatrix::from_pairs(
            classes,
            self.val_idx
                .iter()
                .zip(&pred)
                .map(|(&i, &p)| (usize::from(self.train.labels[i]), p)),
        )
        .ok_or_else(|| TrainError::Config("a prediction fell outside the classes".into()))?;
        let count = self.arch.hard;
        let partition = self
            .cfg
            .hard_by
            .select(count, &cm)
            .map_err(|e| TrainError::Config(e.to_string()))?;
        let names: Vec<&str> = partition
            .hard_classes()
            .iter()
            .map(|&c| self.train.classes[c].as_str())
            .collect();
        self.report.line(&format!(
            "stage=partition validation_acc={:.4} hard_classes={:?} ({})",
            cm.accuracy(),
            partition.hard_classes(),
            names.join(", ")
        ));
        let path = self.work.join("partition.json");
        let json = serde_json::json!({
            "hard_classes": partition.hard_classes(),
            "hard_by": self.cfg.hard_by.name(),
            "validation_recall": cm.per_class().iter().map(|s| s.recall).collect::<Vec<_>>(),
            "validation_precision": cm.per_class().iter().map(|s| s.precision).collect::<Vec<_>>(),
            "confusion": cm.rows(),
        });
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&json).unwrap_or_default(),
        )
        .map_err(io("writing", &path))?;
        Ok((partition, cm))
    }

    /// Stage 3: A + X on hard-class training samples, M frozen (batch-norm statistics too).
    pub fn extension(
        &mut self,
        main: &MainNet,
        partition: &ClassPartition,
        resume: bool,
    ) -> Result<ExtensionNet, TrainError> {
        let fresh = ExtensionNet::new(&self.arch, &self.autodiff());
        if resume && self.has("extension") {
            self.report.line("stage=extension resumed from checkpoint");
            return self.load(fresh, "extension", "extension");
        }
        // M runs in inference mode (running statistics, no gradients); its features enter
        // the autodiff graph as constants.
        let frozen = main.valid();
        let hard_of = |set: &Dataset, idx: &[usize]| -> Vec<usize> {
            idx.iter()
                .copied()
                .filter(|&i| partition.is_hard(usize::from(set.labels[i])))
                .collect()
        };
        let train_idx = hard_of(&self.train, &self.train_idx);
        let val_idx = hard_of(&self.train, &self.val_idx);
        if train_idx.is_empty() {
            return Err(TrainError::Config(
                "no training samples of the hard classes".into(),
            ));
        }
        self.report.line(&format!(
            "stage=extension hard training samples={} validation={}",
            train_idx.len(),
            val_idx.len()
        ));
        let train = self.train.clone();
        let norm = self.norm.clone();
        let device = self.device.clone();
        let remap = |i: usize| {
            partition
                .to_hard(usize::from(train.labels[i]))
                .map_or(0, |h| h as i64)
        };
        let val_y: Vec<i64> = val_idx.iter().map(|&i| remap(i)).collect();
        let forward = |e: &ExtensionNet, x: burn::tensor::Tensor<4>, _: &[usize]| {
            let (_, f) = frozen.forward(x.clone().inner());
            e.forward(x, f.autodiff())
        };
        let mut validate = |e: &ExtensionNet| {
            let v = e.valid();
            let (l, c) = infer(&device, &train, &val_idx, &norm, &|x, _| {
                v.forward(x.clone(), frozen.forward(x).1)
            })?;
            Ok(accuracy(&l, c, &val_y))
        };
        let (hyper, seed) = (self.cfg.extension.clone(), self.cfg.seed + 1);
        let e = fit(
            &self.device,
            fresh,
            "extension",
            &train,
            &train_idx,
            &remap,
            &norm,
            &hyper,
            seed,
            &mut self.report,
            &forward,
            &mut validate,
        )?;
        self.save(&e, "extension")?;
        Ok(e)
    }

    /// Stage 4: the cloud model.
    pub fn cloud(&mut self, resume: bool) -> Result<CloudNet, TrainError> {
        let fresh = CloudNet::new(&self.arch, &self.autodiff());
        let (seed, hyper) = (self.cfg.seed + 2, self.cfg.cloud.clone());
        self.classifier(fresh, "cloud", seed, hyper, resume, &|m, x| m.forward(x))
    }

    /// The feature map shape `[C_f, h, w]` of the main block.
    fn feature_shape(&self, main: &MainNet) -> [usize; 3] {
        let [c, h, w] = self.train.shape;
        let x = burn::tensor::Tensor::<4>::zeros([1, c, h, w], &self.device);
        let [_, c, h, w] = main.valid().forward(x).1.dims();
        [c, h, w]
    }

    /// The normalisation in use.
    pub fn norm(&self) -> &Norm {
        &self.norm
    }

    /// The network architecture in use.
    pub fn architecture(&self) -> &Architecture {
        &self.arch
    }

    /// Writes one line to the run's log (and to stderr unless quiet).
    pub fn log(&mut self, text: &str) {
        self.report.line(text);
    }
}

/// Refuses a split that training cannot use, saying what to change: a class without training
/// samples, or an empty validation split (the hard classes are chosen on it).
fn check_split(
    train: &Dataset,
    train_idx: &[usize],
    val_idx: &[usize],
    validation: f64,
) -> Result<(), TrainError> {
    let classes = train.classes.len();
    let mut per_class = vec![0usize; classes];
    for &i in train_idx {
        if let Some(n) = train
            .labels
            .get(i)
            .and_then(|&l| per_class.get_mut(usize::from(l)))
        {
            *n += 1;
        }
    }
    let empty: Vec<&str> = per_class
        .iter()
        .zip(&train.classes)
        .filter(|(n, _)| **n == 0)
        .map(|(_, name)| name.as_str())
        .collect();
    if !empty.is_empty() {
        let shown: Vec<&str> = empty.iter().take(5).copied().collect();
        return Err(TrainError::Config(format!(
            "{} class{} ha{} no training samples ({}{}): add images to {} (train/CLASS/ for folders), or a larger --limit-train if one was given",
            empty.len(),
            if empty.len() == 1 { "" } else { "es" },
            if empty.len() == 1 { "s" } else { "ve" },
            shown.join(", "),
            if empty.len() > shown.len() {
                ", ..."
            } else {
                ""
            },
            if empty.len() == 1 { "it" } else { "them" },
        )));
    }
    if val_idx.is_empty() {
        // Each class holds out round(n * fraction) samples, so a class needs this many for one.
        let needed = (0.5 / validation).ceil();
        return Err(TrainError::Config(format!(
            "the validation split is empty: {} training samples over {classes} classes, and --validation-fraction {validation} holds out round(n x {validation}) per class, which is 0 for every class (one needs {needed} images or more). The hard classes are chosen on validation samples: add images, or raise --validation-fraction",
            train_idx.len()
        )));
    }
    Ok(())
}
