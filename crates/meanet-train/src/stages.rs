//! The stage sequence of complexity-aware training, each stage resumable from its checkpoint:
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
use meanet_core::manifest::{InputSpec, Manifest, Models, SplitSpec, Tensors};
use meanet_core::{
    ClassPartition, ConfusionMatrix, HardClassSelector, WorstByPrecision, WorstByRecall,
};
use serde::{Deserialize, Serialize};

use crate::data::{Dataset, stratified_split};
use crate::export;
use crate::nets::{Architecture, CloudNet, ExtensionNet, MainNet};
use crate::train::{Hyper, Norm, Reporter, accuracy, fit, infer, predictions};

/// Everything that defines a training run (saved as `work/config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Seed for the split, shuffling, augmentation and initialisation.
    pub seed: u64,
    /// Fraction of the training set held out for validation.
    pub validation: f64,
    /// Fraction of classes that are hard (default 0.5: H = C / 2).
    pub hard_fraction: f64,
    /// `recall` or `precision`: the measure hard classes are the worst at.
    pub hard_by: String,
    /// `reference` or `tiny` network sizes.
    pub preset: String,
    /// Main block training.
    pub main: Hyper,
    /// Adaptive + extension training.
    pub extension: Hyper,
    /// Cloud model training.
    pub cloud: Hyper,
    /// Use only this many training samples (smoke tests).
    pub limit_train: Option<usize>,
    /// Use only this many test samples.
    pub limit_test: Option<usize>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        let h = |epochs, lr| Hyper {
            epochs,
            batch_size: 128,
            lr,
            weight_decay: 1e-4,
            augment: true,
        };
        TrainConfig {
            seed: 20211,
            validation: 0.1,
            hard_fraction: 0.5,
            hard_by: "recall".into(),
            preset: "reference".into(),
            main: h(10, 3e-3),
            extension: h(10, 3e-3),
            cloud: h(10, 3e-3),
            limit_train: None,
            limit_test: None,
        }
    }
}

/// Why training could not proceed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A file in the work or bundle directory could not be written or read.
    #[error("{what} {path}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint could not be saved or loaded.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The checkpoint.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A stage needs an earlier stage's output.
    #[error("stage {stage} needs {missing}; run the earlier stages first (or --stage all)")]
    Missing {
        /// The stage.
        stage: &'static str,
        /// What is missing.
        missing: String,
    },
    /// The configuration is invalid.
    #[error("invalid training configuration: {0}")]
    Config(String),
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> TrainError {
    let path = path.to_path_buf();
    move |source| TrainError::Io { what, path, source }
}

/// Test-set results of a trained deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// Test samples.
    pub samples: usize,
    /// Main block accuracy.
    pub main_accuracy: f64,
    /// Main + extension accuracy (samples predicted hard are answered by the extension).
    pub main_extension_accuracy: f64,
    /// Cloud model accuracy.
    pub cloud_accuracy: f64,
    /// Test samples whose label is a hard class.
    pub hard_samples: usize,
    /// Main block accuracy on those samples.
    pub main_accuracy_on_hard: f64,
    /// Extension accuracy on those samples (its hard-class prediction mapped back).
    pub extension_accuracy_on_hard: f64,
    /// Hard classes (label indices).
    pub hard_classes: Vec<usize>,
    /// Main block recall per class on the validation split (how hard classes were chosen).
    pub validation_recall: Vec<f64>,
}

/// A training run over one data set.
#[derive(Debug)]
pub struct Run {
    work: PathBuf,
    cfg: TrainConfig,
    train: Dataset,
    test: Dataset,
    train_idx: Vec<usize>,
    val_idx: Vec<usize>,
    norm: Norm,
    arch: Architecture,
    report: Reporter,
}

