//! Configuration, layered with the `config` crate: built-in defaults < a TOML file (`--config`)
//! < environment (`MEANET_<SECTION>__<KEY>`, e.g. `MEANET_CLOUD__URL`) < command-line overrides
//! (`--set section.key=value` and the commands' own flags). Unknown keys and invalid values are
//! errors that name the key. `meanet.example.toml` lists every key with its default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use meanet_core::training::{HardBy, Preset, TrainDevice};
use meanet_core::{Measure, Target};
use meanet_energy::{EnergyTable, Link, MemoryModel};
use meanet_transport::RetryPolicy;
use serde::{Deserialize, Serialize};

/// All settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The inference backend (ONNX Runtime or tract) and its options.
    pub runtime: RuntimeSettings,
    /// The cloud link used by `run` (and by `eval` when no server is started).
    pub cloud: CloudSettings,
    /// `meanet serve` and the loopback server of `eval`/`demo`.
    pub server: ServerSettings,
    /// Routing.
    pub policy: PolicySettings,
    /// Energy prices (45 nm, Horowitz 2014 defaults).
    pub energy: EnergyTable,
    /// The memory model.
    pub memory: MemoryModel,
    /// The radio link model.
    pub link: Link,
    /// Calibration.
    pub calibration: CalibrationSettings,
    /// `meanet train` (its flags override these).
    pub train: TrainSettings,
}

/// Training settings (`meanet train`; each has a flag of the same name that overrides it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainSettings {
    /// Network sizes: small, resnet32 or tiny.
    pub preset: Preset,
    /// Depth of the cloud ResNet of the resnet32 preset (6n + 2).
    pub cloud_depth: usize,
    /// Fraction of the classes that are hard: H = round(C x hard_fraction).
    pub hard_fraction: f64,
    /// What hard classes are the worst at: recall or precision.
    pub hard_by: HardBy,
    /// Fraction of the training set held out for validation.
    pub validation_fraction: f64,
    /// Seed of the split, shuffling, augmentation and initialisation.
    pub seed: u64,
    /// Where training runs: flex (CPU), wgpu or cuda (cargo features).
    pub device: TrainDevice,
    /// Epochs of the main block.
    pub epochs_main: usize,
    /// Epochs of the adaptive + extension blocks.
    pub epochs_extension: usize,
    /// Epochs of the cloud model.
    pub epochs_cloud: usize,
    /// Samples per training step.
    pub batch_size: usize,
    /// Random crops and flips.
    pub augment: bool,
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings {
            preset: Preset::Small,
            cloud_depth: 110,
            hard_fraction: 0.5,
            hard_by: HardBy::Recall,
            validation_fraction: 0.1,
            seed: 20211,
            device: TrainDevice::Flex,
            epochs_main: 10,
            epochs_extension: 10,
            epochs_cloud: 10,
            batch_size: 128,
            augment: true,
        }
    }
}

/// The inference backend that runs the networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum Backend {
    /// ONNX Runtime through `ort` (cargo feature `ort`, the default): the fastest on CPUs and
    /// the one with GPU providers; needs the `libonnxruntime` shared library.
    Ort,
    /// tract (cargo feature `tract`): pure Rust, needs no shared library; the backend for boards
    /// without ONNX Runtime.
    Tract,
}

impl Default for Backend {
    /// ONNX Runtime when this build has it, else tract.
    fn default() -> Self {
        if cfg!(feature = "ort") {
            Backend::Ort
        } else {
            Backend::Tract
        }
    }
}

impl TryFrom<String> for Backend {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        match name.as_str() {
            "ort" => Ok(Backend::Ort),
            "tract" => Ok(Backend::Tract),
            _ => Err(format!(
                "unknown backend {name:?} (expected \"ort\" or \"tract\")"
            )),
        }
    }
}

impl Backend {
    /// `ort` or `tract`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Ort => "ort",
            Backend::Tract => "tract",
        }
    }

    /// Whether this build of meanet includes the backend (its cargo feature).
    pub fn compiled(self) -> bool {
        match self {
            Backend::Ort => cfg!(feature = "ort"),
            Backend::Tract => cfg!(feature = "tract"),
        }
    }
}

