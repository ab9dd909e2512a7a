//! An edge bundle: what a device needs to run the edge and offload to a cloud it never holds.
//! The main and extension blocks, the manifest (with the cloud's MACs per sample in `[macs]`
//! and its interface in `[cloud]`) and the calibration record; no cloud model.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use meanet_core::manifest::{CloudSpec, MacsPerSample};

use crate::backend::Engine;
use crate::bundle::Bundle;
use crate::deploy::profile;

/// Files besides the manifest and the two blocks that travel with an edge bundle when present.
const ALSO: &[&str] = &["calibration.json"];

/// The manifest's `[macs]`, counted from the graphs when the manifest has none (the cloud's
/// file must then be present).
fn macs(bundle: &Bundle) -> Result<MacsPerSample> {
    if let Some(m) = bundle.manifest.macs {
        return Ok(m);
    }
    let count = |path: PathBuf| -> Result<u64> { Ok(profile(&path)?.macs_per_sample().0) };
    let m = &bundle.manifest.models;
    Ok(MacsPerSample {
        main: count(bundle.dir.join(&m.main))?,
        extension: count(bundle.dir.join(&m.extension))?,
        cloud: count(bundle.cloud_file()?)?,
    })
}

/// Writes the edge bundle of `bundle` into `out` (created; never the bundle itself) and returns
/// the files written. The cloud's interface is checked against its file with `engine` (the
/// file must be present unless the manifest already records `[cloud]` and `[macs]`).
pub fn write_edge_bundle(bundle: &Bundle, engine: &Engine, out: &Path) -> Result<Vec<PathBuf>> {
    let same = match (bundle.dir.canonicalize(), out.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        bail!(
            "--out {} is the bundle itself; give a new directory for the edge bundle",
            out.display()
        );
    }
    let mut manifest = bundle.manifest.clone();
    manifest.macs = Some(macs(bundle)?);
    if bundle.has_cloud() {
        bundle.cloud(engine)?;
        manifest.cloud = Some(CloudSpec::expected(&manifest));
    } else if manifest.cloud.is_none() {
        bail!(
            "bundle {}: neither a cloud model file nor a [cloud] section in its manifest; the edge bundle needs one of them to know what the cloud takes and answers",
            bundle.dir.display()
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut written = Vec::new();
    let m = &manifest.models;
    for name in [m.main.as_str(), m.extension.as_str()]
        .into_iter()
        .chain(ALSO.iter().copied())
    {
        let from = bundle.dir.join(name);
        if !from.is_file() && ALSO.contains(&name) {
            continue;
        }
        let to = out.join(name);
        std::fs::copy(&from, &to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
        written.push(to);
    }
    let stale = out.join(&m.cloud);
    if stale.is_file() {
        std::fs::remove_file(&stale)
            .with_context(|| format!("removing {} from the edge bundle", stale.display()))?;
    }
    let path = out.join("meanet.toml");
    std::fs::write(&path, toml::to_string_pretty(&manifest)?)
        .with_context(|| format!("writing {}", path.display()))?;
    written.push(path);
    Ok(written)
}
