//! Loading a deployment bundle: `meanet.toml` plus the three ONNX files it names.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use meanet_core::Manifest;
use meanet_core::{Classifier, ExtensionBlock, MainBlock};

use crate::backend::Engine;

/// A validated bundle on disk.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The bundle directory.
    pub dir: PathBuf,
    /// Its validated manifest.
    pub manifest: Manifest,
}

/// The three networks of a bundle, loaded and checked against the manifest.
pub struct Networks {
    /// The main block.
    pub main: Box<dyn MainBlock>,
    /// The adaptive + extension blocks.
    pub extension: Box<dyn ExtensionBlock>,
    /// The cloud model.
    pub cloud: Box<dyn Classifier>,
}

impl Bundle {
    /// Reads and validates `dir/meanet.toml` and checks the model files exist.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("meanet.toml");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the bundle manifest {}", path.display()))?;
        let manifest: Manifest =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        manifest
            .validate()
            .with_context(|| format!("inconsistent bundle manifest {}", path.display()))?;
        let bundle = Bundle {
            dir: dir.to_path_buf(),
            manifest,
        };
        for (key, file) in bundle.files() {
            if !file.is_file() {
                bail!(
                    "bundle {}: models.{key} names {}, which does not exist",
                    dir.display(),
                    file.display()
                );
            }
        }
        Ok(bundle)
    }

    fn files(&self) -> [(&'static str, PathBuf); 3] {
        let m = &self.manifest.models;
        [
            ("main", self.dir.join(&m.main)),
            ("extension", self.dir.join(&m.extension)),
            ("cloud", self.dir.join(&m.cloud)),
        ]
    }

    /// Path of the cloud model.
    pub fn cloud_path(&self) -> PathBuf {
        self.dir.join(&self.manifest.models.cloud)
    }

    /// Loads the three networks and checks their shapes against the manifest.
    pub fn networks(&self, engine: &Engine) -> Result<Networks> {
        let [(_, main), (_, ext), (_, cloud)] = self.files();
        let m = &self.manifest;
        let t = &m.tensors;
        let main = engine.main(&main, t).context("loading the main block")?;
        let extension = engine
            .extension(&ext, t)
            .context("loading the extension block")?;
        let cloud = engine
            .classifier(&cloud, Some((&t.input, &t.cloud_logits)))
            .context("loading the cloud model")?;
        let c = m.classes.len();
        let check = |what: &str, got: Option<usize>, want: usize| -> Result<()> {
            match got {
                Some(g) if g != want => bail!(
                    "bundle {}: {what} has {g} outputs but the manifest lists {want} classes",
                    self.dir.display()
                ),
                _ => Ok(()),
            }
        };
        check("the main block", main.num_classes(), c)?;
        check("the cloud model", cloud.num_classes(), c)?;
        check(
            "the extension block",
            extension.num_hard_classes(),
            m.hard_classes.len(),
        )?;
        let want: Vec<Option<usize>> = std::iter::once(None)
            .chain(m.input.shape.iter().map(|&d| Some(d)))
            .collect();
        for (what, spec) in [
            ("main block", &main.network().signature().inputs[0].shape),
            ("cloud model", &cloud.network().signature().inputs[0].shape),
        ] {
            let fits = spec.len() == want.len()
                && spec
                    .iter()
                    .zip(&want)
                    .skip(1)
                    .all(|(s, w)| s.is_none() || s == w);
            if !fits {
                bail!(
                    "bundle {}: the {what} takes input {spec:?}, but input.shape is {:?}",
                    self.dir.display(),
                    m.input.shape
                );
            }
        }
        Ok(Networks {
            main: Box::new(main),
            extension: Box::new(extension),
            cloud: Box::new(cloud),
        })
    }
}