/// ONNX Runtime's execution provider (`runtime.provider`); only `cpu` applies to tract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// The CPU (always available).
    #[default]
    Cpu,
    /// NVIDIA CUDA (cargo feature `cuda` of meanet-onnx, and an ONNX Runtime built with it).
    Cuda,
    /// NVIDIA TensorRT.
    Tensorrt,
    /// Apple CoreML.
    Coreml,
    /// Intel OpenVINO.
    Openvino,
}

impl Provider {
    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Cpu => "cpu",
            Provider::Cuda => "cuda",
            Provider::Tensorrt => "tensorrt",
            Provider::Coreml => "coreml",
            Provider::Openvino => "openvino",
        }
    }
}

/// Inference backend settings.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeSettings {
    /// Which backend runs the networks: `ort` or `tract`.
    pub backend: Backend,
    /// ONNX Runtime library path (unset: ORT_DYLIB_PATH, .cache/onnxruntime, Python
    /// onnxruntime). `ort` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub library: Option<PathBuf>,
    /// Execution provider. `ort` only; tract runs on the CPU.
    pub provider: Provider,
    /// Intra-op threads (unset: ONNX Runtime's default). `ort` only; tract runs each model on
    /// the calling thread.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
}

/// How offloaded samples reach the cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Open Inference Protocol v2 over HTTP/1.1 or HTTP/2.
    #[default]
    Http,
    /// The v2 protocol over QUIC streams.
    Quic,
    /// No cloud: offloads are answered on the edge and marked degraded.
    None,
}

/// What offloaded samples carry (`cloud.payload`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadKind {
    /// FP32 tensors, normalised as the edge blocks saw them: what any v2 server takes.
    #[default]
    F32,
    /// The raw 8-bit pixels as a UINT8 tensor: four times fewer bytes, so less radio energy.
    /// The server must take UINT8 (`meanet serve` normalises them with the bundle's manifest).
    U8,
}

impl PayloadKind {
    /// `f32` or `u8`.
    pub fn name(self) -> &'static str {
        match self {
            PayloadKind::F32 => "f32",
            PayloadKind::U8 => "u8",
        }
    }
}

/// Cloud link settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CloudSettings {
    /// How offloads travel.
    pub transport: Transport,
    /// Base URL of a v2 server (meanet serve, Triton, KServe).
    pub url: String,
    /// Model name on the server.
    pub model: String,
    /// Input tensor name on the server.
    pub input_name: String,
    /// Send tensors with the binary extension (false: JSON tensors).
    pub binary: bool,
    /// What an offload carries: `f32` (normalised FP32, any v2 server) or `u8` (the 8-bit
    /// pixels, four times fewer bytes; for servers that take UINT8, such as `meanet serve`).
    pub payload: PayloadKind,
    /// Offloads in flight at once; the edge goes on with later batches while they travel.
    pub max_in_flight: usize,
    /// Bearer token (unset: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Extra CA certificate (PEM) for https (unset: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
    /// QUIC server address.
    pub quic_addr: SocketAddr,
    /// Name in the QUIC server's certificate.
    pub quic_server_name: String,
    /// PEM certificate to trust for QUIC.
    pub quic_cert: PathBuf,
    /// Deadline of one offload, retries included, in milliseconds.
    pub deadline_ms: u64,
    /// Retries of failures that are safe to retry.
    pub retries: u32,
    /// First backoff, milliseconds.
    pub backoff_base_ms: u64,
    /// Largest backoff, milliseconds.
    pub backoff_max_ms: u64,
    /// Consecutive failures that open the circuit breaker.
    pub breaker_threshold: u32,
    /// How long the breaker stays open, milliseconds.
    pub breaker_cooldown_ms: u64,
}

