//! `meanet profile`: per-layer work and energy of an ONNX model.

use std::path::Path;

use std::fmt::Write as _;

use anyhow::{Context, Result};
use meanet_core::Macs;
use meanet_energy::{EnergyTable, Graph, MemoryModel};
use serde_json::json;

/// Profiles `model` at `batch` and prints a table, or one JSON object with `json`.
pub fn run(model: &Path, batch: usize, json: bool) -> Result<()> {
    let graph = Graph::read(model).with_context(|| format!("profiling {}", model.display()))?;
    let profile = graph
        .profile(batch)
        .with_context(|| format!("inferring shapes of {}", model.display()))?;
    let table = EnergyTable::default();
    let priced = table.price(&profile, MemoryModel::default());

    if json {
        let layers: Vec<_> = profile
            .layers
            .iter()
            .zip(&priced.layers)
            .map(|(l, p)| {
                json!({
                    "name": l.name,
                    "op_type": l.op_type,
                    "output_shape": l.output_shape,
                    "macs": l.macs,
                    "flops": l.flops,
                    "params": l.params,
                    "weight_bytes": l.weight_bytes,
                    "activation_bytes": l.activation_read_bytes + l.activation_write_bytes,
                    "precision": l.precision,
                    "energy_j": p.compute_j + p.memory_j,
                })
            })
            .collect();
        let uncounted: Vec<_> = profile
            .uncounted
            .iter()
            .map(|(name, reason)| json!({"name": name, "reason": reason}))
            .collect();
        let out = json!({
            "model": model.display().to_string(),
            "batch": batch,
            "total_macs": profile.total_macs().0,
            "macs_per_sample": profile.macs_per_sample().0,
            "total_flops": profile.total_flops(),
            "total_params": profile.total_params(),
            "weight_bytes": profile.weight_bytes().0,
            "total_energy_j": priced.total().0,
            "energy_per_sample_j": priced.per_sample().0,
            "compute_energy_j": priced.mac_j + priced.other_j,
            "memory_energy_j": priced.memory_j,
            "unsupported_ops": profile.unsupported_ops,
            "uncounted": uncounted,
            "layers": layers,
        });
        return crate::stdout::line(serde_json::to_string_pretty(&out)?);
    }

    // One string, written at once: a closed pipe ends it (crate::stdout).
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{} at batch {batch} (45 nm Horowitz 2014 prices; weights from DRAM)",
        model.display()
    );
    let _ = writeln!(
        o,
        "{:<28} {:<20} {:<18} {:>5} {:>12} {:>10} {:>12}",
        "layer", "op", "output", "prec", "MACs", "params", "energy"
    );
    for (l, p) in profile.layers.iter().zip(&priced.layers) {
        let _ = writeln!(
            o,
            "{:<28} {:<20} {:<18} {:>5} {:>12} {:>10} {:>12}",
            truncate(&l.name, 28),
            truncate(&l.op_type, 20),
            truncate(&format!("{:?}", l.output_shape), 18),
            match l.precision {
                meanet_energy::Precision::Fp32 => "f32",
                meanet_energy::Precision::Fp16 => "f16",
                meanet_energy::Precision::Int8 => "int8",
            },
            Macs(l.macs).to_string(),
            l.params,
            meanet_core::Joules(p.compute_j + p.memory_j).to_string(),
        );
    }
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "total MACs:        {} ({} per sample)",
        profile.total_macs(),
        profile.macs_per_sample()
    );
    let _ = writeln!(o, "other FLOPs:       {}", profile.total_flops());
    let _ = writeln!(
        o,
        "parameters:        {} ({} weight bytes)",
        profile.total_params(),
        profile.weight_bytes().0
    );
    let _ = writeln!(
        o,
        "energy:            {} total, {} per sample (compute {}, memory {})",
        priced.total(),
        priced.per_sample(),
        meanet_core::Joules(priced.mac_j + priced.other_j),
        meanet_core::Joules(priced.memory_j)
    );
    if profile.unsupported_ops.is_empty() && profile.uncounted.is_empty() {
        let _ = writeln!(o, "unsupported ops:   none");
    } else {
        let _ = writeln!(
            o,
            "unsupported ops:   {}",
            profile.unsupported_ops.join(", ")
        );
        for (name, reason) in &profile.uncounted {
            let _ = writeln!(o, "  not counted: {name}: {reason}");
        }
    }
    crate::stdout::text(o)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('~');
        t
    }
}
