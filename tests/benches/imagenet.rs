//! The ImageNet data pipeline against the MobileNetV2 main block, in one run on this machine:
//!
//! 1. the pipeline alone: [`Dataset::batches`] over a class-folder tree at 224x224 with the
//!    evaluation crop (parallel decode, bounded prefetch), images/s;
//! 2. the MobileNetV2 main block alone on ONNX Runtime (1,000 classes, exported from the
//!    `mobilenetv2` preset, untrained: the cost does not depend on the weights), on inputs
//!    already in memory, images/s;
//! 3. the two together as `meanet eval` runs them (read a batch, normalise, run the block):
//!    the wall time against the block's own time inside it.
//!
//! The tree is `MEANET_IMAGENET_DIR/val` when that is set (your copy of ImageNet), else
//! `IMAGES` generated images of ImageNet's sizes (`meanet_data::synthetic`). Wall-clock figures
//! of one run; the report is the ratio of each to the others, measured together.
//!
//! `cargo bench -p meanet-tests --bench imagenet` (needs `scripts/setup` first).

#![allow(clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use meanet_core::Normalisation;
use meanet_data::Resize;
use meanet_data::synthetic::{SyntheticFolder, write_image_folder};
use meanet_runtime::Engine;
use meanet_runtime::options::BackendOptions;
use meanet_train::export;
use meanet_train::nets::{Architecture, Preset};
use ndarray::{Array, ArrayD, IxDyn};

const IMAGES: usize = 640;
const BATCH: usize = 32;
const SIDE: u32 = 224;

fn images_per_s(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn main() {
    let generated =
        std::env::temp_dir().join(format!("meanet-bench-imagenet-{}", std::process::id()));
    let root = match std::env::var_os("MEANET_IMAGENET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let spec = SyntheticFolder {
                classes: 10,
                train: 0,
                val: IMAGES / 10,
                sizes: SyntheticFolder::imagenet_sizes(),
                seed: 7,
            };
            write_image_folder(&generated, &spec).expect("writing the generated folder");
            generated.clone()
        }
    };
    let val = meanet_data::load_image_folder(&root.join("val"), SIDE, 3, Resize::Crop)
        .expect("the val/ class folders");
    let n = val.len();
    let order: Vec<usize> = (0..n).collect();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "{n} images in {}, batches of {BATCH}, {threads} decode threads",
        root.display()
    );

    // 1. The pipeline alone.
    let t = Instant::now();
    let mut read = 0;
    for b in val.batches(&order, BATCH, None) {
        read += b.expect("a readable image").indices.len();
    }
    let pipeline = t.elapsed();
    assert_eq!(read, n);

    // 2. The main block alone on ONNX Runtime.
    let arch = Architecture::new(Preset::Mobilenetv2, [3, 224, 224], 1000, 500, None)
        .expect("the mobilenetv2 preset");
    let (main, _, _) = export::untrained_onnx(&arch, [3, 224, 224]);
    let path = std::env::temp_dir().join(format!("meanet-bench-mnv2-{}.onnx", std::process::id()));
    std::fs::write(&path, main).expect("writing the main block");
    let engine = Engine::new(&BackendOptions::default()).expect("ONNX Runtime (scripts/setup)");
    let mut net = engine.open(&path).expect("opening the main block");
    let x: ArrayD<f32> = Array::from_shape_fn(IxDyn(&[BATCH, 3, 224, 224]), |ix| {
        ((ix[1] * 31 + ix[2] * 7 + ix[3] * 3) % 23) as f32 / 11.0 - 1.0
    });
    net.run(&[x.view()]).expect("a warm-up batch");
    let t = Instant::now();
    let mut done = 0;
    while done < n {
        net.run(&[x.view()]).expect("a batch");
        done += BATCH;
    }
    let block = t.elapsed();
    let block_done = done;

    // 3. Together, as eval reads and routes: read ahead, normalise, run.
    let norm = Normalisation {
        mean: vec![0.485, 0.456, 0.406],
        std: vec![0.229, 0.224, 0.225],
    };
    let plane = (SIDE * SIDE) as usize;
    let t = Instant::now();
    let mut in_block = Duration::ZERO;
    for b in val.batches(&order, BATCH, None) {
        let b = b.expect("a readable image");
        let shape = [b.indices.len(), 3, 224, 224];
        let x = ArrayD::from_shape_vec(IxDyn(&shape), norm.normalise(&b.pixels, plane))
            .expect("whole samples");
        let s = Instant::now();
        net.run(&[x.view()]).expect("a batch");
        in_block += s.elapsed();
    }
    let together = t.elapsed();

    let (p, m) = (images_per_s(n, pipeline), images_per_s(block_done, block));
    println!("| measured | images/s |");
    println!("|---|---|");
    println!("| data pipeline alone (decode + crop to 224, {threads} threads) | {p:.1} |");
    println!("| MobileNetV2 main block alone (ONNX Runtime, batch {BATCH}) | {m:.1} |");
    println!("| pipeline / main block | {:.2}x |", p / m);
    println!(
        "| pipeline + main block, as eval runs them | {:.1} (wall {:.1} s, of which the block {:.1} s: {:.0}%) |",
        images_per_s(n, together),
        together.as_secs_f64(),
        in_block.as_secs_f64(),
        100.0 * in_block.as_secs_f64() / together.as_secs_f64()
    );
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_dir_all(&generated);
}
