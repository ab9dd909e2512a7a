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
    // The server's own time is not the network's, but an answer waits for it: the prediction
    // adds it back to the least network latency.
    assert_eq!(s.server, Some(Seconds(0.04)));
    let p = LinkPolicy::predict(&s).unwrap().0;
    let expected = 0.1 + 0.04 + 2.0 * s.rttvar.0;
    assert!((p - expected).abs() < 1e-12, "{p} against {expected}");
    // A server that claims more than the whole time to answer is not believed.
    let c = e.sent(Seconds(2.0), Bytes(1000));
    assert!(e.answered(Seconds(2.1), c, Some(Seconds(5.0))));
    let s = e.estimate(Seconds(2.1));
    assert_eq!(s.server, Some(Seconds(0.04)));
    assert!((s.min_rtt.unwrap().0 - 0.1).abs() < 1e-12);
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
        None,
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
        p.admit(Seconds(0.1), Seconds(0.0), Bytes(3136), None, &s),
        Admission::Probe(Withheld::OverBudget)
    );
    assert_eq!(
        p.admit(Seconds(0.11), Seconds(0.0), Bytes(3136), None, &s),
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
        p.admit(Seconds(0.2), Seconds(0.05), Bytes(3136), None, &fast)
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
        if p.admit(Seconds(t), Seconds(0.0), Bytes(3136), None, &down)
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
        if let Admission::Send { .. } = p.admit(
            Seconds(i as f64 * 0.01),
            Seconds(0.0),
            Bytes(3136),
            None,
            &e,
        ) {
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

#[test]
fn the_rate_meter_reads_a_steady_stream_and_follows_a_change() {
    let mut m = RateMeter::new(Seconds(5.0));
    assert_eq!(m.rate(Seconds(0.0)), 0.0);
    let mut r = 0.0;
    for i in 0..1000 {
        r = m.observe(Seconds(i as f64 * 0.01), 1);
    }
    assert!((r - 100.0).abs() < 2.0, "100 samples/s: {r}");
    for i in 0..1000 {
        r = m.observe(Seconds(10.0 + i as f64 * 0.05), 1);
    }
    assert!((r - 20.0).abs() < 1.0, "20 samples/s: {r}");
    // Early on, a single sample is not read as a thousand a second.
    let mut fresh = RateMeter::new(Seconds(5.0));
    assert!(fresh.observe(Seconds(0.0), 1) <= 1.0);
}

/// LTE's radio as the energy model prices a burst after `gap` seconds (none: the first):
/// the tail since the previous burst (at most 11.576 s at 1.06 W), a promotion (0.2601 s at
/// 1.2107 W) after idle, and `air` joules on the air.
fn lte_burst(gap: Option<f64>, air: f64) -> f64 {
    let (tail, promoted) = match gap {
        Some(g) => (g.min(11.576), g > 11.576),
        None => (0.0, true),
    };
    tail * 1.06 + if promoted { 0.2601 * 1.2107 } else { 0.0 } + air
}

/// 100 samples a second for `secs`, a fifth of them offload candidates, each paid through the
/// account at LTE's burst price; returns the edge energy per sample and the offloads sent.
fn lte_stream(budget: f64, secs: usize) -> (f64, usize) {
    let mut p = LinkPolicy::new(LinkBudgets {
        energy: Some(Joules(budget)),
        ..LinkBudgets::default()
    })
    .unwrap();
    let e = est().estimate(Seconds(0.0));
    let edge = 50e-6;
    let (mut spent, mut sent, mut last) = (0.0, 0, None::<f64>);
    for i in 0..secs * 100 {
        let t = i as f64 * 0.01;
        p.credit(Seconds(t), 1, Joules(edge));
        spent += edge;
        if i % 5 != 0 {
            continue;
        }
        let cost = lte_burst(last.map(|l| t - l), 3e-3);
        if let Admission::Send { .. } = p.admit(
            Seconds(t),
            Seconds(0.0),
            Bytes(3136),
            Some(Joules(cost)),
            &e,
        ) {
            spent += cost;
            sent += 1;
            last = Some(t);
        }
    }
    (spent / (secs * 100) as f64, sent)
}

#[test]
fn the_energy_account_holds_a_budget_against_lte_tails() {
    // Sending every candidate costs about 20 x (10.6 + 3) mJ a second: 2.7 mJ a sample.
    let (free, all) = lte_stream(1.0, 120);
    assert_eq!(all, 2400, "a rich budget sends every candidate");
    assert!(free > 2.5e-3, "{free}");
    // 2 mJ, 1 mJ and 0.5 mJ: below what the tail alone costs when offloads are frequent.
    for budget in [2e-3, 1e-3, 0.5e-3] {
        let (per, sent) = lte_stream(budget, 600);
        assert!(per <= budget * 1.01, "budget {budget}: {per} J a sample");
        assert!(per >= budget * 0.7, "budget {budget} mostly used: {per}");
        assert!(sent > 0, "budget {budget} sends some");
    }
    // Below the edge's own energy: nothing is ever sent.
    assert_eq!(lte_stream(40e-6, 60).1, 0);
}

#[test]
fn the_energy_account_caps_idle_credit_and_settles_to_the_real_cost() {
    let mut a = EnergyAccount::new(Joules(1e-3));
    // Ten idle minutes at 100 samples a second: five seconds of credit at most (0.5 J).
    for i in 0..60_000 {
        a.credit(Seconds(i as f64 * 0.01), 1, Joules(0.0));
    }
    assert!((a.balance().0 - 0.5).abs() < 0.01, "{:?}", a.balance());
    // An offload dearer than the cap is refused, and the cap rises by its cost: it is paid
    // later, with five seconds' credit left for the next ones.
    assert!(!a.try_pay(Joules(8.0)));
    for i in 0..20_000 {
        a.credit(Seconds(600.0 + i as f64 * 0.01), 1, Joules(0.0));
    }
    assert!(a.try_pay(Joules(8.0)));
    let left = a.balance().0;
    assert!((left - 0.5).abs() < 0.01, "{left}");
    // Paid 8 J, cost 9 J: the account owes the difference.
    a.settle(Joules(8.0), Joules(9.0));
    assert!((a.balance().0 - (left - 1.0)).abs() < 1e-9);
    // A non-finite price is taken as nothing to pay: the account is unchanged.
    let before = a.balance();
    assert_eq!(a.try_pay(Joules(f64::NAN)), a.try_pay(Joules(0.0)));
    assert_eq!(a.balance(), before);
}

#[test]
fn probes_of_a_slow_link_keep_it_busy_at_most_a_quarter_of_the_time() {
    let mut p = LinkPolicy::new(LinkBudgets {
        latency: Some(Seconds(0.150)),
        ..LinkBudgets::default()
    })
    .unwrap();
    let down = LinkEstimate {
        down: true,
        ..est().estimate(Seconds(0.0))
    };
    let probe = |p: &mut LinkPolicy, t: f64| {
        p.admit(Seconds(t), Seconds(0.0), Bytes(150_000), None, &down)
            == Admission::Probe(Withheld::LinkDown)
    };
    assert!(probe(&mut p, 10.0));
    // The probe took 1.2 s to come back (150 KB at 1 Mbit/s): none for 3.6 s more.
    p.probed(Seconds(11.2), Seconds(1.2));
    assert!((1..140).all(|k| !probe(&mut p, 11.2 + k as f64 * 0.025)));
    assert!(probe(&mut p, 14.9));
    // A nonsensical duration changes nothing.
    p.probed(Seconds(15.0), Seconds(f64::NAN));
    p.probed(Seconds(15.0), Seconds(-1.0));
}
