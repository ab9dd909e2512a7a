//! `meanet export`: deployment files for the cloud tier on Triton or KServe, and for
//! `meanet edge` on Kubernetes.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use meanet_runtime::export::{self, K8sOptions, TritonOptions};
use meanet_runtime::{Bundle, Engine};

use crate::settings::Settings;

/// What to export.
#[derive(Debug, clap::Subcommand)]
pub enum ExportCommand {
    /// A Triton model repository for the bundle's cloud model: NAME/config.pbtxt (ONNX
    /// platform, max_batch_size, dynamic batching, dims read from the model, instance group)
    /// and NAME/1/model.onnx.
    Triton {
        /// The bundle directory.
        bundle: PathBuf,
        /// Where to write the repository.
        #[arg(long)]
        out: PathBuf,
        /// The model's name in the repository [cloud.model].
        #[arg(long)]
        model_name: Option<String>,
        /// Model instances (instance_group count).
        #[arg(long, default_value_t = 1)]
        instances: u32,
    },
    /// Kubernetes manifests: a KServe InferenceService for the cloud model (protocol v2, ONNX
    /// on the Triton runtime, autoscaled on concurrency) and, for `meanet edge`, a ConfigMap
    /// (meanet.toml pointing at the predictor), Deployment and Service; and OUT/edge-bundle,
    /// the edge bundle to put at --bundle-path in the edge's image.
    K8s(Box<K8sArgs>),
    /// An edge bundle: the main and extension blocks, the manifest (with the cloud's MACs per
    /// sample and its input and output) and the calibration, without the cloud model. `meanet
    /// run` and `meanet edge` run it and offload to a `meanet serve` of the full bundle.
    Edge {
        /// The full bundle directory.
        bundle: PathBuf,
        /// Where to write the edge bundle (a new directory).
        #[arg(long)]
        out: PathBuf,
    },
}

/// `meanet export k8s`.
#[derive(Debug, clap::Args)]
pub struct K8sArgs {
    /// The bundle directory.
    pub bundle: PathBuf,
    /// Where to write inference-service.yaml and edge.yaml.
    #[arg(long)]
    pub out: PathBuf,
    /// Where the Triton repository of `meanet export triton` is stored (s3://, gs://, pvc://).
    #[arg(long)]
    pub storage_uri: String,
    /// Name prefix of the objects (NAME-cloud, NAME-edge).
    #[arg(long, default_value = "meanet")]
    pub name: String,
    /// Namespace of the objects.
    #[arg(long, default_value = "default")]
    pub namespace: String,
    /// Cloud replicas, at least.
    #[arg(long, default_value_t = 1)]
    pub min_replicas: u32,
    /// Cloud replicas, at most.
    #[arg(long, default_value_t = 4)]
    pub max_replicas: u32,
    /// Requests in flight per cloud replica the autoscaler aims at (see docs/scaling.md).
    #[arg(long, default_value_t = 16)]
    pub concurrency: u32,
    /// Edge replicas.
    #[arg(long, default_value_t = 1)]
    pub edge_replicas: u32,
    /// The `meanet edge` container image (with the bundle at --bundle-path).
    #[arg(long, default_value = "meanet:latest")]
    pub image: String,
    /// Where the bundle is inside the edge's container.
    #[arg(long, default_value = "/bundle")]
    pub bundle_path: String,
    /// The Secret holding the edge's bearer token under the key `token`.
    #[arg(long, default_value = "meanet-edge-token")]
    pub token_secret: String,
}

/// Runs `meanet export`.
pub fn run(command: &ExportCommand, settings: &Settings, json: bool) -> Result<()> {
    match command {
        ExportCommand::Triton {
            bundle,
            out,
            model_name,
            instances,
        } => {
            let b = Bundle::load(bundle)?;
            let engine = Engine::new(&settings.runtime)?;
            let cloud = b.cloud(&engine)?;
            let o = TritonOptions {
                model_name: model_name
                    .clone()
                    .unwrap_or_else(|| settings.cloud.model.clone()),
                max_batch: settings.server.max_batch,
                max_delay: Duration::from_millis(settings.server.max_delay_ms),
                instances: *instances,
            };
            let sig = meanet_core::Network::signature(cloud.network()).clone();
            let files = export::write_triton(&b, &sig, &o, out)?;
            written(&files, json)
        }
        ExportCommand::Edge { bundle, out } => {
            let b = Bundle::load(bundle)?;
            let engine = Engine::new(&settings.runtime)?;
            let files = export::write_edge_bundle(&b, &engine, out)?;
            written(&files, json)
        }
        ExportCommand::K8s(a) => {
            let b = Bundle::load(&a.bundle)?;
            let o = K8sOptions {
                name: a.name.clone(),
                namespace: a.namespace.clone(),
                storage_uri: a.storage_uri.clone(),
                model_name: settings.cloud.model.clone(),
                min_replicas: a.min_replicas,
                max_replicas: a.max_replicas,
                concurrency: a.concurrency,
                image: a.image.clone(),
                bundle_path: a.bundle_path.clone(),
                edge_replicas: a.edge_replicas,
                token_secret: a.token_secret.clone(),
            };
            let mut files = export::write_k8s(&settings.options, &o, &a.out)?;
            let engine = Engine::new(&settings.runtime)?;
            files.extend(export::write_edge_bundle(
                &b,
                &engine,
                &a.out.join("edge-bundle"),
            )?);
            written(&files, json)
        }
    }
}

/// Prints the files an export wrote: one path a line, or with `--json` one object
/// `{"files": [...]}`.
fn written(files: &[std::path::PathBuf], json: bool) -> Result<()> {
    if json {
        let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        crate::stdout::line(serde_json::json!({ "files": files }))
    } else {
        crate::stdout::lines(files.iter().map(|f| f.display()))
    }
}
