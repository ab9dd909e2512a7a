//! Build a MEANet deployment by hand: blocks from a chosen backend, a real cloud link, an
//! energy model, and route a batch. This is what the `meanet` binary's wiring does, in one
//! file, for users who embed meanet in their own Rust program.
//!
//! Run it (from the repository root):
//!
//! ```sh
//! cargo run -p meanet-examples --example compose            # tract: no library needed
//! cargo run -p meanet-examples --example compose -- ort     # ONNX Runtime (run scripts/setup)
//! ```
//!
//! The cloud here is the bundle's cloud model served on loopback by `meanet-transport`'s Open
//! Inference Protocol v2 server, and reached through its HTTP link: the same link you would
//! point at a remote Triton, KServe or `meanet serve`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use meanet_core::{
    BlockCosts, BoxError, Classifier, EnergyModel, Exit, ExtensionBlock, MainBlock, Manifest,
    MeaNet, Pipeline,
};
use meanet_energy::{BlockProfiles, EnergyTable, Graph, Link, MemoryModel, OnnxEnergyModel};
use meanet_transport::{HttpLink, HttpLinkConfig, ServedModel, Server, ServerConfig, TensorInfo};
use ndarray::{Array, Array2, ArrayViewD, IxDyn};

/// The three networks, from whichever backend was chosen.
struct Blocks {
    main: Box<dyn MainBlock>,
    extension: Box<dyn ExtensionBlock>,
    cloud: Box<dyn Classifier>,
}

fn load_blocks(backend: &str, dir: &Path, m: &Manifest) -> Result<Blocks> {
    let (main, ext, cloud) = (
        dir.join(&m.models.main),
        dir.join(&m.models.extension),
        dir.join(&m.models.cloud),
    );
    let t = &m.tensors;
    Ok(match backend {
        "tract" => Blocks {
            main: Box::new(meanet_tract::TractMainBlock::load_named(&main, t)?),
            extension: Box::new(meanet_tract::TractExtensionBlock::load_named(&ext, t)?),
            cloud: Box::new(meanet_tract::TractClassifier::load_named(
                &cloud,
                &t.input,
                &t.cloud_logits,
            )?),
        },
        "ort" => {
            let rt = meanet_onnx::Runtime::with_defaults()?;
            Blocks {
                main: Box::new(meanet_onnx::OrtMainBlock::load_named(&rt, &main, t)?),
                extension: Box::new(meanet_onnx::OrtExtensionBlock::load_named(&rt, &ext, t)?),
                cloud: Box::new(meanet_onnx::OrtClassifier::load_named(
                    &rt,
                    &cloud,
                    &t.input,
                    &t.cloud_logits,
                )?),
            }
        }
        other => bail!("unknown backend {other:?} (expected tract or ort)"),
    })
}

/// Any classifier as the v2 server's model.
struct Served {
    model: Box<dyn Classifier>,
    input: TensorInfo,
    output: TensorInfo,
}

