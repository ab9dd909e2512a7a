use super::*;
use meanet_core::{CloudErrorKind, Joules, RouteReason, SampleCost, Scores, Seconds};

fn outcome(exit: Exit, degraded: Option<CloudErrorKind>) -> Outcome {
    Outcome {
        index: 0,
        class: 0,
        exit,
        main: Scores::from_logits(&[1.0, 0.0]).unwrap_or_else(|_| unreachable!()),
        extension: None,
        cloud: None,
        reason: RouteReason::EasyConfident,
        cost: SampleCost {
            bytes_sent: meanet_core::Bytes(100),
            ..SampleCost::default()
        },
        degraded,
        cloud_latency: (exit == Exit::Cloud).then_some(Seconds(0.02)),
        withheld: None,
        latency: None,
    }
}

#[test]
fn counts_exits_causes_and_the_live_share() {
    let m = RoutingMetrics::new(Some("offload=0.2".into()));
    let e = EnergyBreakdown {
        edge_compute: Joules(1e-6),
        ..EnergyBreakdown::default()
    };
    for _ in 0..6 {
        m.record(&outcome(Exit::Main, None), &e);
    }
    m.record(&outcome(Exit::Cloud, None), &e);
    m.record(&outcome(Exit::Main, Some(CloudErrorKind::Timeout)), &e);
    m.watch_breaker(Arc::new(|| "open"));
    let text = m.encode();
    for line in [
        "meanet_exits_total{exit=\"main\"} 7",
        "meanet_exits_total{exit=\"cloud\"} 1",
        "meanet_degraded_total{cause=\"timeout\"} 1",
        "meanet_circuit_breaker{state=\"open\"} 1",
        "meanet_circuit_breaker{state=\"closed\"} 0",
        "meanet_bytes_sent_total 800",
        "meanet_offload_share 0.25",
        "meanet_offload_share_target 0.2",
        "meanet_offload_latency_seconds_count 1",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    assert_eq!(m.offload_target(), Some(0.2));
}

#[test]
fn estimates_the_edge_accuracy_per_class_from_cloud_answers() {
    let p = ClassPartition::try_new(2, vec![1]).unwrap_or_else(|_| unreachable!());
    let m = RoutingMetrics::new(None).with_classes(vec!["cat".into(), "dog".into()], p);
    let e = EnergyBreakdown::default();
    // The edge said class 0 (main logits [1, 0]); the cloud says 0 three times, 1 once.
    for cloud in [0.0f32, 0.0, 0.0, 5.0] {
        let mut o = outcome(Exit::Cloud, None);
        o.cloud = Some(Scores::from_logits(&[1.0, cloud]).unwrap_or_else(|_| unreachable!()));
        m.record(&o, &e);
    }
    m.set_scale(1.5);
    let text = m.encode();
    let line = text
        .lines()
        .find(|l| l.starts_with("meanet_edge_accuracy_estimate{class=\"cat\"}"))
        .unwrap_or_else(|| panic!("no estimate in\n{text}"));
    let v: f64 = line
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1.0);
    assert!((v - 0.75).abs() < 0.01, "{line}");
    assert!(text.contains("meanet_threshold_scale 1.5"), "{text}");
}

#[test]
fn the_share_slides_over_the_window() {
    let m = RoutingMetrics::new(None);
    let e = EnergyBreakdown::default();
    for _ in 0..SHARE_WINDOW {
        m.record(&outcome(Exit::Cloud, None), &e);
    }
    assert_eq!(m.offload_share(), 1.0);
    for _ in 0..SHARE_WINDOW / 2 {
        m.record(&outcome(Exit::Main, None), &e);
    }
    assert!((m.offload_share() - 0.5).abs() < 1e-12);
    assert_eq!(m.offload_target(), None);
}
