//! The worker with a [`LinkGate`](super::LinkGate): it never waits for the link, and every
//! sample still gets exactly one outcome. No assertion here reads a clock: a cloud that waits
//! for the test to release it stands for a slow link.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use meanet_core::link::{LinkBudgets, Withheld};
use meanet_core::manifest::InputSpec;
use meanet_core::testing::EchoMain;
use meanet_core::{
    BlockCosts, Bytes, ClassPartition, CloudError, CloudLink, CloudOnly, CloudReply, Exit, Joules,
    Macs, Outcome, Pipeline, Seconds,
};
use ndarray::{Array2, ArrayD};
use tokio::sync::Notify;

use super::EdgeWorker;

/// A cloud that answers class 1 once `open` is notified (or at once when `gated` is off), and
/// fails as unreachable while `down` is set.
#[derive(Default)]
struct Cloud {
    gated: AtomicBool,
    open: Notify,
    down: AtomicBool,
    calls: AtomicUsize,
}

#[async_trait]
impl CloudLink for Cloud {
    async fn classify(&self, input: ArrayD<f32>) -> Result<CloudReply, CloudError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(CloudError::Unreachable("the link is cut".into()));
        }
        if self.gated.load(Ordering::SeqCst) {
            self.open.notified().await;
        }
        let n = input.shape()[0];
        let mut logits = Array2::zeros((n, 4));
        logits.column_mut(1).fill(10.0);
        Ok(CloudReply {
            logits,
            bytes_sent: Bytes(16 * n as u64),
            bytes_received: Bytes(16),
            latency: Seconds(0.001),
            server_time: None,
        })
    }
}

fn worker(cloud: Arc<Cloud>, rt: &tokio::runtime::Runtime, budgets: LinkBudgets) -> EdgeWorker {
    plain(cloud, rt).with_link(budgets).unwrap()
}

fn plain(cloud: Arc<Cloud>, rt: &tokio::runtime::Runtime) -> EdgeWorker {
    let pipeline = Pipeline::new(
        Box::new(EchoMain),
        None,
        ClassPartition::try_new(4, vec![3]).unwrap(),
        Box::new(CloudOnly),
        BlockCosts {
            main: Macs(1),
            extension: Macs(1),
            cloud: Macs(1),
        },
    );
    let input = InputSpec {
        shape: vec![4, 1, 1],
        mean: vec![0.0; 4],
        std: vec![1.0; 4],
    };
    EdgeWorker::new(pipeline, &input, Some(cloud), rt.handle().clone(), 1)
}

type Seen = Arc<std::sync::Mutex<Vec<Vec<Outcome>>>>;

fn route(w: &mut EdgeWorker, seen: &Seen) {
    let x =
        ArrayD::from_shape_vec(vec![2, 4], vec![0.1, 0.2, 0.3, 0.4, 0.4, 0.3, 0.2, 0.1]).unwrap();
    let seen = Arc::clone(seen);
    w.route(x.view(), move |o| seen.lock().unwrap().push(o))
        .unwrap();
}

#[test]
fn the_edge_does_not_wait_for_a_full_link_and_loses_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cloud = Arc::new(Cloud::default());
    cloud.gated.store(true, Ordering::SeqCst);
    let mut w = worker(Arc::clone(&cloud), &rt, LinkBudgets::default());
    let seen: Seen = Arc::default();
    // One offload may be in flight, and the cloud holds it: every later batch is answered at
    // the edge at once (this loop would never end if the worker waited for a slot).
    for _ in 0..10 {
        route(&mut w, &seen);
    }
    {
        let seen = seen.lock().unwrap();
        assert_eq!(
            seen.len(),
            9,
            "nine batches answered while the first is in flight"
        );
        for o in seen.iter().flatten() {
            assert_eq!(o.withheld, Some(Withheld::Busy));
            assert_eq!((o.exit, o.degraded), (Exit::Main, None));
            assert!(o.latency.is_some());
        }
    }
    cloud.open.notify_one();
    w.drain();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 10, "the held batch answered too: none lost");
    assert!(
        seen[9]
            .iter()
            .all(|o| o.exit == Exit::Cloud && o.withheld.is_none())
    );
    assert_eq!(cloud.calls.load(Ordering::SeqCst), 1);
    // The one offload was the first burst: its two samples share its promotion.
    let first = meanet_core::RadioBurst {
        since_last_us: None,
        samples: 2,
    };
    assert!(seen[9].iter().all(|o| o.cost.burst == Some(first)));
    assert!(
        seen[9].iter().all(|o| o.cost.uplink_bps.is_none()),
        "nothing measured yet"
    );
}

#[test]
fn a_cut_link_is_probed_not_waited_on_and_offloads_resume_when_it_returns() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cloud = Arc::new(Cloud::default());
    cloud.down.store(true, Ordering::SeqCst);
    let budgets = LinkBudgets {
        latency: Some(Seconds(0.5)),
        ..LinkBudgets::default()
    };
    let mut w = worker(Arc::clone(&cloud), &rt, budgets);
    let seen: Seen = Arc::default();
    route(&mut w, &seen);
    w.drain();
    assert!(
        w.link_estimate().unwrap().down,
        "a failure marks the link down"
    );
    for _ in 0..20 {
        route(&mut w, &seen);
        w.drain();
    }
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 21);
        assert!(
            seen[0].iter().all(|o| o.degraded.is_some()),
            "the first offload failed"
        );
        for o in seen[1..].iter().flatten() {
            assert_eq!((o.withheld, o.degraded), (Some(Withheld::LinkDown), None));
        }
    }
    let probes = cloud.calls.load(Ordering::SeqCst) - 1;
    assert!(
        (1..20).contains(&probes),
        "probed, with backoff: {probes} probes"
    );
    // The link returns: a probe finds it, and offloads go to the cloud again.
    cloud.down.store(false, Ordering::SeqCst);
    let started = Instant::now();
    loop {
        route(&mut w, &seen);
        w.drain();
        if seen
            .lock()
            .unwrap()
            .last()
            .unwrap()
            .iter()
            .all(|o| o.exit == Exit::Cloud)
        {
            break;
        }
        // A hang guard, not a timing assertion: probes come at most a second apart.
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "offloads never resumed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!w.link_estimate().unwrap().down);
}

