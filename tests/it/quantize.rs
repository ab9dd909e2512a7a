//! meanet-quant's graphs in the real runtimes: a quantized graph is valid ONNX that ONNX
//! Runtime and tract load and run, and one int8 convolution's output agrees with a reference
//! computed by hand in integers.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use std::path::Path;

use meanet_core::Network;
use meanet_quant::testing::{conv_model, conv_weights};
use meanet_quant::{Activations, Collector, Method, Quantizer};
use ndarray::{ArrayD, IxDyn};

fn ort(path: &Path) -> Box<dyn Network> {
    let rt = meanet_onnx::Runtime::with_defaults().expect("ONNX Runtime (run scripts/setup)");
    Box::new(meanet_onnx::open(&rt, path).unwrap())
}

fn tract(path: &Path) -> Box<dyn Network> {
    Box::new(meanet_tract::open(path).unwrap())
}

/// The 16 input values, -1 to 1.55.
fn input() -> Vec<f32> {
    (0..16).map(|k| -1.0 + 2.55 * k as f32 / 15.0).collect()
}

/// The int8 convolution by hand: u8 input, per-channel s8 weights, int32 bias and
/// accumulator, u8 output over `[0, ymax]` (the folded Relu), dequantized, doubled by the Add.
fn by_hand(x: &[f32], ymax: f32) -> (Vec<f32>, f32) {
    let (lo, hi) = (
        x.iter().fold(0f32, |a, &v| a.min(v)),
        x.iter().fold(0f32, |a, &v| a.max(v)),
    );
    let sx = (hi - lo) / 255.0;
    let zx = (-lo / sx).round_ties_even() as i32;
    let qx: Vec<i32> = x
        .iter()
        .map(|&v| ((v / sx).round_ties_even() as i32 + zx).clamp(0, 255))
        .collect();
    let w = conv_weights();
    let bias = [0.5f32, -0.25];
    let sy = ymax / 255.0;
    let mut z = Vec::new();
    for c in 0..2 {
        let wc = &w[9 * c..9 * c + 9];
        let sw = wc.iter().fold(0f32, |a, &v| a.max(v.abs())) / 127.0;
        let qw: Vec<i32> = wc
            .iter()
            .map(|&v| (v / sw).round_ties_even() as i32)
            .collect();
        let qb = (bias[c] / (sx * sw)).round_ties_even() as i32;
        for oy in 0..2 {
            for ox in 0..2 {
                let mut acc = qb;
                for ky in 0..3 {
                    for kx in 0..3 {
                        acc += (qx[(oy + ky) * 4 + ox + kx] - zx) * qw[ky * 3 + kx];
                    }
                }
                let real = acc as f32 * sx * sw;
                let qy = ((real / sy).round_ties_even() as i32).clamp(0, 255);
                z.push(2.0 * qy as f32 * sy);
            }
        }
    }
    (z, sy)
}

#[test]
fn an_int8_convolution_agrees_with_the_hand_computed_reference_in_both_runtimes() {
    let dir = std::env::temp_dir().join(format!("meanet-quant-conv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let q = Quantizer::new(conv_model(17, None), "conv.onnx").unwrap();
    let aug = dir.join("augmented.onnx");
    std::fs::write(&aug, q.augmented().unwrap()).unwrap();
    let x = ArrayD::from_shape_vec(IxDyn(&[1, 1, 4, 4]), input()).unwrap();
    // Calibration through the Network port, as `meanet quantize` does.
    let mut net = ort(&aug);
    let outs = net.run(&[x.view()]).unwrap();
    let names = net.signature().output_names();
    let outputs: Vec<(&str, _)> = names
        .iter()
        .zip(&outs)
        .map(|(n, o)| (n.as_str(), o.view()))
        .collect();
    let mut c = Collector::new(Method::MinMax).unwrap();
    q.observe(&mut c, &[("x", x.view())], &outputs).unwrap();
    let ymax = outputs
        .iter()
        .find(|(n, _)| *n == "y")
        .map(|(_, y)| y.iter().fold(0f32, |a, &v| a.max(v)))
        .unwrap();
    assert!(ymax > 0.0);
    let int8 = dir.join("conv.int8.onnx");
    std::fs::write(&int8, q.quantize(&c, Activations::U8).unwrap()).unwrap();
    let (want, step) = by_hand(&input(), ymax);
    for (runtime, mut net) in [("ort", ort(&int8)), ("tract", tract(&int8))] {
        let got = net.run(&[x.view()]).unwrap().remove(0);
        let got: Vec<f32> = got.iter().copied().collect();
        assert_eq!(got.len(), want.len());
        let exact = got
            .iter()
            .zip(&want)
            .filter(|(g, w)| (*g - *w).abs() <= 1e-5)
            .count();
        for (g, w) in got.iter().zip(&want) {
            // Requantization may round one level apart (the output is doubled by the Add).
            assert!(
                (g - w).abs() <= 2.0 * step + 1e-5,
                "{runtime}: {got:?} against {want:?}"
            );
        }
        assert!(
            exact >= 6,
            "{runtime}: only {exact} of 8 exact: {got:?} against {want:?}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
