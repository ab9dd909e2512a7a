//! An edge bundle (`meanet export edge`): main and extension only, the cloud's MACs and
//! interface in the manifest. It loads and routes without the cloud's file, offloading to a
//! loopback cloud of the full bundle, with the full bundle's classes; the commands that run the
//! cloud refuse it by name; a reply that does not match the manifest's cloud degrades; and a
//! memory budget too small for batch 1 is refused with the smallest that works.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meanet_core::{CloudErrorKind, CloudOnly, Exit, Outcome};
use meanet_data::Dataset;
use meanet_runtime::Deployment;
use meanet_runtime::Options as Settings;

fn reference() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/fashion-mnist")
}

/// A fresh directory under the system's temp dir (never the source tree).
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("meanet-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes the reference's edge bundle into a scratch directory.
fn edge_bundle(name: &str) -> PathBuf {
    let out = scratch(name).join("edge");
    let settings = Settings::default();
    let full = meanet_runtime::Bundle::load(&reference()).unwrap();
    let engine = meanet_runtime::Engine::new(&settings.runtime).unwrap();
    let files = meanet_runtime::export::write_edge_bundle(&full, &engine, &out).unwrap();
    assert_eq!(
        files.len(),
        4,
        "main, extension, calibration, manifest: {files:?}"
    );
    assert!(!out.join("cloud.onnx").exists());
    out
}

/// Routes `n` test samples through `dep`'s edge worker, offloading to `server`.
fn route(
    dep: &Deployment,
    settings: &Settings,
    server: &meanet_transport::RunningServer,
    test: &Dataset,
    n: usize,
) -> Vec<Outcome> {
    let (mut worker, _) = dep
        .edge_worker(settings, Some(server), tokio::runtime::Handle::current())
        .unwrap();
    let all = Arc::new(Mutex::new(Vec::new()));
    let idx: Vec<usize> = (0..n).collect();
    for (b, chunk) in idx.chunks(dep.batch_size()).enumerate() {
        let pixels = test.read(chunk).unwrap();
        let first = b * dep.batch_size();
        let sink = Arc::clone(&all);
        worker
            .route_u8(&pixels, move |outs: Vec<Outcome>| {
                let mut s = sink.lock().unwrap();
                s.extend(outs.into_iter().map(|mut o| {
                    o.index += first;
                    o
                }));
            })
            .unwrap();
    }
    worker.drain();
    let mut out = std::mem::take(&mut *all.lock().unwrap());
    out.sort_by_key(|o| o.index);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_bundle_routes_without_the_cloud_file_and_offloads_to_the_full_bundle() {
    let settings = Settings::default();
    let edge_dir = edge_bundle("edge-bundle-routes");
    let full = Deployment::load_full(&reference(), &settings).unwrap();
    let edge = Deployment::load(&edge_dir, &settings).unwrap();
    assert!(!edge.bundle.has_cloud());
    assert_eq!(
        edge.costs, full.costs,
        "the cloud's MACs come from the manifest"
    );
    let server = meanet_runtime::serving::loopback_cloud(
        &full,
        &settings.server,
        &settings.cloud.model,
        false,
        full.batch_size(),
    )
    .await
    .unwrap();
    let test = crate::e2e::test_set();
    let n = 1000;
    let via_edge = tokio::task::block_in_place(|| route(&edge, &settings, &server, &test, n));
    let via_full = tokio::task::block_in_place(|| route(&full, &settings, &server, &test, n));
    server.shutdown(Duration::from_secs(2)).await;
    assert_eq!(via_edge.len(), n, "one outcome per sample");
    let classes = |o: &[Outcome]| o.iter().map(|o| o.class).collect::<Vec<_>>();
    assert_eq!(classes(&via_edge), classes(&via_full));
    let cloud = via_edge.iter().filter(|o| o.exit == Exit::Cloud).count();
    assert!(cloud > 50, "offloads answered by the cloud: {cloud}");
    assert!(via_edge.iter().all(|o| o.degraded.is_none()));

    // What runs the cloud says it needs it.
    let e = Deployment::load_full(&edge_dir, &settings).unwrap_err();
    let text = format!("{e:#}");
    assert!(text.contains("this command runs the cloud model"), "{text}");
    assert!(text.contains("meanet export edge"), "{text}");
    let e = edge.networks().err().expect("no cloud to load");
    assert!(format!("{e:#}").contains("cloud.onnx"), "{e:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_that_does_not_match_the_manifests_cloud_degrades() {
    let edge_dir = edge_bundle("edge-bundle-reply");
    let spec = Deployment::load(&edge_dir, &Settings::default())
        .unwrap()
        .bundle
        .manifest
        .cloud
        .clone()
        .expect("the edge bundle records the cloud's interface");
    assert_eq!(spec.output.shape, vec![-1, 10]);
    let test = crate::e2e::test_set();
    let pixels = test.read(&[0, 1]).unwrap();
    for reply in [
        // Nine logits where the manifest's cloud answers ten.
        r#"{"model_name":"cloud","outputs":[{"name":"logits","shape":[2,9],"datatype":"FP32","data":[1,2,3,4,5,6,7,8,9,1,2,3,4,5,6,7,8,9]}]}"#,
        // Ten per sample, but not FP32.
        r#"{"model_name":"cloud","outputs":[{"name":"logits","shape":[2,10],"datatype":"BYTES","data":["a","b","c","d","e","f","g","h","i","j","a","b","c","d","e","f","g","h","i","j"]}]}"#,
    ] {
        let addr = crate::hostile_cloud::hostile_cloud(reply).await;
        let mut settings = Settings::default();
        settings.cloud.url = format!("http://{addr}");
        settings.cloud.retries = 0;
        let edge = Deployment::load(&edge_dir, &settings).unwrap();
        let input = &edge.bundle.manifest.input;
        let link = meanet_runtime::links::link(&settings.cloud, input, None)
            .unwrap()
            .unwrap();
        let mut p = edge.pipeline(Box::new(CloudOnly)).unwrap();
        let x = edge.batch_of(&pixels, 2);
        let out = p.route(x.view(), Some(link.as_ref())).await.unwrap();
        assert_eq!(out.len(), 2, "one outcome per sample");
        for o in &out {
            assert_eq!(
                o.degraded,
                Some(CloudErrorKind::InvalidReply),
                "{reply}: {o:?}"
            );
            assert_ne!(o.exit, Exit::Cloud);
        }
    }
}

#[test]
fn a_memory_budget_too_small_for_batch_one_is_refused_with_the_smallest_that_works() {
    let mut settings = Settings::default();
    settings.runtime.memory_mb = Some(1);
    let e = Deployment::load(&reference(), &settings).unwrap_err();
    let text = format!("{e:#}");
    assert!(
        text.contains("runtime.memory_mb = 1 is too small"),
        "{text}"
    );
    let need: u64 = text
        .rsplit("runtime.memory_mb = ")
        .next()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("the message ends with the smallest budget: {text}"));
    // The named budget is the smallest that works: it loads, one MiB less does not.
    settings.runtime.memory_mb = Some(need);
    let dep = Deployment::load(&reference(), &settings).unwrap();
    assert!(dep.batch_size() >= 1 && dep.batch_size() < 64);
    assert!(
        dep.describe_plan().contains("lowered"),
        "{}",
        dep.describe_plan()
    );
    settings.runtime.memory_mb = Some(need - 1);
    assert!(Deployment::load(&reference(), &settings).is_err());
    settings.runtime.memory_mb = Some(need + 64);
    let roomier = Deployment::load(&reference(), &settings).unwrap();
    assert!(roomier.batch_size() > 1);
    assert!(roomier.plan.estimate.0 <= (need + 64) << 20);
    // Without a budget: the default batch for 28x28 samples.
    let free = Deployment::load(&reference(), &Settings::default()).unwrap();
    assert_eq!(free.batch_size(), 64);
}

#[test]
fn without_recorded_macs_the_cloud_file_counts_them_or_the_error_names_meanet_profile() {
    let settings = Settings::default();
    let strip_macs = |dir: &Path| {
        let path = dir.join("meanet.toml");
        let mut m: meanet_core::Manifest =
            toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        m.macs = None;
        std::fs::write(&path, toml::to_string_pretty(&m).unwrap()).unwrap();
    };
    // A full bundle without [macs] (one assembled from PyTorch exports): counted from its file.
    let full = scratch("edge-bundle-no-macs").join("full");
    std::fs::create_dir_all(&full).unwrap();
    for f in ["meanet.toml", "main.onnx", "extension.onnx", "cloud.onnx"] {
        std::fs::copy(reference().join(f), full.join(f)).unwrap();
    }
    strip_macs(&full);
    let counted = Deployment::load(&full, &settings).unwrap();
    let recorded = Deployment::load(&reference(), &settings).unwrap();
    assert_eq!(counted.costs, recorded.costs);
    // An edge bundle without [macs]: nothing to count them from.
    let edge = edge_bundle("edge-bundle-no-macs-edge");
    strip_macs(&edge);
    let e = format!("{:#}", Deployment::load(&edge, &settings).unwrap_err());
    assert!(e.contains("meanet profile"), "{e}");
    assert!(e.contains("[macs]"), "{e}");
}
