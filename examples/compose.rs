//! Compose a whole MEANet deployment from Rust with `meanet-runtime`: the backend named on the
//! command line, the reference bundle, a cloud reached over HTTP, and the edge worker with
//! overlapped offload, the online controller on, and the link's budgets held (docs/link.md). It routes the Fashion-MNIST test split and
//! prints the routing metrics, as `meanet run --metrics` would serve them.
//!
//! ```sh
//! ./scripts/setup                                             # data set and ONNX Runtime
//! cargo run -p meanet-examples --example compose              # tract: no library needed
//! cargo run -p meanet-examples --example compose -- ort       # ONNX Runtime
//! ```
//!
//! The cloud is the bundle's cloud model served on loopback by `meanet-transport`'s v2 server;
//! point `options.cloud.url` at a remote Triton, KServe or `meanet serve` instead.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use meanet_core::Outcome;
use meanet_core::manifest::DatasetKind;
use meanet_data::DataSource;
use meanet_runtime::edge::EdgeStream;
use meanet_runtime::options::{Backend, Options};
use meanet_runtime::{Deployment, serving};

/// At least this many test images are routed.
const IMAGES: usize = 1000;

#[tokio::main]
async fn main() -> Result<()> {
    // 1. Options: defaults, the backend from argv, the online controller on (holding the
    //    offload share at 15%), and a latency budget of 250 ms from a sample's arrival to its
    //    answer (`policy.link_aware` is on by default: an offload that cannot come back in time
    //    is answered at the edge, marked withheld, and the edge never waits for the link).
    let mut options = Options::default();
    options.runtime.backend = match std::env::args().nth(1).as_deref() {
        None | Some("tract") => Backend::Tract,
        Some("ort") => Backend::Ort,
        Some(other) => bail!("unknown backend {other:?}: expected `tract` or `ort`"),
    };
    options.policy.online = true;
    options.policy.online_target = Some(0.15);
    options.policy.latency_budget_ms = Some(250.0);
    options.validate()?;

    // 2. The deployment: bundle checks, the backend, MACs, the energy model and the batch size.
    let bundle = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/fashion-mnist");
    let dep = Deployment::load(&bundle, &options)?;

    // 3. The cloud: the bundle's cloud model on loopback, served by the transport's v2 server.
    let server = serving::loopback_cloud(
        &dep,
        &options.server,
        &options.cloud.model,
        false,
        dep.batch_size(),
    )
    .await?;

    // 4. The edge worker, reaching that server over the HTTP link (retry and circuit breaker
    //    included): calibrated thresholds under the online controller, offloads overlapped (at
    //    most `cloud.max_in_flight` in flight), the link measured from them and the budget
    //    held, outcomes back in input order; and the routing metrics, watching the link's
    //    breaker.
    let (worker, metrics) =
        dep.edge_worker(&options, Some(&server), tokio::runtime::Handle::current())?;
    let energy = Arc::new(dep.energy.clone());
    let mut stream =
        EdgeStream::new(worker, Vec::<Outcome>::new()).with_metrics(Arc::clone(&metrics), energy);

    // 5. The test images, in batches of the deployment's batch size (`policy.batch_size`, else
    //    by input size, within `runtime.memory_mb` when set; the worker runs the blocks on this
    //    thread, so it runs off the async workers).
    let cache = meanet_data::default_dataset_cache();
    let test = DataSource::new(DatasetKind::FashionMnist, None)
        .load_test(&cache)
        .context("Fashion-MNIST (run scripts/setup)")?;
    dep.check_data(&test)?;
    let first: Vec<usize> = (0..IMAGES.min(test.len())).collect();
    let batch = dep.batch_size();
    let outcomes = tokio::task::spawn_blocking(move || -> Result<Vec<Outcome>> {
        for read in test.batches(&first, batch, None) {
            stream.route(&read?.pixels)?;
        }
        Ok(stream.finish()?)
    })
    .await??;
    serving::stop(Some(server)).await;

    // 6. What happened: every image answered once, offloads answered by the cloud.
    let cloud = outcomes.iter().filter(|o| o.cloud.is_some()).count();
    println!(
        "backend {}: {} images routed, {cloud} answered by the cloud, {} degraded, {} withheld to hold the link's budget",
        options.runtime.backend.name(),
        outcomes.len(),
        outcomes.iter().filter(|o| o.degraded.is_some()).count(),
        outcomes.iter().filter(|o| o.withheld.is_some()).count()
    );
    if outcomes.len() < IMAGES || cloud == 0 {
        bail!("expected at least {IMAGES} outcomes with offloads answered");
    }
    print!("{}", metrics.encode());
    Ok(())
}
