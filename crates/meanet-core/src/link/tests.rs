use super::*;
use crate::units::{Bytes, Joules, Seconds};

fn est() -> LinkEstimator {
    LinkEstimator::new(EstimatorConfig::default())
}

#[test]
fn rtt_follows_rfc_6298() {
    let mut e = est();
    let a = e.sent(Seconds(0.0), Bytes(1000));
    assert!(e.answered(Seconds(0.100), a, None));
    let s = e.estimate(Seconds(0.1));
    assert!((s.srtt.unwrap().0 - 0.100).abs() < 1e-12);
    assert!((s.rttvar.0 - 0.050).abs() < 1e-12, "first RTTVAR is R/2");
    // Second sample 0.2 s, of which the server spent 0.04 s: R' = 0.16.
    let b = e.sent(Seconds(1.0), Bytes(1000));
    assert!(e.answered(Seconds(1.2), b, Some(Seconds(0.04))));
    let s = e.estimate(Seconds(1.2));
    assert!((s.rttvar.0 - (0.75 * 0.05 + 0.25 * 0.06)).abs() < 1e-12);
    assert!((s.srtt.unwrap().0 - (0.875 * 0.1 + 0.125 * 0.16)).abs() < 1e-12);
    assert!((s.min_rtt.unwrap().0 - 0.1).abs() < 1e-12);
    assert!(!e.answered(Seconds(1.3), b, None), "answered twice");
}

#[test]
fn a_stall_or_a_link_failure_marks_the_link_down_and_an_answer_clears_it() {
    let mut e = est();
    let a = e.sent(Seconds(0.0), Bytes(100));
    assert!(!e.estimate(Seconds(0.9)).down);
    assert!(e.estimate(Seconds(1.0)).down, "stalled for `stall`");
    assert!(e.failed(Seconds(1.5), a, true));
    assert!(
        e.estimate(Seconds(1.5)).down,
        "the last offload failed on the link"
    );
    let b = e.sent(Seconds(2.0), Bytes(100));
    e.answered(Seconds(2.05), b, None);
    assert!(!e.estimate(Seconds(2.05)).down);
    // A refusal by the server is not the link's fault.
    let c = e.sent(Seconds(3.0), Bytes(100));
    e.failed(Seconds(3.1), c, false);
    assert!(!e.estimate(Seconds(3.1)).down);
    assert_eq!(e.counts(), (1, 2));
}

/// A FIFO link of time-varying rate (a [`LinkTrace`]) with a fixed round trip: the time at
/// which an offload sent at `t` is answered (`None`: the link never carries it).
struct SimLink {
    trace: LinkTrace,
    rtt: f64,
    free: f64,
}

impl SimLink {
    fn new(trace: LinkTrace, rtt: f64) -> Self {
        SimLink {
            trace,
            rtt,
            free: 0.0,
        }
    }

    fn send(&mut self, t: f64, bytes: u64) -> Option<f64> {
        let mut now = t.max(self.free);
        let mut bits = bytes as f64 * 8.0;
        let segs = self.trace.segments();
        while bits > 0.0 {
            let i = segs.partition_point(|s| s.start.0 <= now).saturating_sub(1);
            let until = segs.get(i + 1).map_or(f64::INFINITY, |s| s.start.0);
            let rate = segs[i].bps;
            if rate == 0.0 {
                if until.is_infinite() {
                    return None;
                }
                now = until;
                continue;
            }
            let dt = (bits / rate).min(until - now);
            bits -= dt * rate;
            now += dt;
            if bits < 1e-6 {
                bits = 0.0;
            }
        }
        self.free = now;
        Some(now + self.rtt)
    }
}

