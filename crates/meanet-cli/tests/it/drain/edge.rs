//! `meanet edge`: with no cloud, and with offloads in flight to a slow cloud.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use super::*;

#[test]
fn edge_drains_on_sigterm() {
    let b = bundle();
    let mut args = vec![
        "edge",
        b.as_str(),
        "--http",
        "127.0.0.1:0",
        "--set",
        "cloud.transport=none",
    ];
    args.extend(DRAIN);
    let (mut p, first) = spawn(&args);
    let addr: SocketAddr = address_after(&first[0], "http://")
        .unwrap()
        .parse()
        .unwrap();
    let seen = drain_under_load(
        &mut p,
        addr,
        "/v2/models/meanet/infer",
        json_request(&images(2)),
        Arc::default(),
    );
    eprintln!(
        "edge drain: {} answers ({} after SIGTERM)",
        seen.ok.load(Ordering::SeqCst),
        seen.ok_after_signal.load(Ordering::SeqCst)
    );
}

/// The bundle's cloud model on loopback, answering each request `delay` late: offloads are in
/// flight whenever the edge is busy.
fn slow_cloud(rt: &tokio::runtime::Runtime, delay: Duration) -> meanet_transport::RunningServer {
    let b = meanet_runtime::Bundle::load(std::path::Path::new(&bundle())).unwrap();
    let engine =
        meanet_runtime::Engine::new(&meanet_runtime::options::BackendOptions::default()).unwrap();
    let model = b.cloud(&engine).unwrap();
    let cfg = meanet_transport::ServerConfig {
        model_name: "cloud".into(),
        http: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        answer_delay: delay,
        ..meanet_transport::ServerConfig::default()
    };
    rt.block_on(meanet_transport::Server::start(Box::new(model), cfg))
        .unwrap()
}

#[test]
fn edge_drains_with_offloads_in_flight_to_a_slow_cloud() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cloud = slow_cloud(&rt, Duration::from_millis(300));
    let url = format!("http://{}", cloud.http_addr().unwrap());
    let b = bundle();
    let mut args = vec!["edge", b.as_str(), "--http", "127.0.0.1:0"];
    let (set_url, set_deadline) = (format!("cloud.url={url}"), "cloud.deadline_ms=10000");
    args.extend(["--set", set_url.as_str(), "--set", set_deadline]);
    args.extend(DRAIN);
    let (mut p, first) = spawn(&args);
    let addr: SocketAddr = address_after(&first[0], "http://")
        .unwrap()
        .parse()
        .unwrap();
    // 16 samples a request, hard ones among them: each request waits on an offload.
    let seen = drain_under_load(
        &mut p,
        addr,
        "/v2/models/meanet/infer",
        json_request(&images(16)),
        Arc::default(),
    );
    let reply = crate::edge_server::request(
        &cloud.http_addr().unwrap().to_string(),
        "GET",
        "/metrics",
        &[],
        b"",
    );
    let served = String::from_utf8_lossy(&reply.body).into_owned();
    rt.block_on(cloud.shutdown(Duration::from_secs(1)));
    // The cloud answered offloads, so requests were waiting on it when the signal came; none
    // was lost (drain_under_load: no reset, no 5xx, answers after the signal, exit 0).
    let offloads: f64 = served
        .lines()
        .filter(|l| l.starts_with("meanet_requests_total{") && l.contains("200"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(
        offloads > 0.0,
        "the slow cloud answered no offload:\n{served}"
    );
    eprintln!(
        "edge drain with a slow cloud: {} answers ({} after SIGTERM), {offloads} offload requests answered by the cloud",
        seen.ok.load(Ordering::SeqCst),
        seen.ok_after_signal.load(Ordering::SeqCst)
    );
}
