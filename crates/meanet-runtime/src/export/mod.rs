//! Deployment files for where users scale: a Triton model repository for the cloud model, and
//! Kubernetes manifests (a KServe `InferenceService` for the cloud model on the Triton runtime;
//! a `Deployment`, `Service` and `ConfigMap` for `meanet edge`), and the edge bundle a device
//! carries (main and extension blocks, no cloud model).
//!
//! Everything is built from the bundle and the model file's own signature, as plain data
//! (`serde_json::Value`) written out as YAML, so the shapes in a `config.pbtxt` are the model's,
//! and the edge's configuration is the runtime's [`Options`] serialized.

mod edge;
pub use edge::write_edge_bundle;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use meanet_core::ModelSignature;
use serde_json::{Value, json};

use crate::bundle::Bundle;
use crate::options::{Options, PayloadKind, Transport};

/// What a Triton model configuration needs beyond the model file.
#[derive(Debug, Clone, PartialEq)]
pub struct TritonOptions {
    /// The model's name in the repository (and in `/v2/models/NAME/infer`).
    pub model_name: String,
    /// `max_batch_size`: the most samples Triton merges into one run.
    pub max_batch: usize,
    /// `dynamic_batching.max_queue_delay_microseconds`.
    pub max_delay: Duration,
    /// `instance_group` count (model instances on the CPU).
    pub instances: u32,
}

/// A Triton data type name for a tensor of the signature (meanet's blocks exchange f32).
fn triton_type(is_f32: bool) -> Result<&'static str> {
    if is_f32 {
        Ok("TYPE_FP32")
    } else {
        bail!(
            "the cloud model has a tensor that is not float32; meanet exports float32 models only"
        )
    }
}

/// The per-sample dims of a declared shape (batch first, dynamic as -1).
fn dims(name: &str, shape: &[Option<usize>]) -> Result<Vec<i64>> {
    match shape.first() {
        Some(None) => {}
        _ => bail!(
            "tensor {name:?} of the cloud model has no dynamic batch dimension (declared {shape:?}); Triton's dynamic batching needs one"
        ),
    }
    shape[1..]
        .iter()
        .map(|d| match d {
            None => Ok(-1),
            Some(d) => i64::try_from(*d).with_context(|| format!("tensor {name:?}: dimension {d}")),
        })
        .collect()
}

/// The `config.pbtxt` of the cloud model whose file declares `sig`.
pub fn triton_config(sig: &ModelSignature, o: &TritonOptions) -> Result<String> {
    let (Some(input), Some(output)) = (sig.inputs.first(), sig.outputs.first()) else {
        bail!("the cloud model declares no input or no output");
    };
    let tensor = |spec: &meanet_core::TensorSpec| -> Result<String> {
        let d: Vec<String> = dims(&spec.name, &spec.shape)?
            .iter()
            .map(i64::to_string)
            .collect();
        Ok(format!(
            "  {{\n    name: {:?}\n    data_type: {}\n    dims: [ {} ]\n  }}",
            spec.name,
            triton_type(spec.is_f32)?,
            d.join(", ")
        ))
    };
    let mut s = String::new();
    let _ = writeln!(s, "name: {:?}", o.model_name);
    let _ = writeln!(s, "platform: \"onnxruntime_onnx\"");
    let _ = writeln!(s, "max_batch_size: {}", o.max_batch.max(1));
    let _ = writeln!(s, "input [\n{}\n]", tensor(input)?);
    let _ = writeln!(s, "output [\n{}\n]", tensor(output)?);
    let _ = writeln!(
        s,
        "dynamic_batching {{\n  max_queue_delay_microseconds: {}\n}}",
        o.max_delay.as_micros()
    );
    let _ = writeln!(
        s,
        "instance_group [\n  {{\n    count: {}\n    kind: KIND_CPU\n  }}\n]",
        o.instances.max(1)
    );
    Ok(s)
}

/// Writes a Triton model repository for the bundle's cloud model into `out`:
/// `NAME/config.pbtxt` and `NAME/1/model.onnx`. Returns the files written.
pub fn write_triton(
    bundle: &Bundle,
    sig: &ModelSignature,
    o: &TritonOptions,
    out: &Path,
) -> Result<Vec<PathBuf>> {
    let dir = out.join(&o.model_name);
    let version = dir.join("1");
    std::fs::create_dir_all(&version).with_context(|| format!("creating {}", version.display()))?;
    let config = dir.join("config.pbtxt");
    std::fs::write(&config, triton_config(sig, o)?)
        .with_context(|| format!("writing {}", config.display()))?;
    let model = version.join("model.onnx");
    std::fs::copy(bundle.cloud_file()?, &model)
        .with_context(|| format!("copying the cloud model to {}", model.display()))?;
    Ok(vec![config, model])
}

