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

use anyhow::Result;
use meanet_energy::{EnergyTable, Link, MemoryModel};
use serde::{Deserialize, Serialize};

pub use backend::{Backend, BackendOptions, Provider};
pub use cloud::{CloudOptions, PayloadKind, Transport};
pub use policy::{CalibrationOptions, PolicyOptions, Search};
pub use server::{QUIC_CERT_FILE, ServerOptions, ServerRole, default_quic_cert};

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
        o.policy.batch_size = Some(0);
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