impl Default for CloudSettings {
    fn default() -> Self {
        let r = RetryPolicy::default();
        CloudSettings {
            transport: Transport::Http,
            url: "http://127.0.0.1:8000".into(),
            model: "cloud".into(),
            input_name: "input".into(),
            binary: true,
            payload: PayloadKind::F32,
            max_in_flight: 4,
            token: None,
            ca_cert: None,
            quic_addr: SocketAddr::from(([127, 0, 0, 1], 8001)),
            quic_server_name: "localhost".into(),
            quic_cert: PathBuf::from("meanet-quic-cert.pem"),
            deadline_ms: r.deadline.as_millis() as u64,
            retries: r.retries,
            backoff_base_ms: r.backoff_base.as_millis() as u64,
            backoff_max_ms: r.backoff_max.as_millis() as u64,
            breaker_threshold: r.breaker_threshold,
            breaker_cooldown_ms: r.breaker_cooldown.as_millis() as u64,
        }
    }
}

impl CloudSettings {
    /// The retry policy these settings describe.
    pub fn retry(&self) -> RetryPolicy {
        RetryPolicy {
            deadline: Duration::from_millis(self.deadline_ms),
            retries: self.retries,
            backoff_base: Duration::from_millis(self.backoff_base_ms),
            backoff_max: Duration::from_millis(self.backoff_max_ms),
            breaker_threshold: self.breaker_threshold.max(1),
            breaker_cooldown: Duration::from_millis(self.breaker_cooldown_ms),
        }
    }
}

/// Server settings (`meanet serve`; the batching and limits also apply to the loopback server of
/// `eval`/`demo`). `meanet serve`'s flags override them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// The model's name in URLs: /v2/models/NAME/infer.
    pub model_name: String,
    /// HTTP listen address.
    pub http: SocketAddr,
    /// QUIC listen address (unset: no QUIC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quic: Option<SocketAddr>,
    /// Where `meanet serve` writes its generated QUIC certificate (PEM).
    pub quic_cert_out: PathBuf,
    /// Bearer token required on model endpoints, over HTTP and QUIC (unset: no auth).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// TLS certificate chain (PEM) for HTTPS and QUIC (set together with tls_key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// Deadline of a request that carries none, milliseconds.
    pub deadline_ms: u64,
    /// Most samples per model run (1: batching off).
    pub max_batch: usize,
    /// Longest wait for a batch to fill, milliseconds.
    pub max_delay_ms: u64,
    /// Queue capacity before 503.
    pub queue: usize,
    /// Largest request body, bytes.
    pub max_body: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            model_name: "cloud".into(),
            http: SocketAddr::from(([127, 0, 0, 1], 8000)),
            quic: None,
            quic_cert_out: PathBuf::from("meanet-quic-cert.pem"),
            token: None,
            tls_cert: None,
            tls_key: None,
            deadline_ms: 10_000,
            max_batch: 32,
            max_delay_ms: 2,
            queue: 256,
            max_body: 16 << 20,
        }
    }
}

/// Routing settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicySettings {
    /// Samples routed together on the edge.
    pub batch_size: usize,
    /// The uncertainty measure of thresholds used when the bundle has none.
    pub measure: Measure,
    /// t_main when the bundle has none (unset: no check).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub main: Option<f64>,
    /// t_cloud_main when the bundle has none (unset: no check).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_main: Option<f64>,
    /// t_ext when the bundle has none (unset: no check).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension: Option<f64>,
    /// hard_mass when the bundle has none: an easy-class prediction with at least this
    /// probability on hard classes is treated as hard (unset: no check).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hard_mass: Option<f64>,
    /// Hold the offload share at the calibrated target as the input mix changes, by scaling
    /// the thresholds online (`meanet run`, `meanet edge`).
    pub online: bool,
    /// The offload share the online controller holds (unset: the bundle's `offload=` target).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub online_target: Option<f64>,
    /// Recent samples the online controller reads its quantile from.
    pub online_window: usize,
    /// Samples over which the online controller repays an offload debt.
    pub online_horizon: f64,
    /// Bounds of the online threshold scale: `[1 / online_range, online_range]`.
    pub online_range: f64,
}

impl Default for PolicySettings {
    fn default() -> Self {
        PolicySettings {
            batch_size: 64,
            measure: Measure::Entropy,
            main: None,
            cloud_main: Some(0.8),
            extension: Some(0.8),
            hard_mass: None,
            online: false,
            online_target: None,
            online_window: 400,
            online_horizon: 400.0,
            online_range: 4.0,
        }
    }
}