#[test]
fn goodput_reads_the_link_rate_and_follows_a_step_down_and_up() {
    let trace = LinkTrace::phases(&[
        (Seconds(10.0), 20.0),
        (Seconds(10.0), 1.0),
        (Seconds(10.0), 20.0),
    ])
    .unwrap();
    let mut link = SimLink::new(trace, 0.040);
    let mut e = est();
    // A saturating sender: 64 KB every 10 ms (52 Mbit/s offered).
    let mut pending: Vec<(f64, OffloadId)> = Vec::new();
    let at = |e: &LinkEstimator, t: f64| e.estimate(Seconds(t)).goodput_bps.unwrap_or(0.0);
    let mut readings = Vec::new();
    for step in 0..3000 {
        let t = step as f64 * 0.01;
        pending.sort_by(|a, b| b.0.total_cmp(&a.0));
        while pending.last().is_some_and(|p| p.0 <= t) {
            let (a, id) = pending.pop().unwrap();
            e.answered(Seconds(a), id, None);
        }
        // Keep about 4 offloads in flight, as a bounded worker does.
        if e.in_flight() < 4 {
            let id = e.sent(Seconds(t), Bytes(64_000));
            pending.push((link.send(t, 64_000).unwrap(), id));
        }
        if step % 100 == 99 {
            readings.push((t, at(&e, t)));
        }
    }
    let near = |t: f64| readings.iter().find(|r| (r.0 - t).abs() < 0.05).unwrap().1;
    for (t, want) in [(9.99, 20e6), (19.99, 1e6), (29.99, 20e6)] {
        let got = near(t);
        assert!(
            (got / want - 1.0).abs() < 0.15,
            "goodput at {t} s: {got} bit/s, link {want}"
        );
    }
    // Down within the window (2 s) plus the time the queue takes to drain at 1 Mbit/s.
    assert!(near(13.99) < 1.2e6, "{readings:?}");
}

