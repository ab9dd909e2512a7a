//! Running calibration batches through an augmented graph, and timing a graph.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use meanet_core::Network;
use meanet_core::network::run_named;
use meanet_quant::{Collector, Quantizer};
use ndarray::ArrayD;

use meanet_runtime::Engine;

/// One calibration batch: the block's inputs by name.
pub(crate) type Feed = Vec<(String, ArrayD<f32>)>;

/// Runs every batch of `feeds` through the augmented graph at `path` (written from `q`) into
/// `collector` (a second pass too, when the method needs histograms).
pub(crate) fn collect(
    engine: &Engine,
    path: &Path,
    q: &Quantizer,
    feeds: &[Feed],
    collector: &mut Collector,
) -> Result<()> {
    let mut net = engine
        .open(path)
        .with_context(|| format!("loading the calibration graph {}", path.display()))?;
    let names = net.signature().output_names();
    let passes = if collector.method().needs_histograms() {
        2
    } else {
        1
    };
    for pass in 0..passes {
        if pass == 1 {
            collector.start_second_pass();
        }
        for feed in feeds {
            let inputs: Vec<(&str, _)> = feed.iter().map(|(n, a)| (n.as_str(), a.view())).collect();
            let outs = run_named(net.as_mut(), &inputs)?;
            let outputs: Vec<(&str, _)> = names
                .iter()
                .zip(&outs)
                .map(|(n, o)| (n.as_str(), o.view()))
                .collect();
            q.observe(collector, &inputs, &outputs)?;
        }
    }
    Ok(())
}

/// Samples per second of the graph at `path` over `feeds` (one warm-up pass, then the best of
/// `rounds` passes: the least disturbed by whatever else the machine runs).
pub(crate) fn rate(engine: &Engine, path: &Path, feeds: &[Feed], rounds: usize) -> Result<f64> {
    let mut net: Box<dyn Network> = engine
        .open(path)
        .with_context(|| format!("loading {}", path.display()))?;
    let samples: usize = feeds
        .iter()
        .map(|f| {
            f.first()
                .map_or(0, |(_, a)| a.shape().first().copied().unwrap_or(0))
        })
        .sum();
    let mut best = f64::INFINITY;
    for round in 0..=rounds {
        let t0 = Instant::now();
        for feed in feeds {
            let inputs: Vec<(&str, _)> = feed.iter().map(|(n, a)| (n.as_str(), a.view())).collect();
            run_named(net.as_mut(), &inputs)?;
        }
        if round > 0 {
            best = best.min(t0.elapsed().as_secs_f64());
        }
    }
    Ok(samples as f64 / best.max(1e-9))
}

/// Writes the feeds' tensors, concatenated, as `dir/<block>.<tensor>.npy` (numpy format 1.0,
/// little-endian f32).
pub(crate) fn write_npy(dir: &Path, block: &str, feeds: &[Feed]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let Some(first) = feeds.first() else {
        return Ok(());
    };
    for (k, (name, _)) in first.iter().enumerate() {
        let views: Vec<_> = feeds
            .iter()
            .filter_map(|f| f.get(k))
            .map(|(_, a)| a.view())
            .collect();
        let whole = ndarray::concatenate(ndarray::Axis(0), &views)?;
        let shape: Vec<String> = whole.shape().iter().map(|d| d.to_string()).collect();
        let shape = if shape.len() == 1 {
            format!("({},)", shape[0])
        } else {
            format!("({})", shape.join(", "))
        };
        let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
        // Magic (6) + version (2) + length (2) + header + newline: a multiple of 64.
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let len = u16::try_from(header.len()).context("npy header too long")?;
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend(len.to_le_bytes());
        bytes.extend(header.as_bytes());
        for v in whole.iter() {
            bytes.extend(v.to_le_bytes());
        }
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!("{block}.{safe}.npy"));
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
