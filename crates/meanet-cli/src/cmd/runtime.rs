//! `meanet runtime`: which inference backend meanet uses (`runtime.backend`), and whether it
//! loads: for ONNX Runtime, which library.

use anyhow::Result;

use crate::settings::{Provider, Settings};
use meanet_runtime::Engine;

/// Starts the configured backend (with `provider`, if given) and prints what was found.
pub fn run(settings: &Settings, provider: Option<Provider>, json: bool) -> Result<()> {
    let mut settings = settings.clone();
    if let Some(p) = provider {
        settings.runtime.provider = p;
    }
    settings.validate()?;
    let engine = Engine::new(&settings.runtime)?;
    let mut lines = engine.describe();
    if engine.backend() == crate::settings::Backend::Ort {
        lines.push(("provider", settings.runtime.provider.name().to_string()));
    }
    let compiled: Vec<&str> = [
        crate::settings::Backend::Ort,
        crate::settings::Backend::Tract,
    ]
    .into_iter()
    .filter(|b| b.compiled())
    .map(|b| b.name())
    .collect();
    lines.push(("built with", compiled.join(", ")));
    if json {
        let map: serde_json::Map<String, serde_json::Value> = lines
            .into_iter()
            .map(|(k, v)| (k.replace(' ', "_"), v.into()))
            .collect();
        crate::stdout::line(serde_json::Value::Object(map))?;
    } else {
        crate::stdout::lines(
            lines
                .into_iter()
                .map(|(k, v)| format!("{:<12}{v}", format!("{k}:"))),
        )?;
    }
    Ok(())
}
