//! Two evaluations of the same test samples side by side (`meanet eval QBUNDLE --compare
//! BUNDLE`): per method, both accuracies, their paired-bootstrap difference and both edge
//! energies. The pairing is per sample, from each report's `outcomes.csv`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use meanet_core::Joules;
use meanet_core::bootstrap::paired_bootstrap;

use crate::report::Report;

/// Per method, whether each sample (by index) was answered right, from `outcomes.csv`.
fn correct(path: &Path) -> Result<BTreeMap<String, BTreeMap<usize, bool>>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out: BTreeMap<String, BTreeMap<usize, bool>> = BTreeMap::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 4 {
            bail!(
                "{} line {}: expected method,index,label,class",
                path.display(),
                n + 1
            );
        }
        let index: usize = f[1]
            .parse()
            .with_context(|| format!("{} line {}: index", path.display(), n + 1))?;
        out.entry(f[0].to_string())
            .or_default()
            .insert(index, f[2] == f[3]);
    }
    Ok(out)
}

/// The comparison table (markdown) of `this` against `other`, each with the directory its
/// `outcomes.csv` was written to.
pub fn compare(
    (this, this_dir, this_name): (&Report, &Path, &str),
    (other, other_dir, other_name): (&Report, &Path, &str),
) -> Result<String> {
    let a = correct(&this_dir.join("outcomes.csv"))?;
    let b = correct(&other_dir.join("outcomes.csv"))?;
    let mut md = format!(
        "| method | {this_name} accuracy | {other_name} accuracy | difference, 95% paired bootstrap | edge energy / sample: {this_name} | {other_name} |\n|---|---|---|---|---|---|\n"
    );
    for m in &this.methods {
        let (Some(ra), Some(rb), Some(mb)) = (
            a.get(&m.name),
            b.get(&m.name),
            other.methods.iter().find(|o| o.name == m.name),
        ) else {
            continue;
        };
        // The samples both evaluated, in index order.
        let both: Vec<usize> = ra.keys().filter(|i| rb.contains_key(i)).copied().collect();
        if both.is_empty() {
            continue;
        }
        let ca: Vec<bool> = both.iter().map(|i| ra[i]).collect();
        let cb: Vec<bool> = both.iter().map(|i| rb[i]).collect();
        let p = paired_bootstrap(&[ca, cb], &[(0, 1)], 2000, 0.95, 7)?;
        let (acc_a, acc_b, d) = (&p.accuracy[0], &p.accuracy[1], &p.difference[0]);
        md.push_str(&format!(
            "| {} | {:.2}% | {:.2}% | {:+.2} pp [{:+.2}, {:+.2}] | {} | {} |\n",
            m.name,
            100.0 * acc_a.estimate,
            100.0 * acc_b.estimate,
            100.0 * d.estimate,
            100.0 * d.low,
            100.0 * d.high,
            Joules(m.edge_energy_j),
            Joules(mb.edge_energy_j),
        ));
    }
    Ok(md)
}