/// How calibration searches the thresholds (`calibration.search`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Search {
    /// Every threshold together: `t_main`, `t_cloud_main`, `t_ext` (and `hard_mass` with
    /// `calibration.hard_mass`), by coordinate descent from the two-threshold grid's pick.
    #[default]
    All,
    /// The paper's sweep: the `t_main` x `t_ext` grid, `t_cloud_main` unchecked.
    Grid,
}

impl Search {
    /// `all` or `grid`.
    pub fn name(self) -> &'static str {
        match self {
            Search::All => "all",
            Search::Grid => "grid",
        }
    }
}

/// Calibration settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CalibrationSettings {
    /// Target: offload=F, energy=JOULES or accuracy=F.
    pub target: Target,
    /// `all` (every threshold, the default) or `grid` (the paper's two).
    pub search: Search,
    /// Also calibrate `hard_mass`: easy-class predictions with this much probability on hard
    /// classes are treated as hard (with `search = "all"`).
    pub hard_mass: bool,
    /// Threshold candidates per axis.
    pub steps: usize,
    /// Also choose one main threshold per class and one extension threshold per hard class
    /// (`meanet calibrate --per-class`).
    pub per_class: bool,
    /// A per-class threshold moves only when that gains at least this much on validation, in
    /// samples answered right (less the priced cost): against fitting noise.
    pub per_class_min_gain: f64,
    /// Seed of the train/validation split the bundle was trained with.
    pub seed: u64,
    /// Validation fraction of that split.
    pub validation: f64,
}

impl Default for CalibrationSettings {
    fn default() -> Self {
        CalibrationSettings {
            target: Target::MaxOffload(0.2),
            search: Search::All,
            hard_mass: false,
            steps: 50,
            per_class: false,
            per_class_min_gain: 3.0,
            seed: 20211,
            validation: 0.1,
        }
    }
}

impl PolicySettings {
    /// The online controller's configuration for a bundle calibrated for `target` (the
    /// manifest's `target`), or `None` when `online` is off. An error names the setting at
    /// fault when there is no offload share to hold.
    pub fn online_config(
        &self,
        target: Option<&str>,
    ) -> Result<Option<meanet_core::online::ControllerConfig>> {
        if !self.online {
            return Ok(None);
        }
        let share = match (self.online_target, target.map(Target::parse)) {
            (Some(t), _) => t,
            (None, Some(Ok(Target::MaxOffload(f)))) => f,
            (None, other) => bail!(
                "policy.online = true needs an offload share to hold: set policy.online_target, or calibrate the bundle for offload=F (its target is {})",
                match other {
                    Some(Ok(t)) => t.to_string(),
                    _ => "unset".to_string(),
                }
            ),
        };
        let mut c = meanet_core::online::ControllerConfig::new(share);
        c.window = self.online_window;
        c.horizon = self.online_horizon;
        c.min_scale = 1.0 / self.online_range;
        c.max_scale = self.online_range;
        Ok(Some(c))
    }
}

