//! Writing a trained deployment as a bundle: three ONNX files, `meanet.toml` and
//! `results.json`.

use std::path::Path;

use meanet_core::ClassPartition;
use meanet_core::manifest::{DatasetSpec, InputSpec, Manifest, Models, SplitSpec, Tensors};

use crate::config::TrainConfig;
use crate::error::{TrainError, io};
use crate::results::Results;
use crate::train::Norm;

/// What the manifest of a trained bundle records.
#[derive(Debug, Clone)]
pub struct BundleInfo<'a> {
    /// Class names in label order.
    pub classes: &'a [String],
    /// `[C, H, W]`.
    pub input: [usize; 3],
    /// The normalisation computed on the training split.
    pub norm: &'a Norm,
    /// The data set trained on.
    pub dataset: &'a DatasetSpec,
    /// The hard classes.
    pub partition: &'a ClassPartition,
    /// The run's configuration (its split).
    pub config: &'a TrainConfig,
}

/// A short deployment name: the data set's kind, or a folder's directory name.
pub fn deployment_name(dataset: &DatasetSpec) -> String {
    match (&dataset.kind, &dataset.path) {
        (meanet_core::manifest::DatasetKind::Folder, Some(p)) => p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "folder".into()),
        (kind, _) => kind.name().to_string(),
    }
}

/// The manifest of a freshly trained bundle (no thresholds or MACs yet).
pub fn manifest(info: &BundleInfo<'_>) -> Manifest {
    Manifest {
        format: meanet_core::manifest::FORMAT,
        name: deployment_name(info.dataset),
        classes: info.classes.to_vec(),
        hard_classes: info.partition.hard_classes().to_vec(),
        input: InputSpec {
            shape: info.input.to_vec(),
            mean: info.norm.mean.clone(),
            std: info.norm.std.clone(),
        },
        models: Models {
            main: "main.onnx".into(),
            extension: "extension.onnx".into(),
            cloud: "cloud.onnx".into(),
        },
        tensors: Tensors::default(),
        macs: None,
        cloud: None,
        thresholds: None,
        split: Some(SplitSpec {
            seed: info.config.seed,
            validation: info.config.validation,
        }),
        dataset: Some(info.dataset.clone()),
        quantization: None,
    }
}

/// Writes `files` (name, bytes), the manifest and the results into `dir`.
pub fn write(
    dir: &Path,
    files: &[(&str, Vec<u8>)],
    manifest: &Manifest,
    results: &Results,
) -> Result<(), TrainError> {
    std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(io("writing", &path))?;
    }
    let path = dir.join("meanet.toml");
    let text = toml::to_string_pretty(manifest).map_err(|e| TrainError::Config(e.to_string()))?;
    std::fs::write(&path, text).map_err(io("writing", &path))?;
    let path = dir.join("results.json");
    let text =
        serde_json::to_string_pretty(results).map_err(|e| TrainError::Config(e.to_string()))?;
    std::fs::write(&path, text).map_err(io("writing", &path))?;
    Ok(())
}
