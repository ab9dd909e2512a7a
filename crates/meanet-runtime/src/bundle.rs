//! Loading a deployment bundle: `meanet.toml` plus the ONNX files it names. A full bundle has
//! all three networks; an edge bundle (`meanet export edge`) has main and extension only, and
//! its manifest's `[macs]` and `[cloud]` say what the edge needs to know of the cloud.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use meanet_core::Manifest;
use meanet_core::{ClassifierNet, ExtensionBlock, MainBlock};

use crate::backend::Engine;

/// A validated bundle on disk.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The bundle directory.
    pub dir: PathBuf,
    /// Its validated manifest.
    pub manifest: Manifest,
}

/// The two networks the edge runs, loaded and checked against the manifest.
pub struct EdgeNetworks {
    /// The main block.
    pub main: Box<dyn MainBlock>,
    /// The adaptive + extension blocks.
    pub extension: Box<dyn ExtensionBlock>,
}

/// The three networks of a bundle, loaded and checked against the manifest.
pub struct Networks {
    /// The main block.
    pub main: Box<dyn MainBlock>,
    /// The adaptive + extension blocks.
    pub extension: Box<dyn ExtensionBlock>,
    /// The cloud model.
    pub cloud: Box<dyn meanet_core::Classifier>,
}

impl Bundle {
    /// Reads and validates `dir/meanet.toml` and checks the edge's model files (main and
    /// extension) exist. The cloud's file may be absent (an edge bundle): the commands that run
    /// the cloud ask for it through [`Bundle::cloud_file`].
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
        let [main, extension, _] = bundle.files();
        for (key, file) in [main, extension] {
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

    /// Whether the bundle holds the cloud model's file (false: an edge bundle).
    pub fn has_cloud(&self) -> bool {
        self.dir.join(&self.manifest.models.cloud).is_file()
    }

    /// Path of the cloud model, for the commands that run it (`serve`, `eval`, `calibrate`,
    /// `export triton`): an error saying so when the bundle has none (an edge bundle).
    pub fn cloud_file(&self) -> Result<PathBuf> {
        let path = self.dir.join(&self.manifest.models.cloud);
        if !path.is_file() {
            bail!(
                "bundle {}: this command runs the cloud model, but models.cloud names {}, which does not exist (an edge bundle from `meanet export edge` has no cloud model: give the full bundle)",
                self.dir.display(),
                path.display()
            );
        }
        Ok(path)
    }

    /// Loads the main and extension blocks (never the cloud's file) and checks their shapes
    /// against the manifest.
    pub fn edge_networks(&self, engine: &Engine) -> Result<EdgeNetworks> {
        let [(_, main), (_, ext), _] = self.files();
        let m = &self.manifest;
        let t = &m.tensors;
        let main = engine.main(&main, t).context("loading the main block")?;
        let extension = engine
            .extension(&ext, t)
            .context("loading the extension block")?;
        self.check_outputs("the main block", main.num_classes(), m.classes.len())?;
        self.check_outputs(
            "the extension block",
            extension.num_hard_classes(),
            m.hard_classes.len(),
        )?;
        self.check_input("main block", &main.network().signature().inputs[0].shape)?;
        Ok(EdgeNetworks {
            main: Box::new(main),
            extension: Box::new(extension),
        })
    }

    /// Loads the cloud model (its file must be present) and checks it against the manifest.
    pub fn cloud(&self, engine: &Engine) -> Result<ClassifierNet> {
        let path = self.cloud_file()?;
        let t = &self.manifest.tensors;
        let cloud = engine
            .classifier(&path, Some((&t.input, &t.cloud_logits)))
            .context("loading the cloud model")?;
        self.check_outputs(
            "the cloud model",
            cloud.num_classes(),
            self.manifest.classes.len(),
        )?;
        self.check_input("cloud model", &cloud.network().signature().inputs[0].shape)?;
        Ok(cloud)
    }

    /// Loads the three networks (the cloud's file must be present) and checks their shapes
    /// against the manifest.
    pub fn networks(&self, engine: &Engine) -> Result<Networks> {
        let cloud = self.cloud(engine)?;
        let EdgeNetworks { main, extension } = self.edge_networks(engine)?;
        Ok(Networks {
            main,
            extension,
            cloud: Box::new(cloud),
        })
    }

    fn check_outputs(&self, what: &str, got: Option<usize>, want: usize) -> Result<()> {
        match got {
            Some(g) if g != want => bail!(
                "bundle {}: {what} has {g} outputs but the manifest lists {want} classes",
                self.dir.display()
            ),
            _ => Ok(()),
        }
    }

    fn check_input(&self, what: &str, spec: &[Option<usize>]) -> Result<()> {
        let m = &self.manifest;
        let want: Vec<Option<usize>> = std::iter::once(None)
            .chain(m.input.shape.iter().map(|&d| Some(d)))
            .collect();
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
        Ok(())
    }
}