impl Run {
    /// Prepares a run writing checkpoints under `out/work`.
    pub fn new(
        out: &Path,
        cfg: TrainConfig,
        train: Dataset,
        test: Dataset,
        quiet: bool,
    ) -> Result<Self, TrainError> {
        if !(0.0..1.0).contains(&cfg.validation) || cfg.validation <= 0.0 {
            return Err(TrainError::Config(format!(
                "validation = {} must be in (0, 1)",
                cfg.validation
            )));
        }
        if !(cfg.hard_fraction > 0.0 && cfg.hard_fraction < 1.0) {
            return Err(TrainError::Config(format!(
                "hard_fraction = {} must be in (0, 1)",
                cfg.hard_fraction
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
        let hard = ((classes as f64 * cfg.hard_fraction).round() as usize).clamp(1, classes - 1);
        let arch = match cfg.preset.as_str() {
            "reference" => Architecture::for_28x28(train.shape[0], classes, hard),
            "tiny" => Architecture::tiny(train.shape[0], classes, hard),
            other => {
                return Err(TrainError::Config(format!(
                    "unknown preset {other:?} (reference, tiny)"
                )));
            }
        };
        let path = work.join("config.json");
        let text = serde_json::to_string_pretty(&cfg).unwrap_or_default();
        std::fs::write(&path, text).map_err(io("writing", &path))?;
        let mut report = Reporter::new(Some(&out.join("train.log")), quiet)
            .map_err(io("opening", &out.join("train.log")))?;
        report.line(&format!(
            "data: {} training ({} train / {} validation, seed {}), {} test, {} classes, input {:?}",
            train.len(),
            train_idx.len(),
            val_idx.len(),
            cfg.seed,
            test.len(),
            classes,
            train.shape
        ));
        Device::flex().seed(cfg.seed);
        Ok(Run {
            work,
            cfg,
            train,
            test,
            train_idx,
            val_idx,
            norm: Norm { mean, std },
            arch,
            report,
        })
    }

    fn device() -> Device {
        Device::flex().autodiff()
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
        let val_y = Self::labels(&train, &val_idx);
        let target = |i: usize| i64::from(train.labels[i]);
        let mut validate = |m: &M| {
            let v = m.valid();
            let (l, c) = infer(&train, &val_idx, &norm, &|x, _| forward(&v, x));
            accuracy(&l, c, &val_y)
        };
        let m = fit(
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
        let fresh = MainNet::new(&self.arch, &Self::device());
        let (seed, hyper) = (self.cfg.seed, self.cfg.main.clone());
        self.classifier(fresh, "main", seed, hyper, resume, &|m, x| m.forward(x).0)
    }

    /// Stage 2: M's confusion matrix on the validation split, and the hard classes it implies.
    pub fn partition(
        &mut self,
        main: &MainNet,
    ) -> Result<(ClassPartition, ConfusionMatrix), TrainError> {
        let v = main.valid();
        let (l, c) = infer(&self.train, &self.val_idx, &self.norm, &|x, _| {
            v.forward(x).0
        });
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
        let partition = match self.cfg.hard_by.as_str() {
            "recall" => WorstByRecall { count }.select(&cm),
            "precision" => WorstByPrecision { count }.select(&cm),
            other => {
                return Err(TrainError::Config(format!(
                    "hard_by {other:?} must be recall or precision"
                )));
            }
        }
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
            "hard_by": self.cfg.hard_by,
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
        let fresh = ExtensionNet::new(&self.arch, &Self::device());
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
            let (l, c) = infer(&train, &val_idx, &norm, &|x, _| {
                v.forward(x.clone(), frozen.forward(x).1)
            });
            accuracy(&l, c, &val_y)
        };
        let (hyper, seed) = (self.cfg.extension.clone(), self.cfg.seed + 1);
        let e = fit(
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
        let fresh = CloudNet::new(&self.arch, &Self::device());
        let (seed, hyper) = (self.cfg.seed + 2, self.cfg.cloud.clone());
        self.classifier(fresh, "cloud", seed, hyper, resume, &|m, x| m.forward(x))
    }

    /// Loads a stage's checkpoint (for stages run alone).
    pub fn load_main(&self) -> Result<MainNet, TrainError> {
        self.load(
            MainNet::new(&self.arch, &Self::device()),
            "main",
            "partition",
        )
    }

    /// Loads the extension checkpoint.
    pub fn load_extension(&self) -> Result<ExtensionNet, TrainError> {
        self.load(
            ExtensionNet::new(&self.arch, &Self::device()),
            "extension",
            "export",
        )
    }

    /// Loads the cloud checkpoint.
    pub fn load_cloud(&self) -> Result<CloudNet, TrainError> {
        self.load(
            CloudNet::new(&self.arch, &Self::device()),
            "cloud",
            "export",
        )
    }

    /// The feature map shape `[C_f, h, w]` of the main block.
    fn feature_shape(&self, main: &MainNet) -> [usize; 3] {
        let x = crate::train::images(&self.train, &[0], &self.norm, None, &Device::flex());
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
        std::fs::create_dir_all(bundle).map_err(io("creating", bundle))?;
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
        for (name, bytes) in &files {
            let path = bundle.join(name);
            std::fs::write(&path, bytes).map_err(io("writing", &path))?;
        }
        let manifest = Manifest {
            format: meanet_core::manifest::FORMAT,
            name: "fashion-mnist".into(),
            classes: self.train.classes.clone(),
            hard_classes: partition.hard_classes().to_vec(),
            input: InputSpec {
                shape: input.to_vec(),
                mean: self.norm.mean.clone(),
                std: self.norm.std.clone(),
            },
            models: Models {
                main: "main.onnx".into(),
                extension: "extension.onnx".into(),
                cloud: "cloud.onnx".into(),
            },
            tensors: Tensors::default(),
            macs: None,
            thresholds: None,
            split: Some(SplitSpec {
                seed: self.cfg.seed,
                validation: self.cfg.validation,
            }),
        };
        let path = bundle.join("meanet.toml");
        let text =
            toml::to_string_pretty(&manifest).map_err(|e| TrainError::Config(e.to_string()))?;
        std::fs::write(&path, text).map_err(io("writing", &path))?;
        let path = bundle.join("results.json");
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&results).unwrap_or_default(),
        )
        .map_err(io("writing", &path))?;
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
        let (ml, mc) = infer(&self.test, &all, &self.norm, &|x, _| m.forward(x).0);
        let (el, ec) = infer(&self.test, &all, &self.norm, &|x, _| {
            e.forward(x.clone(), m.forward(x).1)
        });
        let (cl, cc) = infer(&self.test, &all, &self.norm, &|x, _| c.forward(x));
        let (mp, ep, cp) = (
            predictions(&ml, mc),
            predictions(&el, ec),
            predictions(&cl, cc),
        );
        let ext_class: Vec<usize> = ep
            .iter()
            .map(|&h| partition.from_hard(h).unwrap_or(usize::MAX))
            .collect();
        let acc = |p: &dyn Fn(usize) -> usize, idx: &[usize]| {
            idx.iter().filter(|&&i| p(i) == y[i]).count() as f64 / idx.len().max(1) as f64
        };
        let hard_idx: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&i| partition.is_hard(y[i]))
            .collect();
        Results {
            samples: all.len(),
            main_accuracy: acc(&|i| mp[i], &all),
            main_extension_accuracy: acc(
                &|i| {
                    if partition.is_hard(mp[i]) {
                        ext_class[i]
                    } else {
                        mp[i]
                    }
                },
                &all,
            ),
            cloud_accuracy: acc(&|i| cp[i], &all),
            hard_samples: hard_idx.len(),
            main_accuracy_on_hard: acc(&|i| mp[i], &hard_idx),
            extension_accuracy_on_hard: acc(&|i| ext_class[i], &hard_idx),
            hard_classes: partition.hard_classes().to_vec(),
            validation_recall: cm.per_class().iter().map(|s| s.recall).collect(),
        }
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
        let device = Device::flex();
        let x = crate::train::images(&self.test, &idx, &self.norm, None, &device);
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
}