/// What the Kubernetes manifests need beyond the bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct K8sOptions {
    /// Name prefix of every object (`NAME-cloud`, `NAME-edge`).
    pub name: String,
    /// Namespace of every object.
    pub namespace: String,
    /// Where the Triton model repository of [`write_triton`] is (`s3://...`, `gs://...`,
    /// `pvc://...`): KServe's `storageUri`.
    pub storage_uri: String,
    /// The cloud model's name in the repository (and in the edge's `cloud.model`).
    pub model_name: String,
    /// Replicas of the cloud predictor, at least and at most.
    pub min_replicas: u32,
    /// See `min_replicas`.
    pub max_replicas: u32,
    /// Requests in flight per cloud replica that the autoscaler aims at.
    pub concurrency: u32,
    /// The container image of `meanet edge` (with the bundle at `bundle_path`).
    pub image: String,
    /// Where the bundle is inside the edge's container.
    pub bundle_path: String,
    /// Replicas of the edge.
    pub edge_replicas: u32,
    /// The `Secret` holding the edge's bearer token (key `token`).
    pub token_secret: String,
}

impl K8sOptions {
    fn cloud(&self) -> String {
        format!("{}-cloud", self.name)
    }

    fn edge(&self) -> String {
        format!("{}-edge", self.name)
    }

    /// The in-cluster URL of the KServe predictor (what the edge's `cloud.url` points at).
    pub fn cloud_url(&self) -> String {
        format!(
            "http://{}-predictor.{}.svc.cluster.local",
            self.cloud(),
            self.namespace
        )
    }
}

/// The KServe `InferenceService` serving the cloud model (protocol v2, ONNX on the Triton
/// runtime), autoscaled on concurrency.
pub fn inference_service(o: &K8sOptions) -> Value {
    json!({
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": o.cloud(),
            "namespace": o.namespace,
            "labels": {"app.kubernetes.io/part-of": o.name},
        },
        "spec": {
            "predictor": {
                "minReplicas": o.min_replicas,
                "maxReplicas": o.max_replicas.max(o.min_replicas),
                "scaleMetric": "concurrency",
                "scaleTarget": o.concurrency.max(1),
                "model": {
                    "modelFormat": {"name": "onnx"},
                    "protocolVersion": "v2",
                    "runtime": "kserve-tritonserver",
                    "storageUri": o.storage_uri,
                    "resources": {
                        "requests": {"cpu": "2", "memory": "2Gi"},
                        "limits": {"cpu": "4", "memory": "4Gi"},
                    },
                },
            },
        },
    })
}

/// The edge's configuration: `options` with the cloud link pointed at the KServe predictor
/// (HTTP, f32 payload: Triton takes FP32 tensors as the model declares them).
pub fn edge_config(options: &Options, o: &K8sOptions) -> Result<String> {
    let mut opts = options.clone();
    opts.cloud.transport = Transport::Http;
    opts.cloud.url = o.cloud_url();
    opts.cloud.model = o.model_name.clone();
    opts.cloud.payload = PayloadKind::F32;
    opts.validate()?;
    toml::to_string_pretty(&opts).context("writing the edge's meanet.toml")
}

/// The `ConfigMap`, `Deployment` and `Service` of `meanet edge`, with probes on the v2 health
/// endpoints, a grace period above the drain, resource requests and the token from a `Secret`.
pub fn edge_manifests(options: &Options, o: &K8sOptions) -> Result<Vec<Value>> {
    let toml = edge_config(options, o)?;
    let edge = o.edge();
    let labels = json!({"app.kubernetes.io/name": edge, "app.kubernetes.io/part-of": o.name});
    // Kubernetes kills the pod this long after SIGTERM: above the drain, so it completes.
    let grace = options.server.drain_ms.div_ceil(1000) + 5;
    let probe = |path: &str, period: u32| json!({"httpGet": {"path": path, "port": "http"}, "periodSeconds": period, "failureThreshold": 3});
    let config_map = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": edge, "namespace": o.namespace, "labels": labels},
        "data": {"meanet.toml": toml},
    });
    let deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": edge, "namespace": o.namespace, "labels": labels},
        "spec": {
            "replicas": o.edge_replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": edge}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": grace,
                    "containers": [{
                        "name": "meanet-edge",
                        "image": o.image,
                        "args": [
                            "edge", o.bundle_path,
                            "--config", "/etc/meanet/meanet.toml",
                            "--http", "0.0.0.0:8080",
                        ],
                        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                        "env": [{
                            "name": "MEANET_SERVER__TOKEN",
                            "valueFrom": {"secretKeyRef": {"name": o.token_secret, "key": "token"}},
                        }],
                        "readinessProbe": probe("/v2/health/ready", 5),
                        "livenessProbe": probe("/v2/health/live", 10),
                        "resources": {
                            "requests": {"cpu": "1", "memory": "512Mi"},
                            "limits": {"cpu": "2", "memory": "1Gi"},
                        },
                        "volumeMounts": [{"name": "config", "mountPath": "/etc/meanet", "readOnly": true}],
                    }],
                    "volumes": [{"name": "config", "configMap": {"name": edge}}],
                },
            },
        },
    });
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": edge, "namespace": o.namespace, "labels": labels},
        "spec": {
            "selector": {"app.kubernetes.io/name": edge},
            "ports": [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}],
        },
    });
    Ok(vec![config_map, deployment, service])
}

