//! The calibration methods on a fixed tensor, against ranges computed independently: the exact
//! extent, exact sorted percentiles, and ONNX Runtime 1.32's own calibrators.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use meanet_quant::{Collector, Method, QuantError};
use ndarray::{ArrayD, IxDyn};

/// 10,000 values: a sine of amplitude 3, and ten outliers near 20.
fn fixed() -> Vec<f32> {
    (0..10_000)
        .map(|i| {
            let v = (i as f32 * 0.7).sin() * 3.0;
            if i % 997 == 0 { v + 20.0 } else { v }
        })
        .collect()
}

fn collect(method: Method, values: &[f32]) -> Result<Collector, QuantError> {
    // Two batches, to show that ranges accumulate across them.
    collect_split(method, values, values.len() / 2)
}

fn collect_split(method: Method, values: &[f32], at: usize) -> Result<Collector, QuantError> {
    let mut c = Collector::new(method)?;
    let (a, b) = values.split_at(at);
    let passes = if method.needs_histograms() { 2 } else { 1 };
    for pass in 0..passes {
        if pass == 1 {
            c.start_second_pass();
        }
        for part in [a, b] {
            let x = ArrayD::from_shape_vec(IxDyn(&[part.len()]), part.to_vec()).unwrap();
            c.observe("t", x.view())?;
        }
    }
    Ok(c)
}

#[test]
fn minmax_is_the_observed_extent() {
    let v = fixed();
    let r = collect(Method::MinMax, &v)
        .unwrap()
        .range("t")
        .unwrap()
        .unwrap();
    let lo = v.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    assert_eq!((r.min, r.max), (lo, hi));
}

#[test]
fn percentile_is_the_sorted_quantile_to_within_a_bin() {
    let v = fixed();
    let mut abs: Vec<f32> = v.iter().map(|x| x.abs()).collect();
    abs.sort_by(f32::total_cmp);
    let amax = *abs.last().unwrap();
    let width = amax / 2048.0;
    for p in [99.0, 99.9, 99.99] {
        let r = collect(Method::Percentile(p), &v)
            .unwrap()
            .range("t")
            .unwrap()
            .unwrap();
        let k = ((p / 100.0) * abs.len() as f64).ceil() as usize - 1;
        let exact = abs[k];
        // The histogram's threshold is the left edge of the bin holding the quantile.
        assert!(
            (r.max - exact).abs() <= width,
            "p{p}: {} against the exact {exact}",
            r.max
        );
        // Symmetric, clamped to the observed extent below.
        let lo = v.iter().copied().fold(f32::INFINITY, f32::min);
        assert_eq!(r.min, (-r.max).max(lo));
    }
}

/// ONNX Runtime 1.32.0's `HistogramCollector` on the same 10,000 values (numpy f32), in the
/// same two batches: percentile with `symmetric=True, num_bins=2048` gives `(-3.0, 22.866293)`
/// at 99.99, `(-3.0, 19.626991)` at 99.925 and `(-2.993345, 2.993345)` at 99.5 (percentiles
/// whose rank is not a whole number of these 10,000 values, where the float sums of either
/// side may fall on either side of the boundary); entropy with its defaults (`num_bins=128,
/// num_quantized_bins=128`, what `quantize_static` runs) gives `(-3.0, 22.955963)` when the
/// first batch holds an outlier (one candidate: the whole extent), and `(-3.0, 3.0468693)` when
/// the first batch (values 1..997) holds none and the histogram grows for the second.
#[test]
fn percentile_and_entropy_agree_with_onnxruntime() {
    let v = fixed();
    let amax = v.iter().fold(0f32, |a, x| a.max(x.abs()));
    for (method, at, want, tol) in [
        // One bin (a sine's last bit may differ between libms and move a value across an edge).
        (
            Method::Percentile(99.99),
            5000,
            22.866_293,
            1.5 * amax / 2048.0,
        ),
        (
            Method::Percentile(99.925),
            5000,
            19.626_991,
            1.5 * amax / 2048.0,
        ),
        (
            Method::Percentile(99.5),
            5000,
            2.993_344_5,
            1.5 * amax / 2048.0,
        ),
        (Method::Entropy, 5000, 22.955_963, 1e-4),
        (Method::Entropy, 997, 3.046_869_3, 1.5 * 6.0 / 128.0),
    ] {
        let values = if at == 997 { &v[1..] } else { &v[..] };
        let at = if at == 997 { 996 } else { at };
        let r = collect_split(method, values, at)
            .unwrap()
            .range("t")
            .unwrap()
            .unwrap();
        assert!(
            (r.max - want).abs() <= tol,
            "{method:?} split at {at}: {} against ONNX Runtime's {want}",
            r.max
        );
        assert!(
            (r.min + 3.0f32.min(want)).abs() <= tol,
            "{method:?}: min {}",
            r.min
        );
    }
}

#[test]
fn entropy_clips_outliers_only_beyond_the_first_batch() {
    let v = fixed();
    // A uniform first batch: the outliers of the second lie beyond it and are clipped.
    let r = collect_split(Method::Entropy, &v[1..], 996)
        .unwrap()
        .range("t")
        .unwrap()
        .unwrap();
    assert!(r.max < 10.0, "the outliers near 20 are clipped: {}", r.max);
    // All of a uniform range is kept.
    let uniform: Vec<f32> = (0..8192).map(|i| i as f32 / 8191.0 * 2.0 - 1.0).collect();
    let r = collect(Method::Entropy, &uniform)
        .unwrap()
        .range("t")
        .unwrap()
        .unwrap();
    assert!(r.max > 0.9 && r.min < -0.9, "{r:?}");
}

#[test]
fn bad_calibration_data_is_refused_by_name() {
    // Too few values for the percentile asked.
    let err = collect(Method::Percentile(99.99), &fixed()[..500])
        .unwrap()
        .range("t")
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, QuantError::TooFewForPercentile { .. }),
        "{msg}"
    );
    assert!(msg.contains("\"t\"") && msg.contains("10000"), "{msg}");
    // A percentile outside (0, 100].
    assert!(matches!(
        Collector::new(Method::Percentile(120.0)),
        Err(QuantError::Percentile(_))
    ));
    // A non-finite value.
    let mut c = Collector::new(Method::MinMax).unwrap();
    let x = ArrayD::from_shape_vec(IxDyn(&[2]), vec![1.0, f32::NAN]).unwrap();
    let err = c.observe("act", x.view()).unwrap_err();
    assert!(err.to_string().contains("\"act\""), "{err}");
    // A tensor never observed has no range.
    assert!(c.range("other").unwrap().is_none());
}