#[test]
fn an_idle_link_keeps_its_estimate_and_noise_stays_bounded() {
    let mut e = est();
    // Noisy latencies around 50 ms (+-20%, a fixed pseudo-random sequence).
    let mut x: u64 = 12345;
    let mut lat = Vec::new();
    for i in 0..400 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let jitter = ((x >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 0.4;
        let l = 0.05 * (1.0 + jitter);
        lat.push(l);
        let t = i as f64 * 0.1;
        let id = e.sent(Seconds(t), Bytes(10_000));
        e.answered(Seconds(t + l), id, None);
    }
    let s = e.estimate(Seconds(40.0));
    let srtt = s.srtt.unwrap().0;
    assert!((srtt / 0.05 - 1.0).abs() < 0.1, "srtt {srtt}");
    assert!(s.rttvar.0 < 0.02, "rttvar {:?}", s.rttvar);
    let before = s.goodput_bps.unwrap();
    // A minute without traffic: nothing lowers the goodput.
    let later = e.estimate(Seconds(100.0));
    assert_eq!(later.goodput_bps, Some(before));
    assert!(!later.down);
}

#[test]
fn admission_holds_the_latency_budget_and_probes_a_down_link_with_backoff() {
    let mut p = LinkPolicy::new(LinkBudgets {
        latency: Some(Seconds(0.150)),
        ..LinkBudgets::default()
    })
    .unwrap();
    let mut e = est();
    // Nothing known yet: the first offload is sent to learn.
    let first = p.admit(
        Seconds(0.0),
        Seconds(0.0),
        Bytes(3136),
        &e.estimate(Seconds(0.0)),
    );
    let Admission::Send { deadline: Some(d) } = first else {
        panic!("the first offload is sent: {first:?}");
    };
    assert!(
        (d.0 - 0.140).abs() < 1e-12,
        "150 ms less the 10 ms margin: {d:?}"
    );
    let id = e.sent(Seconds(0.0), Bytes(3136));
    e.answered(Seconds(0.1), id, None);
    let s = e.estimate(Seconds(0.1));
    // Predicted 0.1 + 2 x 0.05: over the 150 ms left. Nothing is in flight, so the first such
    // offload goes as a probe (its sample answered at the edge); the next ones wait.
    assert_eq!(
        p.admit(Seconds(0.1), Seconds(0.0), Bytes(3136), &s),
        Admission::Probe(Withheld::OverBudget)
    );
    assert_eq!(
        p.admit(Seconds(0.11), Seconds(0.0), Bytes(3136), &s),
        Admission::Withhold(Withheld::OverBudget)
    );
    // 50 ms of the budget already spent waiting: 100 ms left, and a 10 ms link.
    let fast = LinkEstimate {
        srtt: Some(Seconds(0.01)),
        min_rtt: Some(Seconds(0.01)),
        rttvar: Seconds(0.0),
        ..s
    };
    let Admission::Send { deadline: Some(d) } =
        p.admit(Seconds(0.2), Seconds(0.05), Bytes(3136), &fast)
    else {
        panic!("a fast link gets the offload");
    };
    // The budget left less the margin (10% of 150 ms, at most 10 ms).
    assert!(
        (d.0 - 0.09).abs() < 1e-12,
        "the deadline is the budget left less the margin: {d:?}"
    );
    let mut p = LinkPolicy::new(*p.budgets()).unwrap();
    let down = LinkEstimate { down: true, ..fast };
    let mut probes = Vec::new();
    for i in 0..400 {
        let t = 1.0 + i as f64 * 0.01;
        if p.admit(Seconds(t), Seconds(0.0), Bytes(3136), &down)
            == Admission::Probe(Withheld::LinkDown)
        {
            probes.push(t);
        }
    }
    let gaps: Vec<f64> = probes
        .windows(2)
        .map(|w| (w[1] - w[0] * 1.0) * 100.0)
        .map(f64::round)
        .collect();
    assert_eq!(&gaps[..3], &[25.0, 50.0, 100.0], "{probes:?}");
    assert!(
        gaps[3..].iter().all(|&g| g == 100.0),
        "at most 1 s between probes: {gaps:?}"
    );
}

#[test]
fn the_uplink_cap_holds_its_rate_on_average() {
    let mut p = LinkPolicy::new(LinkBudgets {
        uplink_bps: Some(200_000.0),
        ..LinkBudgets::default()
    })
    .unwrap();
    let e = est().estimate(Seconds(0.0));
    let mut sent = 0u64;
    // 100 offloads of 3136 bytes a second for 60 s: 2.5 Mbit/s asked, 200 kbit/s allowed.
    for i in 0..6000 {
        if let Admission::Send { .. } =
            p.admit(Seconds(i as f64 * 0.01), Seconds(0.0), Bytes(3136), &e)
        {
            sent += 3136;
        }
    }
    let bps = sent as f64 * 8.0 / 60.0;
    assert!(
        bps <= 200_000.0 * (1.0 + 1.0 / 60.0) && bps > 190_000.0,
        "{bps}"
    );
}

#[test]
fn max_share_takes_the_tightest_of_the_uplink_and_energy_budgets() {
    let demand = Demand {
        samples_per_s: 100.0,
        bytes_per_offload: Bytes(3136),
        edge_energy: Joules(50e-6),
        radio_energy: Joules(7.5e-3),
    };
    let share = |b: LinkBudgets| LinkPolicy::new(b).unwrap().max_share(&demand);
    assert_eq!(share(LinkBudgets::default()), 1.0);
    // 200 kbit/s over 2.5 Mbit/s asked at share 1.
    let up = share(LinkBudgets {
        uplink_bps: Some(200_000.0),
        ..Default::default()
    });
    assert!((up - 200_000.0 / (100.0 * 3136.0 * 8.0)).abs() < 1e-12);
    // 1 mJ per sample: (1e-3 - 50e-6) / 7.5e-3.
    let en = share(LinkBudgets {
        energy: Some(Joules(1e-3)),
        ..Default::default()
    });
    assert!((en - 0.95e-3 / 7.5e-3).abs() < 1e-12);
    // A budget below the edge's own energy allows no offload at all.
    assert_eq!(
        share(LinkBudgets {
            energy: Some(Joules(1e-5)),
            ..Default::default()
        }),
        0.0
    );
    for bad in [
        LinkBudgets {
            latency: Some(Seconds(0.0)),
            ..Default::default()
        },
        LinkBudgets {
            energy: Some(Joules(f64::NAN)),
            ..Default::default()
        },
        LinkBudgets {
            uplink_bps: Some(-1.0),
            ..Default::default()
        },
    ] {
        assert!(LinkPolicy::new(bad).is_err(), "{bad:?}");
    }
}

/// Per phase of a closed-loop run: samples, within the budget, offloads sent, candidates.
#[derive(Debug, Default, Clone, Copy)]
struct Phase {
    samples: usize,
    within: usize,
    sent: usize,
    candidates: usize,
}

/// The paper's trace on a simulated link (20 Mbit/s 30 s, 1 Mbit/s 30 s, cut 10 s, 20 Mbit/s
/// 30 s; RTT 40 ms), 100 samples a second of which every fifth is an offload candidate of
/// `bytes`, held to a 150 ms budget by the estimator and the admission. Returns the phases
/// and the time the first offload was sent after the cut.
fn closed_loop(bytes: u64) -> (Vec<Phase>, f64) {
    let trace = LinkTrace::phases(&[
        (Seconds(30.0), 20.0),
        (Seconds(30.0), 1.0),
        (Seconds(10.0), 0.0),
        (Seconds(30.0), 20.0),
    ])
    .unwrap();
    let mut link = SimLink::new(trace, 0.040);
    let mut e = est();
    let mut p = LinkPolicy::new(LinkBudgets {
        latency: Some(Seconds(0.150)),
        ..LinkBudgets::default()
    })
    .unwrap();
    let mut phases = vec![Phase::default(); 4];
    let phase_of = |t: f64| [30.0, 60.0, 70.0].iter().filter(|&&b| t >= b).count();
    // (time, id, answered?): what the estimator hears, in time order.
    let mut events: Vec<(f64, OffloadId, bool)> = Vec::new();
    let mut back = f64::NAN;
    for i in 0..10_000 {
        let t = i as f64 * 0.01;
        events.sort_by(|a, b| b.0.total_cmp(&a.0));
        while events.last().is_some_and(|ev| ev.0 <= t) {
            let (at, id, ok) = events.pop().unwrap();
            if ok {
                e.answered(Seconds(at), id, None);
            } else {
                e.failed(Seconds(at), id, true);
            }
        }
        let ph = &mut phases[phase_of(t)];
        ph.samples += 1;
        let mut latency = 0.0;
        if i % 5 == 0 {
            ph.candidates += 1;
            let decision = p.admit(
                Seconds(t),
                Seconds(0.0),
                Bytes(bytes),
                &e.estimate(Seconds(t)),
            );
            let deadline = match decision {
                Admission::Send { deadline } => {
                    ph.sent += 1;
                    if t >= 70.0 && back.is_nan() {
                        back = t;
                    }
                    deadline.map_or(f64::INFINITY, |d| d.0)
                }
                // A probe's sample is answered at the edge; the probe has a second to come back.
                Admission::Probe(_) => 1.0,
                Admission::Withhold(_) => -1.0,
            };
            if deadline >= 0.0 {
                let id = e.sent(Seconds(t), Bytes(bytes));
                let answer = link.send(t, bytes).map_or(f64::INFINITY, |a| a - t);
                let (at, ok) = if answer <= deadline {
                    (t + answer, true)
                } else {
                    (t + deadline, false)
                };
                events.push((at, id, ok));
                if matches!(decision, Admission::Send { .. }) {
                    latency = at - t;
                }
            }
        }
        if latency <= 0.150 + 1e-9 {
            ph.within += 1;
        }
    }
    (phases, back)
}

#[test]
fn closed_loop_holds_a_150_ms_budget_through_a_step_down_and_an_outage() {
    // Fashion-MNIST in f32 (3,136 bytes): 1 Mbit/s carries the offloads.
    let (phases, back) = closed_loop(3136);
    for (i, ph) in phases.iter().enumerate() {
        let within = ph.within as f64 / ph.samples as f64;
        assert!(
            within >= 0.99,
            "phase {i}: {within} within the budget ({ph:?})"
        );
    }
    assert!(
        phases[0].sent as f64 / phases[0].candidates as f64 > 0.99,
        "{phases:?}"
    );
    assert!(
        phases[1].sent as f64 / phases[1].candidates as f64 > 0.9,
        "{phases:?}"
    );
    // Only what is sent before the first offload into the cut fails, at its 150 ms deadline.
    assert!(phases[2].sent <= 4, "sent into the cut: {phases:?}");
    assert!(
        back - 70.0 <= 1.5,
        "offloads resume {back} s after the cut ends"
    );
    // The last phase, from 5 s after the cut: every candidate offloaded again.
    assert!(
        phases[3].sent as f64 / phases[3].candidates as f64 > 0.95,
        "{phases:?}"
    );
}

#[test]
fn closed_loop_withholds_what_a_slow_link_cannot_carry_in_time() {
    // A 224x224 u8 crop (150,528 bytes): 1.2 s on the air at 1 Mbit/s, 60 ms at 20.
    let (phases, _) = closed_loop(150_528);
    for (i, ph) in phases.iter().enumerate() {
        let within = ph.within as f64 / ph.samples as f64;
        assert!(
            within >= 0.99,
            "phase {i}: {within} within the budget ({ph:?})"
        );
    }
    // One offload at a time fits (100 ms each at 20 Mbit/s), a second queued behind it not:
    // the gate is conservative with payloads this large, yet never withholds everything.
    assert!(phases[0].sent * 4 > phases[0].candidates, "{phases:?}");
    assert!(phases[3].sent * 4 > phases[3].candidates, "{phases:?}");
    assert!(
        phases[1].sent <= 2,
        "1 Mbit/s cannot answer 150 KB in 150 ms: {phases:?}"
    );
}