impl ServedModel for Served {
    fn input(&self) -> TensorInfo {
        self.input.clone()
    }
    fn output(&self) -> TensorInfo {
        self.output.clone()
    }
    fn infer(&mut self, input: ArrayViewD<'_, f32>) -> Result<Array2<f32>, BoxError> {
        Ok(self.model.classify(input)?)
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let backend = std::env::args().nth(1).unwrap_or_else(|| "tract".into());
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/fashion-mnist");

    // 1. The bundle: manifest, partition and calibrated thresholds.
    let text = std::fs::read_to_string(dir.join("meanet.toml")).context("reading the bundle")?;
    let manifest: Manifest = toml::from_str(&text)?;
    manifest.validate()?;
    let partition = manifest.partition()?;
    let thresholds = manifest
        .thresholds
        .as_ref()
        .context("the bundle is not calibrated (run `meanet calibrate`)")?
        .thresholds()?;

    // 2. The blocks, from the chosen backend.
    let blocks = load_blocks(&backend, &dir, &manifest)?;

    // 3. The energy model: MACs and bytes per layer counted from the ONNX graphs, priced at
    //    45 nm, plus the WiFi radio for offloads.
    let profile = |file: &str| Graph::read(dir.join(file))?.profile(1);
    let profiles = BlockProfiles {
        main: profile(&manifest.models.main)?,
        extension: Some(profile(&manifest.models.extension)?),
        cloud: Some(profile(&manifest.models.cloud)?),
    };
    let costs = BlockCosts {
        main: profiles.main.macs_per_sample(),
        extension: profiles
            .extension
            .as_ref()
            .map_or_else(Default::default, |p| p.macs_per_sample()),
        cloud: profiles
            .cloud
            .as_ref()
            .map_or_else(Default::default, |p| p.macs_per_sample()),
    };
    let energy = OnnxEnergyModel::new(
        &profiles,
        &EnergyTable::default(),
        MemoryModel::default(),
        Link::default(),
    );

    // 4. The cloud: its model served on loopback over the v2 protocol, reached by HTTP.
    let n_classes = manifest.classes.len();
    let mut input_shape = vec![None];
    input_shape.extend(manifest.input.shape.iter().map(|&d| Some(d)));
    let served = Served {
        model: blocks.cloud,
        input: TensorInfo {
            name: manifest.tensors.input.clone(),
            shape: input_shape,
        },
        output: TensorInfo {
            name: manifest.tensors.cloud_logits.clone(),
            shape: vec![None, Some(n_classes)],
        },
    };
    let server = Server::start(
        Box::new(served),
        ServerConfig {
            http: Some(([127, 0, 0, 1], 0).into()),
            ..ServerConfig::default()
        },
    )
    .await?;
    let url = format!("http://{}", server.http_addr().context("no HTTP listener")?);
    let link = HttpLink::new(HttpLinkConfig::new(url.clone(), "cloud"))?;

    // 5. The pipeline, and a batch of 64 Fashion-MNIST test images normalised with the
    //    manifest's input.mean and input.std (generated inputs if the data set is not in
    //    cache: run scripts/setup).
    let mut pipeline = Pipeline::new(
        blocks.main,
        Some(blocks.extension),
        partition,
        Box::new(MeaNet { thresholds }),
        costs,
    );
    let mut shape = vec![64];
    shape.extend(&manifest.input.shape);
    let cache = meanet_data::default_dataset_cache();
    let pixels: Vec<u8> = match meanet_data::fashion_mnist(None, &cache) {
        Ok((_, test)) => test.pixels[..64 * manifest.sample_len()].to_vec(),
        Err(_) => (0..64 * manifest.sample_len())
            .map(|i| (i * 37 % 251) as u8)
            .collect(),
    };
    // Per channel, as `meanet run` does: the transport's normalisation, the very one a
    // UINT8-taking cloud applies, over planes of H x W pixels.
    let norm = meanet_transport::protocol::Normalisation {
        mean: manifest.input.mean.clone(),
        std: manifest.input.std.clone(),
    };
    let plane: usize = manifest.input.shape[1..].iter().product();
    let batch = Array::from_shape_vec(IxDyn(&shape), norm.normalise(&pixels, plane))?;
    let outcomes = pipeline.route(batch.view(), Some(&link)).await?;

    let count = |e: Exit| outcomes.iter().filter(|o| o.exit == e).count();
    let joules: f64 = outcomes
        .iter()
        .map(|o| energy.price(&o.cost).edge().0)
        .sum();
    let sent: u64 = outcomes.iter().map(|o| o.cost.bytes_sent.0).sum();
    println!(
        "{backend}: {} samples -> main {}, extension {}, cloud {} (at {url}); degraded {}",
        outcomes.len(),
        count(Exit::Main),
        count(Exit::Extension),
        count(Exit::Cloud),
        outcomes.iter().filter(|o| o.degraded.is_some()).count()
    );
    println!(
        "edge energy {:.1} uJ per sample, {} bytes sent per sample",
        joules / outcomes.len() as f64 * 1e6,
        sent / outcomes.len() as u64
    );
    for o in outcomes.iter().take(4) {
        println!(
            "  sample {}: class {} ({}) at {} ({})",
            o.index,
            o.class,
            manifest.classes[o.class],
            o.exit.name(),
            o.reason.name()
        );
    }
    server.shutdown(Duration::from_secs(1)).await;
    Ok(())
}