/// YAML for `docs` (documents separated by `---`). Strings are written as JSON strings (valid
/// YAML double-quoted scalars), except multi-line ones, written as literal blocks.
pub fn to_yaml(docs: &[Value]) -> String {
    let mut out = String::new();
    for (k, d) in docs.iter().enumerate() {
        if k > 0 {
            out.push_str("---\n");
        }
        emit(&mut out, d, 0);
    }
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        other => other.to_string(),
    }
}

fn emit(out: &mut String, v: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) => {
            for (key, value) in m {
                match value {
                    Value::Object(inner) if !inner.is_empty() => {
                        let _ = writeln!(out, "{pad}{key}:");
                        emit(out, value, indent + 2);
                    }
                    Value::Array(items) if !items.is_empty() => {
                        let _ = writeln!(out, "{pad}{key}:");
                        emit(out, value, indent);
                    }
                    Value::String(s) if s.contains('\n') => {
                        let _ = writeln!(out, "{pad}{key}: |");
                        for line in s.lines() {
                            if line.is_empty() {
                                out.push('\n');
                            } else {
                                let _ = writeln!(out, "{pad}  {line}");
                            }
                        }
                    }
                    Value::Object(_) => {
                        let _ = writeln!(out, "{pad}{key}: {{}}");
                    }
                    Value::Array(_) => {
                        let _ = writeln!(out, "{pad}{key}: []");
                    }
                    _ => {
                        let _ = writeln!(out, "{pad}{key}: {}", scalar(value));
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Object(_) | Value::Array(_) => {
                        // The first line of the item goes after the dash.
                        let mut inner = String::new();
                        emit(&mut inner, item, indent + 2);
                        let body = inner.trim_start();
                        let _ = write!(out, "{pad}- {body}");
                    }
                    _ => {
                        let _ = writeln!(out, "{pad}- {}", scalar(item));
                    }
                }
            }
        }
        other => {
            let _ = writeln!(out, "{pad}{}", scalar(other));
        }
    }
}

/// Writes `inference-service.yaml` and `edge.yaml` into `out`; returns the files written.
pub fn write_k8s(options: &Options, o: &K8sOptions, out: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let isvc = out.join("inference-service.yaml");
    std::fs::write(&isvc, to_yaml(&[inference_service(o)]))
        .with_context(|| format!("writing {}", isvc.display()))?;
    let edge = out.join("edge.yaml");
    std::fs::write(&edge, to_yaml(&edge_manifests(options, o)?))
        .with_context(|| format!("writing {}", edge.display()))?;
    Ok(vec![isvc, edge])
}

#[cfg(test)]
mod tests {
    use super::*;
    use meanet_core::TensorSpec;

    fn spec(name: &str, shape: &[Option<usize>]) -> TensorSpec {
        TensorSpec {
            name: name.into(),
            is_f32: true,
            shape: shape.to_vec(),
        }
    }

    #[test]
    fn the_triton_config_has_the_model_dims_and_batching() {
        let sig = ModelSignature {
            inputs: vec![spec("input", &[None, Some(1), Some(28), Some(28)])],
            outputs: vec![spec("logits", &[None, Some(10)])],
        };
        let o = TritonOptions {
            model_name: "cloud".into(),
            max_batch: 32,
            max_delay: Duration::from_millis(2),
            instances: 2,
        };
        let c = triton_config(&sig, &o).unwrap();
        for want in [
            "platform: \"onnxruntime_onnx\"",
            "max_batch_size: 32",
            "dims: [ 1, 28, 28 ]",
            "dims: [ 10 ]",
            "max_queue_delay_microseconds: 2000",
            "count: 2",
        ] {
            assert!(c.contains(want), "{want} in\n{c}");
        }
        let fixed = ModelSignature {
            inputs: vec![spec("input", &[Some(1), Some(4)])],
            ..sig
        };
        let e = triton_config(&fixed, &o).unwrap_err().to_string();
        assert!(
            e.contains("\"input\"") && e.contains("dynamic batch"),
            "{e}"
        );
    }

    #[test]
    fn yaml_keeps_nesting_lists_and_multiline_strings() {
        let y = to_yaml(&[json!({"a": {"b": [1, {"c": "x\ny", "d": []}]}, "e": "q\"uote"})]);
        assert_eq!(
            y,
            "a:\n  b:\n  - 1\n  - c: |\n      x\n      y\n    d: []\ne: \"q\\\"uote\"\n"
        );
    }
}
