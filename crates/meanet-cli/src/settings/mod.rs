//! Configuration, layered with the `config` crate: built-in defaults < a TOML file (`--config`)
//! < environment (`MEANET_<SECTION>__<KEY>`, e.g. `MEANET_CLOUD__URL`) < command-line overrides
//! (`--set section.key=value` and the commands' own flags). Unknown keys and invalid values are
//! errors that name the key. `meanet.example.toml` lists every key with its default.

mod train;

use std::path::Path;

use anyhow::{Context, Result, bail};
use meanet_energy::{EnergyTable, Link, MemoryModel};
use meanet_runtime::options::{
    BackendOptions, CalibrationOptions, CloudOptions, Options, PolicyOptions, ServerOptions,
};
use serde::{Deserialize, Serialize};

pub use meanet_runtime::options::{Backend, PayloadKind, Provider, Search, Transport};
pub use train::TrainSettings;

/// All settings: the runtime's [`Options`] (every section but `[train]`, reached through
/// `Deref`, so `settings.cloud` is `settings.options.cloud`) and `[train]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(from = "Layout", into = "Layout")]
pub struct Settings {
    /// The runtime's options.
    pub options: Options,
    /// `meanet train` (its flags override these).
    pub train: TrainSettings,
}

impl std::ops::Deref for Settings {
    type Target = Options;

    fn deref(&self) -> &Options {
        &self.options
    }
}

impl std::ops::DerefMut for Settings {
    fn deref_mut(&mut self) -> &mut Options {
        &mut self.options
    }
}

/// The file's layout: one section per field, unknown keys refused.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Layout {
    runtime: BackendOptions,
    cloud: CloudOptions,
    server: ServerOptions,
    policy: PolicyOptions,
    energy: EnergyTable,
    memory: MemoryModel,
    link: Link,
    calibration: CalibrationOptions,
    train: TrainSettings,
}

impl From<Layout> for Settings {
    fn from(l: Layout) -> Self {
        Settings {
            options: Options {
                runtime: l.runtime,
                cloud: l.cloud,
                server: l.server,
                policy: l.policy,
                energy: l.energy,
                memory: l.memory,
                link: l.link,
                calibration: l.calibration,
            },
            train: l.train,
        }
    }
}

impl From<Settings> for Layout {
    fn from(s: Settings) -> Self {
        let o = s.options;
        Layout {
            runtime: o.runtime,
            cloud: o.cloud,
            server: o.server,
            policy: o.policy,
            energy: o.energy,
            memory: o.memory,
            link: o.link,
            calibration: o.calibration,
            train: s.train,
        }
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
        // Only MEANET_<SECTION>__<KEY> variables are configuration; others such as MEANET_CACHE
        // and MEANET_LOG belong to the commands.
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

    /// Checks values serde cannot: the runtime's sections, then `[train]`.
    pub fn validate(&self) -> Result<()> {
        self.options.validate()?;
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
        Ok(())
    }
}

#[cfg(test)]
mod tests {
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
