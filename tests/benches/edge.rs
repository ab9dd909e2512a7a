//! The edge runtime at stream speed, on the reference bundle and the Fashion-MNIST test split.
//!
//! 1. **Batch-1 overhead.** The same samples, one at a time, one thread, cloud off, through
//!    (a) the ONNX Runtime calls alone: a raw `ort::Session` per network, the main block on
//!    every sample and the extension on the samples meanet sent there, fed the main block's
//!    features; and (b) meanet's run loop: `EdgeWorker::route_u8` on the 8-bit pixels
//!    (normalisation, main block, policy, extension where routed, outcome assembly) with the
//!    outcomes priced by the energy model and put in input order by `Reorder`, as `meanet run`
//!    does before it prints them. Interleaved round by round; the report is samples/s of each
//!    and the overhead per sample, (b) - (a).
//! 2. **Offload overlap.** 10,000 samples at batch 64 with the bundle's calibrated thresholds
//!    (about 20% offloaded) against a loopback v2 server that answers after a fixed 20 ms and
//!    does no work (zero logits): a remote cloud that costs no CPU here. Three runs each of the
//!    cloud off, meanet's worker (offloads overlapped, `cloud.max_in_flight` = 8), and the
//!    strictly sequential loop (`eval::run_method`: every batch waits for its round trip);
//!    the report is the median throughput of each and the ratios to the cloud-off run.
//!
//! `cargo bench -p meanet-tests --bench edge` (needs `scripts/setup` first).

#![allow(clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use meanet_core::{BoxError, EnergyModel, MeaNet, Outcome};
use meanet_data::{DataSource, Dataset};
use meanet_runtime::Deployment;
use meanet_runtime::Options as Settings;
use meanet_runtime::edge::{EdgeWorker, Reorder, Sink, push_shared};
use meanet_runtime::options::Transport;
use meanet_transport::{ServedModel, Server, ServerConfig, TensorInfo};
use ndarray::{Array2, ArrayViewD, IxDyn};
use ort::session::Session;
use ort::value::TensorRef;

fn bundle() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/fashion-mnist")
}

