use super::trace::*;
use crate::units::Seconds;

#[test]
fn seconds_mbps_holds_each_rate_until_the_next_line() {
    let text = "# the issue's trace\n0 20\n30 1   # step down\n60 0\n70 20\n100 20\n";
    assert_eq!(TraceFormat::detect(text), TraceFormat::SecondsMbps);
    let t = LinkTrace::parse(text, TraceFormat::SecondsMbps).unwrap();
    assert_eq!(t.end(), Seconds(100.0));
    for (at, bps) in [
        (0.0, 20e6),
        (29.9, 20e6),
        (30.0, 1e6),
        (65.0, 0.0),
        (70.0, 20e6),
        (500.0, 20e6),
    ] {
        assert_eq!(t.bps_at(Seconds(at)), bps, "at {at} s");
    }
    // Written back and read again, it is the same trace.
    let again = LinkTrace::parse(&t.to_seconds_mbps(), TraceFormat::SecondsMbps).unwrap();
    assert_eq!(again.bps_at(Seconds(65.0)), 0.0);
    assert_eq!(again.end(), t.end());
}

#[test]
fn mahimahi_counts_delivery_opportunities_per_bin() {
    // One 1,500-byte opportunity each millisecond for a second (12 Mbit/s), then one every
    // 12 ms for a second (1 Mbit/s).
    let mut text = String::new();
    for ms in 0..1000 {
        text.push_str(&format!("{ms}\n"));
    }
    for ms in (1000..2000).step_by(12) {
        text.push_str(&format!("{ms}\n"));
    }
    assert_eq!(TraceFormat::detect(&text), TraceFormat::Mahimahi);
    let t = LinkTrace::parse(&text, TraceFormat::Mahimahi).unwrap();
    assert!((t.bps_at(Seconds(0.5)) - 12e6).abs() < 1.0);
    let slow = t.bps_at(Seconds(1.5));
    assert!((slow / 1e6 - 1.0).abs() < 0.1, "{slow}");
    assert_eq!(t.end(), Seconds(1.996));
}

#[test]
fn bad_traces_get_an_error_naming_the_line() {
    let cases: &[(&str, TraceFormat, &str)] = &[
        (
            "0 20\n10 5\n5 1\n",
            TraceFormat::SecondsMbps,
            "line 3: time 5 is before the previous line's 10",
        ),
        (
            "0 20\n10 -5\n",
            TraceFormat::SecondsMbps,
            "line 2: rate -5 must be finite and >= 0",
        ),
        (
            "0 20\n10 NaN\n",
            TraceFormat::SecondsMbps,
            "line 2: rate NaN",
        ),
        (
            "0 20\nhello world\n",
            TraceFormat::SecondsMbps,
            "line 2: expected two numbers",
        ),
        (
            "0 20 7\n",
            TraceFormat::SecondsMbps,
            "line 1: expected two numbers",
        ),
        (
            "# only comments\n\n",
            TraceFormat::SecondsMbps,
            "no data line",
        ),
        (
            "5\n3\n",
            TraceFormat::Mahimahi,
            "line 2: time 0.003 is before the previous line's 0.005",
        ),
        (
            "5\n-3\n",
            TraceFormat::Mahimahi,
            "line 2: time -3 must be finite",
        ),
        (
            "5\n1.5\n",
            TraceFormat::Mahimahi,
            "line 2: expected one whole millisecond",
        ),
        (
            "99999999999999\n",
            TraceFormat::Mahimahi,
            "line 1: more than",
        ),
    ];
    for (text, format, want) in cases {
        let e = LinkTrace::parse(text, *format).unwrap_err().to_string();
        assert!(e.contains(want), "{text:?}: {e}");
    }
    let huge = "0 1\n".repeat(MAX_TRACE_BYTES / 4 + 1);
    let e = LinkTrace::parse(&huge, TraceFormat::SecondsMbps).unwrap_err();
    assert!(matches!(e, TraceError::TooLarge(_)), "{e}");
}

#[test]
fn generated_traces_step_saw_and_cut() {
    let steps = LinkTrace::phases(&[
        (Seconds(30.0), 20.0),
        (Seconds(30.0), 1.0),
        (Seconds(10.0), 0.0),
    ])
    .unwrap();
    assert_eq!(steps.end(), Seconds(70.0));
    assert_eq!(steps.bps_at(Seconds(65.0)), 0.0);
    let saw = LinkTrace::sawtooth(20.0, 2.0, Seconds(10.0), 10, 3).unwrap();
    assert_eq!(saw.end(), Seconds(30.0));
    assert_eq!(saw.bps_at(Seconds(0.5)), 20e6);
    assert_eq!(saw.bps_at(Seconds(9.5)), 2e6);
    assert_eq!(saw.bps_at(Seconds(10.5)), 20e6);
    assert!(LinkTrace::phases(&[(Seconds(-1.0), 1.0)]).is_none());
    assert!(LinkTrace::phases(&[]).is_none());
}