impl Settings {
    /// Loads the layers: defaults, `file`, environment, then `overrides` (`key=value`).
    pub fn load(file: Option<&Path>, overrides: &[String]) -> Result<Self> {
        let defaults =
            config::Config::try_from(&Settings::default()).context("building the defaults")?;
        let mut b = config::Config::builder().add_source(defaults);
        if let Some(f) = file {
            if !f.is_file() {
                bail!("configuration file {} does not exist", f.display());
            }
            b = b.add_source(config::File::from(f).format(config::FileFormat::Toml));
        }
        // Only MEANET_<SECTION>__<KEY> variables are configuration; others such as
        // MEANET_SERVE_TOKEN belong to single commands.
        let vars: config::Map<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("MEANET_") && k.contains("__"))
            .collect();
        b = b.add_source(
            config::Environment::with_prefix("MEANET")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .source(Some(vars)),
        );
        for o in overrides {
            let (k, v) = o
                .split_once('=')
                .with_context(|| format!("--set {o:?}: expected section.key=value"))?;
            b = b
                .set_override(k.trim(), v.trim())
                .with_context(|| format!("--set {o:?}"))?;
        }
        let origin = file.map_or_else(
            || "defaults and environment".to_string(),
            |f| f.display().to_string(),
        );
        let s: Settings = b
            .build()
            .and_then(config::Config::try_deserialize)
            .with_context(|| {
                format!("invalid configuration (from {origin}, MEANET_* variables and --set)")
            })?;
        s.validate()?;
        Ok(s)
    }

    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<()> {
        self.energy.validate().map_err(anyhow::Error::msg)?;
        self.link.validate().map_err(anyhow::Error::msg)?;
        let p = &self.policy;
        for (key, value) in [
            ("main", p.main),
            ("cloud_main", p.cloud_main),
            ("extension", p.extension),
        ] {
            if value.is_some_and(|v| !(v.is_finite() && v >= 0.0)) {
                bail!("policy.{key} must be finite and >= 0 (leave it unset for no check)");
            }
        }
        if p.hard_mass.is_some_and(|m| !(0.0..=1.0).contains(&m)) {
            bail!(
                "policy.hard_mass must be a probability between 0 and 1 (leave it unset for no check)"
            );
        }
        if p.online_target.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
            bail!("policy.online_target must be an offload share between 0 and 1");
        }
        let g = self.calibration.per_class_min_gain;
        if !(g.is_finite() && g >= 0.0) {
            bail!("calibration.per_class_min_gain must be finite and >= 0");
        }
        if p.online_window == 0 || p.online_window > meanet_core::online::MAX_WINDOW {
            bail!(
                "policy.online_window must hold between 1 and {} samples",
                meanet_core::online::MAX_WINDOW
            );
        }
        if !(p.online_horizon.is_finite() && p.online_horizon > 0.0) {
            bail!("policy.online_horizon must be a positive number of samples");
        }
        if !(p.online_range.is_finite() && p.online_range >= 1.0) {
            bail!("policy.online_range must be finite and >= 1");
        }
        let r = &self.runtime;
        if !r.backend.compiled() {
            bail!(
                "runtime.backend = \"{}\", but this meanet was built without the `{}` cargo feature (rebuild with `--features {}`, or choose runtime.backend = \"{}\")",
                r.backend.name(),
                r.backend.name(),
                r.backend.name(),
                Backend::default().name()
            );
        }
        if r.backend == Backend::Tract && r.provider != Provider::Cpu {
            bail!(
                "runtime.provider = \"{}\" applies to ONNX Runtime only; tract runs on the CPU (use runtime.backend = \"ort\" for a GPU provider)",
                r.provider.name()
            );
        }
        if self.runtime.threads == Some(0) {
            bail!("runtime.threads must be at least 1 (leave it unset for ONNX Runtime's default)");
        }
        if self.policy.batch_size == 0 {
            bail!("policy.batch_size must be at least 1");
        }
        if self.server.max_batch == 0 || self.server.queue == 0 {
            bail!("server.max_batch and server.queue must be at least 1");
        }
        if self.server.tls_cert.is_some() != self.server.tls_key.is_some() {
            bail!("server.tls_cert and server.tls_key must be set together");
        }
        if self.server.deadline_ms == 0 {
            bail!("server.deadline_ms must be at least 1");
        }
        if self.cloud.deadline_ms == 0 {
            bail!("cloud.deadline_ms must be at least 1");
        }
        let t = &self.train;
        if !(t.hard_fraction > 0.0 && t.hard_fraction < 1.0) {
            bail!(
                "train.hard_fraction = {} must be in (0, 1)",
                t.hard_fraction
            );
        }
        if !(t.validation_fraction > 0.0 && t.validation_fraction < 1.0) {
            bail!(
                "train.validation_fraction = {} must be in (0, 1)",
                t.validation_fraction
            );
        }
        if t.batch_size == 0 {
            bail!("train.batch_size must be at least 1");
        }
        if !(self.calibration.validation > 0.0 && self.calibration.validation < 1.0) {
            bail!(
                "calibration.validation = {} must be in (0, 1)",
                self.calibration.validation
            );
        }
        Ok(())
    }

    /// Fallback thresholds for bundles that were not calibrated.
    pub fn fallback_thresholds(&self) -> meanet_core::Thresholds {
        meanet_core::Thresholds {
            measure: self.policy.measure,
            main: self.policy.main,
            cloud_main: self.policy.cloud_main,
            extension: self.policy.extension,
            hard_mass: self.policy.hard_mass,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn online_needs_an_offload_share_to_hold() {
        let mut p = PolicySettings::default();
        assert_eq!(p.online_config(Some("offload=0.2")).unwrap(), None);
        p.online = true;
        let c = p.online_config(Some("offload=0.2")).unwrap().unwrap();
        assert_eq!((c.target, c.min_scale, c.max_scale), (0.2, 0.25, 4.0));
        let err = p
            .online_config(Some("accuracy=0.9"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("policy.online_target") && err.contains("accuracy=0.9"),
            "{err}"
        );
        assert!(
            p.online_config(None)
                .unwrap_err()
                .to_string()
                .contains("unset")
        );
        p.online_target = Some(0.3);
        assert_eq!(p.online_config(None).unwrap().unwrap().target, 0.3);
    }

    use super::*;

    #[test]
    fn layers_apply_in_order_and_unknown_keys_are_named() {
        let dir = std::env::temp_dir().join(format!("meanet-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("m.toml");
        std::fs::write(
            &f,
            "[cloud]\nurl = \"http://file:1\"\ndeadline_ms = 900\n[energy]\nfp32_mult_pj = 1.5\n",
        )
        .unwrap();
        let s = Settings::load(Some(&f), &["cloud.deadline_ms=700".into()]).unwrap();
        assert_eq!(s.cloud.url, "http://file:1");
        assert_eq!(s.cloud.deadline_ms, 700, "--set beats the file");
        assert_eq!(s.energy.fp32_mult_pj, 1.5);
        assert_eq!(s.energy.fp32_add_pj, 0.9, "defaults fill the rest");
        std::fs::write(&f, "[cloud]\nurll = \"x\"\n").unwrap();
        let e = format!("{:#}", Settings::load(Some(&f), &[]).unwrap_err());
        assert!(e.contains("urll"), "{e}");
        std::fs::write(&f, "[energy]\nfp32_mult_pj = -3.0\n").unwrap();
        let e = format!("{:#}", Settings::load(Some(&f), &[]).unwrap_err());
        assert!(e.contains("fp32_mult_pj"), "{e}");
        let e = format!(
            "{:#}",
            Settings::load(None, &["policy.measure=vibes".into()]).unwrap_err()
        );
        assert!(e.contains("measure") && e.contains("vibes"), "{e}");
        for bad in [
            "cloud.transport=carrier-pigeon",
            "runtime.provider=tpu",
            "calibration.target=speed=1",
        ] {
            let e = format!("{:#}", Settings::load(None, &[bad.into()]).unwrap_err());
            let key = bad.split(['.', '=']).nth(1).unwrap();
            assert!(
                e.contains(key) || e.contains(bad.split('=').nth(1).unwrap()),
                "{bad}: {e}"
            );
        }
        let s = Settings::load(
            None,
            &["cloud.transport=quic".into(), "policy.main=0.3".into()],
        )
        .unwrap();
        assert_eq!(
            (s.cloud.transport, s.policy.main),
            (Transport::Quic, Some(0.3))
        );
        let e = format!(
            "{:#}",
            Settings::load(Some(&dir.join("none.toml")), &[]).unwrap_err()
        );
        assert!(e.contains("none.toml"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_example_file_lists_every_key_with_its_default() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../meanet.example.toml");
        let s = Settings::load(Some(&example), &[]).unwrap();
        assert_eq!(s, Settings::default());
        let text = std::fs::read_to_string(&example).unwrap();
        let value: toml::Value = toml::Value::try_from(Settings::default()).unwrap();
        for (section, table) in value.as_table().unwrap() {
            assert!(
                text.contains(&format!("[{section}]")),
                "missing [{section}]"
            );
            for key in table.as_table().unwrap().keys() {
                assert!(
                    text.contains(&format!("\n{key} =")),
                    "missing {section}.{key}"
                );
            }
        }
    }
}
