//! Typed options for everything the runtime does, each with its defaults and its checks.
//!
//! [`Options`] gathers them the way `meanet.toml` lays them out (one section per field), so a
//! program can deserialize them from any format serde reads, build them in code from
//! [`Options::default`], or take them from the `meanet` binary's layered settings. Every
//! function of this crate takes the section it needs, never a command line's settings.

mod backend;
mod cloud;
mod policy;
mod server;

use anyhow::{Result, bail};
use meanet_energy::{EnergyTable, Link, MemoryModel};
use serde::{Deserialize, Serialize};

pub use backend::{Backend, BackendOptions, Provider};
pub use cloud::{CloudOptions, PayloadKind, Transport};
pub use policy::{CalibrationOptions, PolicyOptions, Search};
pub use server::{QUIC_CERT_FILE, ServerOptions, ServerRole};

/// Every runtime option, section by section (`[runtime]`, `[cloud]`, ... in `meanet.toml`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// The inference backend (ONNX Runtime or tract) and its options.
    pub runtime: BackendOptions,
    /// The cloud link.
    pub cloud: CloudOptions,
    /// The v2 server (`meanet serve`, the loopback cloud, the edge endpoint).
    pub server: ServerOptions,
    /// Routing.
    pub policy: PolicyOptions,
    /// Energy prices (45 nm, Horowitz 2014 defaults).
    pub energy: EnergyTable,
    /// The memory model.
    pub memory: MemoryModel,
    /// The radio link model.
    pub link: Link,
    /// Calibration.
    pub calibration: CalibrationOptions,
}

impl Options {
    /// Checks values serde cannot; each error names its `section.key`.
    pub fn validate(&self) -> Result<()> {
        self.energy.validate().map_err(anyhow::Error::msg)?;
        self.link.validate().map_err(anyhow::Error::msg)?;
        self.policy.validate()?;
        self.runtime.validate()?;
        self.server.validate()?;
        self.cloud.validate()?;
        self.calibration.validate()
    }

    /// Fallback thresholds for bundles that were not calibrated (`[policy]`).
    pub fn fallback_thresholds(&self) -> meanet_core::Thresholds {
        self.policy.fallback_thresholds()
    }
}

impl CalibrationOptions {
    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<()> {
        let g = self.per_class_min_gain;
        if !(g.is_finite() && g >= 0.0) {
            bail!("calibration.per_class_min_gain must be finite and >= 0");
        }
        if !(self.validation > 0.0 && self.validation < 1.0) {
            bail!(
                "calibration.validation = {} must be in (0, 1)",
                self.validation
            );
        }
        Ok(())
    }
}

impl PolicyOptions {
    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<()> {
        for (key, value) in [
            ("main", self.main),
            ("cloud_main", self.cloud_main),
            ("extension", self.extension),
        ] {
            if value.is_some_and(|v| !(v.is_finite() && v >= 0.0)) {
                bail!("policy.{key} must be finite and >= 0 (leave it unset for no check)");
            }
        }
        if self.hard_mass.is_some_and(|m| !(0.0..=1.0).contains(&m)) {
            bail!(
                "policy.hard_mass must be a probability between 0 and 1 (leave it unset for no check)"
            );
        }
        if self
            .online_target
            .is_some_and(|t| !(0.0..=1.0).contains(&t))
        {
            bail!("policy.online_target must be an offload share between 0 and 1");
        }
        if self.online_window == 0 || self.online_window > meanet_core::online::MAX_WINDOW {
            bail!(
                "policy.online_window must hold between 1 and {} samples",
                meanet_core::online::MAX_WINDOW
            );
        }
        if !(self.online_horizon.is_finite() && self.online_horizon > 0.0) {
            bail!("policy.online_horizon must be a positive number of samples");
        }
        if !(self.online_range.is_finite() && self.online_range >= 1.0) {
            bail!("policy.online_range must be finite and >= 1");
        }
        if self.batch_size == 0 {
            bail!("policy.batch_size must be at least 1");
        }
        Ok(())
    }

    /// Fallback thresholds for bundles that were not calibrated.
    pub fn fallback_thresholds(&self) -> meanet_core::Thresholds {
        meanet_core::Thresholds {
            measure: self.measure,
            main: self.main,
            cloud_main: self.cloud_main,
            extension: self.extension,
            hard_mass: self.hard_mass,
        }
    }
}

impl BackendOptions {
    /// Checks values serde cannot, and that this build has the backend.
    pub fn validate(&self) -> Result<()> {
        if !self.backend.compiled() {
            bail!(
                "runtime.backend = \"{}\", but this meanet was built without the `{}` cargo feature (rebuild with `--features {}`, or choose runtime.backend = \"{}\")",
                self.backend.name(),
                self.backend.name(),
                self.backend.name(),
                Backend::default().name()
            );
        }
        if self.backend == Backend::Tract && self.provider != Provider::Cpu {
            bail!(
                "runtime.provider = \"{}\" applies to ONNX Runtime only; tract runs on the CPU (use runtime.backend = \"ort\" for a GPU provider)",
                self.provider.name()
            );
        }
        if self.threads == Some(0) {
            bail!("runtime.threads must be at least 1 (leave it unset for ONNX Runtime's default)");
        }
        Ok(())
    }
}

impl ServerOptions {
    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<()> {
        if self.model_name.as_deref().is_some_and(|n| {
            n.is_empty() || n.chars().any(|c| c.is_whitespace() || "/?#%".contains(c))
        }) {
            bail!(
                "server.model_name = {:?} must be a non-empty name without blanks, '/', '?', '#' or '%' (it is a URL path segment)",
                self.model_name.as_deref().unwrap_or_default()
            );
        }
        if self.max_batch == 0 || self.queue == 0 {
            bail!("server.max_batch and server.queue must be at least 1");
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            bail!("server.tls_cert and server.tls_key must be set together");
        }
        if self.deadline_ms == 0 {
            bail!("server.deadline_ms must be at least 1");
        }
        for (key, v) in [
            ("drain_ms", self.drain_ms),
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("idle_timeout_ms", self.idle_timeout_ms),
            ("quic_idle_timeout_ms", self.quic_idle_timeout_ms),
        ] {
            if v == 0 {
                bail!("server.{key} must be at least 1");
            }
        }
        if self.unready_ms > self.drain_ms {
            bail!(
                "server.unready_ms = {} must not exceed server.drain_ms = {}",
                self.unready_ms,
                self.drain_ms
            );
        }
        if self.max_connections == 0 || self.quic_max_streams == 0 {
            bail!("server.max_connections and server.quic_max_streams must be at least 1");
        }
        Ok(())
    }
}

impl CloudOptions {
    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<()> {
        if self.deadline_ms == 0 {
            bail!("cloud.deadline_ms must be at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn online_needs_an_offload_share_to_hold() {
        let mut p = PolicyOptions::default();
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

    #[test]
    fn each_section_names_the_key_at_fault() {
        let mut o = Options::default();
        o.validate().unwrap();
        o.policy.batch_size = 0;
        assert!(
            o.validate()
                .unwrap_err()
                .to_string()
                .contains("policy.batch_size")
        );
        let mut o = Options::default();
        o.server.tls_cert = Some("c.pem".into());
        assert!(
            o.validate()
                .unwrap_err()
                .to_string()
                .contains("server.tls_key")
        );
        let mut o = Options::default();
        o.calibration.validation = 1.0;
        assert!(
            o.validate()
                .unwrap_err()
                .to_string()
                .contains("calibration.validation")
        );
    }
}
