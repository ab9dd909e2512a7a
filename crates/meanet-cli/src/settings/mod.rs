//! Configuration, layered with the `config` crate: built-in defaults < a TOML file (`--config`)
//! < environment (`MEANET_<SECTION>__<KEY>`, e.g. `MEANET_CLOUD__URL`) < command-line overrides
//! (`--set section.key=value` and the commands' own flags). Unknown keys and invalid values are
//! errors that name the key. `meanet.example.toml` lists every key with its default.

mod cloud;
mod policy;
mod runtime;
mod server;
mod train;

use std::path::Path;

use anyhow::{Context, Result, bail};
use meanet_energy::{EnergyTable, Link, MemoryModel};
use serde::{Deserialize, Serialize};

pub use cloud::{CloudSettings, PayloadKind, Transport};
pub use policy::{CalibrationSettings, PolicySettings, Search};
pub use runtime::{Backend, Provider, RuntimeSettings};
pub use server::ServerSettings;
pub use train::TrainSettings;

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