/// Prices only the radio: a microjoule per byte sent; the edge's compute is `edge` joules.
struct Priced {
    edge: f64,
}

impl meanet_core::EnergyModel for Priced {
    fn price(&self, cost: &meanet_core::SampleCost) -> meanet_core::EnergyBreakdown {
        meanet_core::EnergyBreakdown {
            edge_compute: meanet_core::Joules(self.edge),
            transmit: meanet_core::Joules(cost.bytes_sent.0 as f64 * 1e-6),
            ..meanet_core::EnergyBreakdown::default()
        }
    }
}

fn online_worker(budgets: LinkBudgets, edge: f64) -> (EdgeWorker, tokio::runtime::Runtime) {
    use meanet_core::online::{ControllerConfig, OnlineController, OnlineRouting};
    use meanet_core::{RoutingThresholds, Thresholds};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let online = OnlineRouting::new(
        RoutingThresholds::Global(Thresholds::default()),
        OnlineController::new(ControllerConfig::new(0.5)).unwrap(),
    );
    let w = plain(Arc::new(Cloud::default()), &rt)
        .with_online(Some(online))
        .with_link(budgets)
        .unwrap()
        .with_energy(Arc::new(Priced { edge }));
    (w, rt)
}

#[test]
fn the_uplink_cap_and_the_energy_budget_lower_the_share_the_controller_holds() {
    let seen: Seen = Arc::default();
    // No share budget: the calibrated target stays.
    let (mut w, _rt) = online_worker(LinkBudgets::default(), 0.0);
    route(&mut w, &seen);
    assert_eq!(w.share_target(), Some(0.5));
    // 8 bit/s cannot carry a fifth of even two 16-byte samples a second.
    let cap = LinkBudgets {
        uplink_bps: Some(8.0),
        ..LinkBudgets::default()
    };
    let (mut w, _rt) = online_worker(cap, 0.0);
    route(&mut w, &seen);
    let t = w.share_target().unwrap();
    assert!(t < 0.1, "the cap lowers the share: {t}");
    // An energy budget below what the edge spends on its own allows no offload at all.
    let poor = LinkBudgets {
        energy: Some(Joules(1e-6)),
        ..LinkBudgets::default()
    };
    let (mut w, _rt) = online_worker(poor, 2e-6);
    route(&mut w, &seen);
    assert_eq!(w.share_target(), Some(0.0));
    // A budget with room for every offload keeps the calibrated target.
    let rich = LinkBudgets {
        energy: Some(Joules(1.0)),
        ..LinkBudgets::default()
    };
    let (mut w, _rt) = online_worker(rich, 2e-6);
    route(&mut w, &seen);
    assert_eq!(w.share_target(), Some(0.5));
}

#[test]
fn the_energy_budget_is_held_offload_by_offload_without_an_online_controller() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cloud = Arc::new(Cloud::default());
    // 8 uJ a sample; an offload of two 16-byte samples costs 32 uJ on the air: the account
    // pays for one batch in two.
    let budgets = LinkBudgets {
        energy: Some(Joules(8e-6)),
        ..LinkBudgets::default()
    };
    let model = Arc::new(Priced { edge: 0.0 });
    let mut w = worker(Arc::clone(&cloud), &rt, budgets).with_energy(model.clone());
    let seen: Seen = Arc::default();
    for _ in 0..100 {
        route(&mut w, &seen);
        w.drain();
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 100, "every batch answered: none lost");
    let outcomes: Vec<&Outcome> = seen.iter().flatten().collect();
    let sent = outcomes.iter().filter(|o| o.exit == Exit::Cloud).count();
    let held = outcomes
        .iter()
        .filter(|o| o.withheld == Some(Withheld::EnergyBudget))
        .count();
    assert_eq!(
        sent + held,
        200,
        "each sample offloaded or withheld for energy"
    );
    assert!((90..=100).contains(&sent), "one batch in two: {sent}");
    use meanet_core::EnergyModel;
    let spent: f64 = outcomes
        .iter()
        .map(|o| model.price(&o.cost).transmit.0)
        .sum();
    assert!(spent <= 8e-6 * 200.0 + 1e-12, "held: {spent} J");
    assert_eq!(cloud.calls.load(Ordering::SeqCst), sent / 2);
    let balance = w
        .energy_balance()
        .expect("an energy budget has an account")
        .0;
    assert!((0.0..=32e-6).contains(&balance), "{balance}");
}

#[test]
fn the_waiting_edge_times_its_bursts_as_the_gate_does() {
    // Without a link gate (`policy.link_aware = false`), offloads still record their burst, so
    // the radio's tail is priced the same way in both modes.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut w = plain(Arc::new(Cloud::default()), &rt);
    let seen: Seen = Arc::default();
    route(&mut w, &seen);
    w.drain();
    route(&mut w, &seen);
    w.drain();
    let seen = seen.lock().unwrap();
    let first = seen[0][0].cost.burst.expect("the first burst");
    assert_eq!((first.since_last_us, first.samples), (None, 2));
    let second = seen[1][0].cost.burst.expect("the second burst");
    assert!(second.since_last_us.is_some() && second.samples == 2);
}
