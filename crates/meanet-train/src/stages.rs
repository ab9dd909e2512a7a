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
use burn::store::ModuleRecord;
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
        let train = match cfg.limit_train {
            Some(n) => train.take(n),
            None => train,
        };
        let test = match cfg.limit_test {
            Some(n) => test.take(n),
            None => test,
        };
        let work = out.join("work");
        std::fs::create_dir_all(&work).map_err(io("creating", &work))?;
        let (train_idx, val_idx) = stratified_split(&train.labels, cfg.validation, cfg.seed);
        let (mean, std) = train.subset(&train_idx).channel_stats();
        let classes = train.classes.len();
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

    fn save<M: Module>(&self, m: &M, name: &str) -> Result<(), TrainError> {
        let path = self.work.join(format!("{name}.bpk"));
        m.clone()
            .save_file(&path)
            .map_err(|e| TrainError::Checkpoint {
                path,
                reason: e.to_string(),
            })
    }

    fn load<M: Module>(
        &self,
        m: M,
        name: &'static str,
        stage: &'static str,
    ) -> Result<M, TrainError> {
        let path = self.work.join(format!("{name}.bpk"));
        if !path.is_file() {
            return Err(TrainError::Missing {
                stage,
                missing: path.display().to_string(),
            });
        }
        let record = ModuleRecord::load(&path).map_err(|e| TrainError::Checkpoint {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        m.try_load_record(record)
            .map_err(|e| TrainError::Checkpoint {
                path,
                reason: e.to_string(),
            })
    }

    fn has(&self, name: &str) -> bool {
        self.work.join(format!("{name}.bpk")).is_file()
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
            let (l, c) = infer(&device, &train, &val_idx, &norm, &|x, _| forward(&v, x));
            accuracy(&l, c, &val_y)
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
        );
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
        );
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
            });
            accuracy(&l, c, &val_y)
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
        );
        self.save(&e, "extension")?;
        Ok(e)
    }

    /// Stage 4: the cloud model.
    pub fn cloud(&mut self, resume: bool) -> Result<CloudNet, TrainError> {
        let fresh = CloudNet::new(&self.arch, &self.autodiff());
        let (seed, hyper) = (self.cfg.seed + 2, self.cfg.cloud.clone());
        self.classifier(fresh, "cloud", seed, hyper, resume, &|m, x| m.forward(x))
    }

    /// Loads a stage's checkpoint (for stages run alone).
    pub fn load_main(&self) -> Result<MainNet, TrainError> {
        self.load(
            MainNet::new(&self.arch, &self.autodiff()),
            "main",
            "partition",
        )
    }

    /// Loads the extension checkpoint.
    pub fn load_extension(&self) -> Result<ExtensionNet, TrainError> {
        self.load(
            ExtensionNet::new(&self.arch, &self.autodiff()),
            "extension",
            "export",
        )
    }

    /// Loads the cloud checkpoint.
    pub fn load_cloud(&self) -> Result<CloudNet, TrainError> {
        self.load(
            CloudNet::new(&self.arch, &self.autodiff()),
            "cloud",
            "export",
        )
    }

    /// The feature map shape `[C_f, h, w]` of the main block.
    fn feature_shape(&self, main: &MainNet) -> [usize; 3] {
        let x = crate::train::images(&self.train, &[0], &self.norm, None, &self.device);
        let [_, c, h, w] = main.valid().forward(x).1.dims();
        [c, h, w]
    }

    /// Stage 5: test-set results, ONNX files and the manifest in `bundle`.
    pub fn export(
        &mut self,
        bundle: &Path,
        main: &MainNet,
        ext: &ExtensionNet,
        cloud: &CloudNet,
        partition: &ClassPartition,
        cm: &ConfusionMatrix,
    ) -> Result<Results, TrainError> {
        let results = self.results(main, ext, cloud, partition, cm);
        let input = self.train.shape;
        let features = self.feature_shape(main);
        let files = [
            (
                "main.onnx",
                export::main_onnx(main, input, features, self.arch.classes),
            ),
            (
                "extension.onnx",
                export::extension_onnx(ext, input, features, self.arch.hard),
            ),
            (
                "cloud.onnx",
                export::cloud_onnx(cloud, input, self.arch.classes),
            ),
        ];
        let manifest = bundle::manifest(&BundleInfo {
            classes: &self.train.classes,
            input,
            norm: &self.norm,
            dataset: &self.dataset,
            partition,
            config: &self.cfg,
        });
        bundle::write(bundle, &files, &manifest, &results)?;
        self.report.line(&format!(
            "test: main {:.4}, main+extension {:.4}, cloud {:.4}; on hard classes: main {:.4}, extension {:.4} ({} samples)",
            results.main_accuracy, results.main_extension_accuracy, results.cloud_accuracy,
            results.main_accuracy_on_hard, results.extension_accuracy_on_hard, results.hard_samples
        ));
        Ok(results)
    }

    fn results(
        &self,
        main: &MainNet,
        ext: &ExtensionNet,
        cloud: &CloudNet,
        partition: &ClassPartition,
        cm: &ConfusionMatrix,
    ) -> Results {
        let all: Vec<usize> = (0..self.test.len()).collect();
        let y: Vec<usize> = self.test.labels.iter().map(|&l| usize::from(l)).collect();
        let (m, e, c) = (main.valid(), ext.valid(), cloud.valid());
        let (ml, mc) = infer(&self.device, &self.test, &all, &self.norm, &|x, _| {
            m.forward(x).0
        });
        let (el, ec) = infer(&self.device, &self.test, &all, &self.norm, &|x, _| {
            e.forward(x.clone(), m.forward(x).1)
        });
        let (cl, cc) = infer(&self.device, &self.test, &all, &self.norm, &|x, _| {
            c.forward(x)
        });
        Results::from_predictions(
            Predictions {
                labels: &y,
                main: &predictions(&ml, mc),
                extension: &predictions(&el, ec),
                cloud: &predictions(&cl, cc),
            },
            partition,
            cm.per_class().iter().map(|s| s.recall).collect(),
        )
    }

    /// Burn's own inference on the first `n` test samples (normalised input, main logits and
    /// features, extension logits, cloud logits), for comparing with the exported ONNX files.
    #[allow(clippy::type_complexity)]
    pub fn reference_outputs(
        &self,
        main: &MainNet,
        ext: &ExtensionNet,
        cloud: &CloudNet,
        n: usize,
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
        let idx: Vec<usize> = (0..n.min(self.test.len())).collect();
        let x = crate::train::images(&self.test, &idx, &self.norm, None, &self.device);
        let (m, e, c) = (main.valid(), ext.valid(), cloud.valid());
        let (ml, f) = m.forward(x.clone());
        let el = e.forward(x.clone(), f.clone());
        let cl = c.forward(x.clone());
        use crate::train::floats;
        (floats(x), floats(ml), floats(f), floats(el), floats(cl))
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
