//! `outcomes.csv`: every outcome of every method.

use std::path::Path;

use anyhow::{Context, Result};

use crate::schema::MethodRun;

/// Writes every outcome of every method as `outcomes.csv`: method, sample index (in the test
/// split), true label, predicted class, exit and degraded cause (empty when none). Two runs (two
/// backends, two bundles) can be compared sample by sample from it.
pub(super) fn write_outcomes(path: &Path, runs: &[MethodRun]) -> Result<()> {
    use std::io::Write;
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    let mut write = || -> std::io::Result<()> {
        writeln!(w, "method,index,label,class,exit,degraded")?;
        for r in runs {
            for (o, l) in r.outcomes.iter().zip(&r.labels) {
                writeln!(
                    w,
                    "{},{},{l},{},{},{}",
                    r.report.name,
                    o.index,
                    o.class,
                    o.exit.name(),
                    o.degraded.map_or("", |k| k.name())
                )?;
            }
        }
        w.flush()
    };
    write().with_context(|| format!("writing {}", path.display()))
}
