//! Overhead of the meanet pipeline over raw ONNX Runtime, on the same main block.
//!
//! Runs `tests/fixtures/bench_main.onnx` (~1.9 MMAC per sample) through (a) a raw `ort::Session`
//! (run, read the logits, argmax) and (b) a `meanet_core::Pipeline` with the edge-only policy, so
//! every sample exits at the main block, at batch 1 and 32. Both are timed in the same run,
//! interleaved, and the report is the ratio of medians pipeline/raw.
//!
//! A regression here means routing bookkeeping (scoring, outcome assembly, output copies) costs a
//! visible share of inference. The target is a ratio of at most 1.05.
//!
//! `cargo bench -p meanet-onnx --bench pipeline_overhead` (needs `scripts/setup` first).

// A benchmark binary: any failure should abort the run loudly.
#![allow(clippy::expect_used, missing_docs)]

use std::path::Path;
use std::time::{Duration, Instant};

use meanet_core::{BlockCosts, ClassPartition, EdgeOnly, Pipeline};
use meanet_onnx::{OrtMainBlock, Runtime, RuntimeOptions};
use ndarray::{Array, ArrayD, IxDyn};
use ort::session::Session;
use ort::value::TensorRef;

fn input(batch: usize) -> ArrayD<f32> {
    Array::from_shape_fn(IxDyn(&[batch, 1, 28, 28]), |ix| {
        ((ix[0] * 31 + ix[2] * 7 + ix[3]) % 17) as f32 / 17.0
    })
}

fn raw_once(session: &mut Session, x: &ArrayD<f32>) -> usize {
    let outputs = session
        .run(ort::inputs![
            TensorRef::from_array_view(x.view()).expect("tensor")
        ])
        .expect("raw run");
    let (shape, logits) = outputs["logits"]
        .try_extract_tensor::<f32>()
        .expect("logits");
    let classes = shape[1] as usize;
    logits
        .chunks(classes)
        .map(|row| {
            row.iter()
                .enumerate()
                .fold(0, |best, (k, v)| if *v > row[best] { k } else { best })
        })
        .sum()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bench_main.onnx");
    let options = RuntimeOptions {
        intra_threads: Some(1),
        inter_threads: Some(1),
        ..RuntimeOptions::default()
    };
    let rt = Runtime::new(options).expect("ONNX Runtime (run scripts/setup)");
    let mut raw = Session::builder(rt.environment())
        .expect("session builder")
        .with_intra_threads(1)
        .expect("intra threads")
        .with_inter_threads(1)
        .expect("inter threads")
        .commit_from_file(&model)
        .expect("raw session");
    let main = OrtMainBlock::new(meanet_onnx::open(&rt, &model).expect("open the model"))
        .expect("main block");
    let mut pipeline = Pipeline::new(
        Box::new(main),
        None,
        ClassPartition::try_new(10, vec![9]).expect("partition"),
        Box::new(EdgeOnly),
        BlockCosts::default(),
    );

    println!("pipeline overhead over raw ONNX Runtime (same model, same run, interleaved)");
    println!(
        "{:>6} {:>14} {:>14} {:>8}",
        "batch", "raw median", "meanet median", "ratio"
    );
    for batch in [1usize, 32] {
        let x = input(batch);
        let iters = if batch == 1 { 200 } else { 20 };
        // warm-up
        for _ in 0..iters {
            raw_once(&mut raw, &x);
            pipeline.route_edge(x.view()).expect("pipeline");
        }
        let (mut t_raw, mut t_pipe) = (Vec::new(), Vec::new());
        for round in 0..30 {
            // Alternate which goes first so drift does not favour either side.
            for side in [round % 2, 1 - round % 2] {
                let start = Instant::now();
                for _ in 0..iters {
                    if side == 0 {
                        std::hint::black_box(raw_once(&mut raw, &x));
                    } else {
                        std::hint::black_box(pipeline.route_edge(x.view()).expect("pipeline"));
                    }
                }
                let per = start.elapsed() / iters as u32;
                if side == 0 {
                    t_raw.push(per)
                } else {
                    t_pipe.push(per)
                }
            }
        }
        let (r, p) = (median(t_raw), median(t_pipe));
        println!(
            "{batch:>6} {:>12.1}us {:>12.1}us {:>8.3}",
            r.as_secs_f64() * 1e6,
            p.as_secs_f64() * 1e6,
            p.as_secs_f64() / r.as_secs_f64()
        );
    }
}
