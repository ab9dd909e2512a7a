//! int8 against f32 on the reference bundle, side by side in one run: each block (main,
//! extension, cloud) quantized in process by meanet-quant (static QDQ, u8 activations, s8
//! per-channel weights, MinMax ranges over 512 generated inputs: speed does not depend on the
//! ranges), then both graphs timed in ONNX Runtime (default threads) at batch 1 and 64,
//! interleaved round by round so that drift in the machine hits both alike. The report is the
//! median samples per second of each and the ratio int8 / f32.
//!
//! `cargo bench -p meanet-tests --bench quantize` (needs `scripts/setup` first). Accuracy is
//! `meanet quantize` and `scripts/quantize-peer`'s business, not this bench's.

#![allow(clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use meanet_core::network::run_named;
use meanet_core::{Manifest, Network};
use meanet_onnx::Runtime;
use meanet_quant::{Activations, Collector, Method, Quantizer};
use ndarray::{Array, ArrayD, Dimension, IxDyn};

fn bundle() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/fashion-mnist")
}

/// A deterministic batch for each of `net`'s inputs (dimension 0 set to `batch`).
fn feed(net: &dyn Network, batch: usize, seed: usize) -> Vec<(String, ArrayD<f32>)> {
    net.signature()
        .inputs
        .iter()
        .map(|s| {
            let mut dims: Vec<usize> = s.shape.iter().map(|d| d.unwrap_or(batch)).collect();
            dims[0] = batch;
            let a = Array::from_shape_fn(IxDyn(&dims), |ix| {
                let k: usize = ix
                    .as_array_view()
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (i + 3) * v)
                    .sum();
                ((k + seed * 7) % 23) as f32 / 11.0 - 1.0
            });
            (s.name.clone(), a)
        })
        .collect()
}

fn run(net: &mut dyn Network, f: &[(String, ArrayD<f32>)]) {
    let inputs: Vec<(&str, _)> = f.iter().map(|(n, a)| (n.as_str(), a.view())).collect();
    run_named(net, &inputs).expect("run");
}

fn quantize(rt: &Runtime, f32_path: &Path, dir: &Path, block: &str) -> PathBuf {
    let q = Quantizer::new(std::fs::read(f32_path).expect("read"), block).expect("quantizer");
    let aug = dir.join(format!("{block}.augmented.onnx"));
    std::fs::write(&aug, q.augmented().expect("augmented")).expect("write");
    let mut net = meanet_onnx::open(rt, &aug).expect("open augmented");
    let names = net.signature().output_names();
    let mut c = Collector::new(Method::MinMax).expect("collector");
    for seed in 0..8 {
        let f = feed(&net, 64, seed);
        let inputs: Vec<(&str, _)> = f.iter().map(|(n, a)| (n.as_str(), a.view())).collect();
        let outs = run_named(&mut net, &inputs).expect("calibrate");
        let outputs: Vec<(&str, _)> = names
            .iter()
            .zip(&outs)
            .map(|(n, o)| (n.as_str(), o.view()))
            .collect();
        q.observe(&mut c, &inputs, &outputs).expect("observe");
    }
    let out = dir.join(format!("{block}.int8.onnx"));
    std::fs::write(&out, q.quantize(&c, Activations::U8).expect("quantize")).expect("write");
    out
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let dir = bundle();
    let text = std::fs::read_to_string(dir.join("meanet.toml")).expect("bundle manifest");
    let m: Manifest = toml::from_str(&text).expect("manifest");
    let rt = Runtime::with_defaults().expect("ONNX Runtime (run scripts/setup)");
    let work = std::env::temp_dir().join(format!("meanet-bench-quantize-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("work dir");
    println!("| block | batch | f32 samples/s | int8 samples/s | int8 / f32 |");
    println!("|---|---|---|---|---|");
    for (block, file) in [
        ("main", &m.models.main),
        ("extension", &m.models.extension),
        ("cloud", &m.models.cloud),
    ] {
        let f32_path = dir.join(file);
        let int8_path = quantize(&rt, &f32_path, &work, block);
        let mut a = meanet_onnx::open(&rt, &f32_path).expect("open f32");
        let mut b = meanet_onnx::open(&rt, &int8_path).expect("open int8");
        for batch in [1, 64] {
            let f = feed(&a, batch, 1);
            let per_round = if batch == 1 { 200 } else { 10 };
            for _ in 0..per_round {
                run(&mut a, &f);
                run(&mut b, &f);
            }
            let (mut ta, mut tb) = (Vec::new(), Vec::new());
            for _ in 0..15 {
                let t = Instant::now();
                for _ in 0..per_round {
                    run(&mut a, &f);
                }
                ta.push(t.elapsed() / per_round as u32);
                let t = Instant::now();
                for _ in 0..per_round {
                    run(&mut b, &f);
                }
                tb.push(t.elapsed() / per_round as u32);
            }
            let (ta, tb) = (median(ta), median(tb));
            let rate = |d: Duration| batch as f64 / d.as_secs_f64();
            println!(
                "| {block} | {batch} | {:.0} | {:.0} | {:.2}x |",
                rate(ta),
                rate(tb),
                ta.as_secs_f64() / tb.as_secs_f64()
            );
        }
    }
    let _ = std::fs::remove_dir_all(&work);
}
