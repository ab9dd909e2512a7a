//! tract against ONNX Runtime, side by side in one run, on the reference bundle.
//!
//! - the main block at batch 1 and batch 32 (`MainBlock::infer`);
//! - the edge run loop at batch 1: `Pipeline::route_edge` with the bundle's calibrated MEANet
//!   thresholds over Fashion-MNIST-shaped inputs (main block, extension where routed, cloud
//!   off), sample after sample.
//!
//! Both backends run on one thread (ONNX Runtime with `intra_threads = 1`; tract runs each
//! model on the calling thread), interleaved round by round so that drift in the machine hits
//! both alike. The report is the median time per call of each and the ratio tract / ort.
//!
//! `cargo bench -p meanet-tests --bench backends` (needs `scripts/setup` first).

#![allow(clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use meanet_core::manifest::Tensors;
use meanet_core::{BlockCosts, ExtensionBlock, MainBlock, Manifest, MeaNet, Pipeline};
use meanet_onnx::{OrtExtensionBlock, OrtMainBlock, Runtime, RuntimeOptions};
use meanet_tract::{TractExtensionBlock, TractMainBlock};
use ndarray::{Array, ArrayD, Axis, IxDyn};

fn bundle() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/fashion-mnist")
}

fn input(batch: usize) -> ArrayD<f32> {
    Array::from_shape_fn(IxDyn(&[batch, 1, 28, 28]), |ix| {
        ((ix[0] * 31 + ix[2] * 7 + ix[3] * 3) % 23) as f32 / 11.0 - 1.0
    })
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Times `a` and `b` over `rounds` rounds of `per_round` calls each, interleaved; returns the
/// median time per call of each.
fn side_by_side(
    rounds: usize,
    per_round: usize,
    mut a: impl FnMut(),
    mut b: impl FnMut(),
) -> (Duration, Duration) {
    for _ in 0..per_round {
        a();
        b();
    }
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..per_round {
            a();
        }
        ta.push(t.elapsed() / per_round as u32);
        let t = Instant::now();
        for _ in 0..per_round {
            b();
        }
        tb.push(t.elapsed() / per_round as u32);
    }
    (median(ta), median(tb))
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn report(rows: &mut Vec<String>, what: &str, per: usize, ort: Duration, tract: Duration) {
    let line = format!(
        "| {what} | {:.1} us | {:.1} us | {:.0} | {:.0} | {:.2}x |",
        us(ort),
        us(tract),
        per as f64 / ort.as_secs_f64(),
        per as f64 / tract.as_secs_f64(),
        tract.as_secs_f64() / ort.as_secs_f64()
    );
    println!("{line}");
    rows.push(line);
}

fn main() {
    let dir = bundle();
    let text = std::fs::read_to_string(dir.join("meanet.toml")).expect("bundle manifest");
    let m: Manifest = toml::from_str(&text).expect("manifest");
    let t = Tensors::default();
    let rt = Runtime::new(RuntimeOptions {
        intra_threads: Some(1),
        inter_threads: Some(1),
        ..RuntimeOptions::default()
    })
    .expect("ONNX Runtime (run scripts/setup)");
    let ort_main = || {
        OrtMainBlock::named(
            meanet_onnx::open(&rt, dir.join(&m.models.main)).expect("open the model"),
            &t,
        )
        .expect("ort main")
    };
    let tract_main = || {
        TractMainBlock::named(
            meanet_tract::open(dir.join(&m.models.main)).expect("open the model"),
            &t,
        )
        .expect("tract main")
    };

    println!("| what | ort (1 thread) | tract | ort samples/s | tract samples/s | tract / ort |");
    println!("|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    for batch in [1, 32] {
        let x = input(batch);
        let (mut o, mut tr) = (ort_main(), tract_main());
        let per_round = if batch == 1 { 200 } else { 10 };
        let (a, b) = side_by_side(
            15,
            per_round,
            || {
                o.infer(x.view()).expect("ort");
            },
            || {
                tr.infer(x.view()).expect("tract");
            },
        );
        report(
            &mut rows,
            &format!("main block, batch {batch}"),
            batch,
            a,
            b,
        );
    }

    // The edge run loop at batch 1, calibrated MEANet routing, no cloud.
    let thresholds = m
        .thresholds
        .as_ref()
        .expect("a calibrated bundle")
        .thresholds()
        .expect("thresholds");
    let pipeline = |main: Box<dyn MainBlock>, ext: Box<dyn ExtensionBlock>| {
        Pipeline::new(
            main,
            Some(ext),
            m.partition().expect("partition"),
            Box::new(MeaNet { thresholds }),
            BlockCosts::default(),
        )
    };
    let mut po = pipeline(
        Box::new(ort_main()),
        Box::new(
            OrtExtensionBlock::named(
                meanet_onnx::open(&rt, dir.join(&m.models.extension)).expect("open the model"),
                &t,
            )
            .expect("ort ext"),
        ),
    );
    let mut pt = pipeline(
        Box::new(tract_main()),
        Box::new(
            TractExtensionBlock::named(
                meanet_tract::open(dir.join(&m.models.extension)).expect("open the model"),
                &t,
            )
            .expect("tract ext"),
        ),
    );
    let samples = input(64);
    let (mut i, mut j) = (0usize, 0usize);
    let (a, b) = side_by_side(
        15,
        128,
        || {
            let x = samples.index_axis(Axis(0), i % 64).insert_axis(Axis(0));
            po.route_edge(x).expect("ort route");
            i += 1;
        },
        || {
            let x = samples.index_axis(Axis(0), j % 64).insert_axis(Axis(0));
            pt.route_edge(x).expect("tract route");
            j += 1;
        },
    );
    report(&mut rows, "edge run loop (MEANet), batch 1", 1, a, b);
}