fn test_split() -> Dataset {
    let cache = meanet_data::default_dataset_cache();
    let source = DataSource::new(meanet_core::manifest::DatasetKind::FashionMnist, None);
    source
        .load_test(&cache)
        .expect("Fashion-MNIST (run scripts/setup)")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// What `meanet run` does with each outcome before printing it: price it.
struct Priced {
    energy: meanet_energy::OnnxEnergyModel,
    joules: f64,
    count: usize,
}

impl Sink for Priced {
    fn write(&mut self, o: Outcome) {
        self.joules += self.energy.price(&o.cost).edge().0;
        self.count += 1;
    }
}

fn raw_session(env: &ort::environment::Environment, path: PathBuf) -> Session {
    Session::builder(env)
        .expect("session builder")
        .with_intra_threads(1)
        .expect("intra threads")
        .with_inter_threads(1)
        .expect("inter threads")
        .commit_from_file(path)
        .expect("raw session")
}

fn batch_one_overhead(data: &Dataset) {
    let mut settings = Settings::default();
    settings.runtime.threads = Some(1);
    settings.cloud.transport = Transport::None;
    let dep = Deployment::load(&bundle(), &settings).expect("bundle");
    let (thresholds, _) = dep.thresholds(&settings.policy).expect("thresholds");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let pipeline = dep
        .pipeline(Box::new(MeaNet { thresholds }))
        .expect("pipeline");
    let input = dep.bundle.manifest.input.clone();
    let mut worker = EdgeWorker::new(pipeline, &input, None, rt.handle().clone(), 8);
    let per = worker.sample_len();
    let norm = meanet_core::Normalisation::from(&input);
    let [c, h, w] = worker.sample_shape();

    let n = 2000.min(data.len());
    // Which samples meanet sends to the extension: the raw side runs it on the same ones.
    let mut first = Vec::new();
    for i in 0..n {
        let sink = Arc::new(Mutex::new(Reorder::new(Vec::new())));
        let s = Arc::clone(&sink);
        worker
            .route_u8(
                &data.pixels().expect("in memory")[i * per..(i + 1) * per],
                move |o| push_shared(&s, 0, 0, o),
            )
            .expect("route");
        first.extend(
            Arc::try_unwrap(sink)
                .unwrap_or_else(|_| panic!("done ran"))
                .into_inner()
                .expect("lock")
                .into_sink(),
        );
    }
    let to_ext: Vec<bool> = first.iter().map(|o| o.extension.is_some()).collect();
    let inputs: Vec<Vec<f32>> = (0..n)
        .map(|i| {
            let mut v = Vec::new();
            norm.normalise_into(
                &data.pixels().expect("in memory")[i * per..(i + 1) * per],
                h * w,
                &mut v,
            );
            v
        })
        .collect();

    // The process has one ONNX Runtime environment; the bundle's loading made it.
    let ort_rt = meanet_onnx::Runtime::new(meanet_onnx::RuntimeOptions::default())
        .expect("ONNX Runtime (run scripts/setup)");
    let env = ort_rt.environment();
    let m = &dep.bundle.manifest;
    let mut main = raw_session(env, dep.bundle.dir.join(&m.models.main));
    let mut ext = raw_session(env, dep.bundle.dir.join(&m.models.extension));
    let t = m.tensors.clone();
    // Positional inputs, in each model's own order, as the adapter passes them.
    let input_first = ext.inputs()[0].name() == t.input.as_str();
    let mut raw = |i: usize| -> usize {
        let x = ArrayViewD::from_shape(IxDyn(&[1, c, h, w]), &inputs[i]).expect("shape");
        let out = main
            .run(ort::inputs![
                TensorRef::from_array_view(x.view()).expect("tensor")
            ])
            .expect("main");
        let (_, logits) = out[t.main_logits.as_str()]
            .try_extract_tensor::<f32>()
            .expect("logits");
        let mut best = logits.len();
        if to_ext[i] {
            let (fshape, feats) = out[t.features.as_str()]
                .try_extract_tensor::<f32>()
                .expect("features");
            let dims: Vec<usize> = fshape.iter().map(|&d| d as usize).collect();
            let f = ArrayViewD::from_shape(IxDyn(&dims), feats).expect("features shape");
            let (a, b) = if input_first {
                (x.view(), f)
            } else {
                (f, x.view())
            };
            let e = ext
                .run(ort::inputs![
                    TensorRef::from_array_view(a).expect("tensor"),
                    TensorRef::from_array_view(b).expect("tensor")
                ])
                .expect("extension");
            let (_, hard) = e[t.extension_logits.as_str()]
                .try_extract_tensor::<f32>()
                .expect("extension logits");
            best += hard.len();
        }
        best
    };

    let energy = dep.energy.clone();
    let mut ours = |range: std::ops::Range<usize>| -> usize {
        let sink = Arc::new(Mutex::new(Reorder::new(Priced {
            energy: energy.clone(),
            joules: 0.0,
            count: 0,
        })));
        for (seq, i) in range.clone().enumerate() {
            let s = Arc::clone(&sink);
            worker
                .route_u8(
                    &data.pixels().expect("in memory")[i * per..(i + 1) * per],
                    move |o| push_shared(&s, seq as u64, i, o),
                )
                .expect("route");
        }
        let done = sink.lock().expect("lock").written();
        assert_eq!(done, range.len(), "every sample answered");
        done
    };

    let chunk = 200;
    // Warm-up.
    for i in 0..chunk {
        std::hint::black_box(raw(i));
    }
    ours(0..chunk);
    let (mut t_raw, mut t_ours) = (Vec::new(), Vec::new());
    for round in 0..40 {
        let start = (round * chunk) % (n - chunk + 1);
        let range = start..start + chunk;
        for side in [round % 2, 1 - round % 2] {
            let t0 = Instant::now();
            if side == 0 {
                for i in range.clone() {
                    std::hint::black_box(raw(i));
                }
                t_raw.push(t0.elapsed().as_secs_f64() / chunk as f64);
            } else {
                std::hint::black_box(ours(range.clone()));
                t_ours.push(t0.elapsed().as_secs_f64() / chunk as f64);
            }
        }
    }
    let (r, o) = (median(t_raw), median(t_ours));
    let ext_share = to_ext.iter().filter(|&&e| e).count() as f64 / n as f64;
    println!(
        "batch-1 run loop, 1 thread, cloud off, {n} test samples ({:.0}% through the extension)",
        ext_share * 100.0
    );
    println!(
        "  ONNX Runtime calls alone: {:>8.1} us/sample  {:>8.0} samples/s",
        r * 1e6,
        1.0 / r
    );
    println!(
        "  meanet run loop:          {:>8.1} us/sample  {:>8.0} samples/s",
        o * 1e6,
        1.0 / o
    );
    println!(
        "  overhead beyond ONNX Runtime: {:.2} us/sample (target <= 5)",
        (o - r) * 1e6
    );
}

/// A cloud that answers zero logits: all its latency is the server's answer delay.
struct Idle {
    classes: usize,
}

impl ServedModel for Idle {
    fn input(&self) -> TensorInfo {
        TensorInfo {
            name: "input".into(),
            shape: vec![None, Some(1), Some(28), Some(28)],
        }
    }
    fn output(&self) -> TensorInfo {
        TensorInfo {
            name: "logits".into(),
            shape: vec![None, Some(self.classes)],
        }
    }
    fn infer(&mut self, input: ArrayViewD<'_, f32>) -> Result<Array2<f32>, BoxError> {
        Ok(Array2::zeros((input.shape()[0], self.classes)))
    }
}

fn offload_overlap(data: &Dataset) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt
        .block_on(Server::start(
            Box::new(Idle { classes: 10 }),
            ServerConfig {
                http: Some(([127, 0, 0, 1], 0).into()),
                answer_delay: Duration::from_millis(20),
                ..ServerConfig::default()
            },
        ))
        .expect("server");
    let mut settings = Settings::default();
    settings.cloud.url = format!("http://{}", server.http_addr().expect("http"));
    let dep = Deployment::load(&bundle(), &settings).expect("bundle");
    let (thresholds, _) = dep.thresholds(&settings.policy).expect("thresholds");
    let link = {
        let _e = rt.enter();
        meanet_runtime::links::link(&settings.cloud, &dep.bundle.manifest.input, None)
            .expect("link")
            .expect("http link")
    };
    let per = dep.bundle.manifest.input.shape.iter().product::<usize>();
    let n = data.len();
    let batch = 64;

    let worker_run = |cloud: Option<Arc<dyn meanet_core::CloudLink>>| -> (f64, usize) {
        let pipeline = dep
            .pipeline(Box::new(MeaNet { thresholds }))
            .expect("pipeline");
        let mut worker = EdgeWorker::new(
            pipeline,
            &dep.bundle.manifest.input,
            cloud,
            rt.handle().clone(),
            settings.cloud.max_in_flight,
        );
        let sink = Arc::new(Mutex::new(Reorder::new(Vec::new())));
        let t0 = Instant::now();
        for (seq, chunk) in data
            .pixels()
            .expect("in memory")
            .chunks(batch * per)
            .enumerate()
        {
            let s = Arc::clone(&sink);
            worker
                .route_u8(chunk, move |o| push_shared(&s, seq as u64, seq * batch, o))
                .expect("route");
        }
        worker.drain();
        let took = t0.elapsed().as_secs_f64();
        let outs = sink.lock().expect("lock").written();
        assert_eq!(outs, n, "every sample answered");
        let cloud = Arc::try_unwrap(sink)
            .unwrap_or_else(|_| panic!("drained"))
            .into_inner()
            .expect("lock")
            .into_sink()
            .iter()
            .filter(|o| o.exit == meanet_core::Exit::Cloud)
            .count();
        (n as f64 / took, cloud)
    };
    let idx: Vec<usize> = (0..n).collect();
    let sequential = |link: &dyn meanet_core::CloudLink| -> f64 {
        let pipeline = dep
            .pipeline(Box::new(MeaNet { thresholds }))
            .expect("pipeline");
        let t0 = Instant::now();
        let (run, _) = rt
            .block_on(meanet_eval::run_method(
                &dep,
                pipeline,
                meanet_eval::Samples { data, idx: &idx },
                batch,
                link,
                &indicatif::ProgressBar::hidden(),
            ))
            .expect("sequential run");
        assert_eq!(run.outcomes.len(), n);
        n as f64 / t0.elapsed().as_secs_f64()
    };

    // Warm-up: the first runs in a process pay ONNX Runtime's first-shape costs.
    worker_run(None);
    worker_run(Some(Arc::clone(&link)));
    let (mut off, mut on, mut seq) = (Vec::new(), Vec::new(), Vec::new());
    let mut offloaded = 0;
    for round in 0..3 {
        // Alternate the order so that drift in the machine hits each alike.
        let mut order = [0, 1, 2];
        order.rotate_left(round);
        for which in order {
            match which {
                0 => off.push(worker_run(None).0),
                1 => {
                    let (tput, cloud) = worker_run(Some(Arc::clone(&link)));
                    on.push(tput);
                    offloaded = cloud;
                }
                _ => seq.push(sequential(link.as_ref())),
            }
        }
    }
    let (off, on, seq) = (median(off), median(on), median(seq));
    println!(
        "offload overlap: {n} samples, batch {batch}, {:.1}% answered by a cloud that replies after 20 ms",
        offloaded as f64 / n as f64 * 100.0
    );
    println!("  cloud off:                       {off:>8.0} samples/s");
    println!(
        "  meanet run (overlapped, {} in flight): {on:>8.0} samples/s  {:.2}x of cloud off (target >= 0.8)",
        settings.cloud.max_in_flight,
        on / off
    );
    println!(
        "  sequential (each batch waits):   {seq:>8.0} samples/s  {:.2}x of cloud off",
        seq / off
    );
    rt.block_on(server.shutdown(Duration::from_secs(1)));
}

fn main() {
    let data = test_split();
    batch_one_overhead(&data);
    offload_overlap(&data);
}
