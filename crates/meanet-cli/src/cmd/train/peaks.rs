//! Peak memory per training stage, for the log, `results.json` and `--json`.

use anyhow::Result;
use meanet_runtime::train::stages::Run;

/// Peak resident memory per training stage, in MiB, as Linux reports it: the peak is reset
/// before each stage (`/proc/self/clear_refs`), so each figure is that stage's own. Where the
/// reset is refused, the figures are peaks since the process started, and say so.
#[derive(Debug, Default)]
pub(super) struct Peaks {
    stages: Vec<(&'static str, f64)>,
    cumulative: bool,
}

impl Peaks {
    /// Runs `stage` and records its peak in `run`'s log and here.
    pub(super) fn measure<T, E: Into<anyhow::Error>>(
        &mut self,
        run: &mut Run,
        stage: &'static str,
        f: impl FnOnce(&mut Run) -> std::result::Result<T, E>,
    ) -> Result<T> {
        self.cumulative |= !crate::memory::reset_peak();
        let value = f(run).map_err(Into::into)?;
        if let Some(bytes) = crate::memory::peak_rss() {
            let mib = bytes as f64 / f64::from(1 << 20);
            run.log(&format!(
                "peak memory ({stage}): {mib:.0} MiB resident{}",
                if self.cumulative {
                    " (since the start: the peak could not be reset)"
                } else {
                    ""
                }
            ));
            self.stages.push((stage, mib));
        }
        Ok(value)
    }

    /// `{"main": MiB, ...}` (with `"since_start": true` when the peaks could not be reset).
    pub(super) fn json(&self) -> serde_json::Value {
        let mut m: serde_json::Map<String, serde_json::Value> = self
            .stages
            .iter()
            .map(|(k, v)| {
                (
                    (*k).to_string(),
                    serde_json::json!((v * 10.0).round() / 10.0),
                )
            })
            .collect();
        if self.cumulative {
            m.insert("since_start".into(), true.into());
        }
        serde_json::Value::Object(m)
    }

    /// `main 412 MiB, extension 380 MiB, ...`.
    pub(super) fn describe(&self) -> String {
        let parts: Vec<String> = self
            .stages
            .iter()
            .map(|(k, v)| format!("{k} {v:.0} MiB"))
            .collect();
        parts.join(", ")
    }
}
