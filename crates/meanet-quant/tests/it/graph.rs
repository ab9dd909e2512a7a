//! The graph rewrite on small hand-built models: what is quantized, folded, kept f32 and
//! refused, and the weights and biases written, against hand-computed values.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use meanet_quant::testing::{conv_model, conv_weights};
use meanet_quant::{Activations, Collector, Method, QuantError, Quantizer};
use ndarray::{ArrayD, IxDyn};
use onnx_rs::ast::{Attribute, AttributeType, DataType};

fn ops(bytes: &[u8]) -> Vec<String> {
    let m = onnx_rs::parse(bytes).unwrap();
    m.graph
        .unwrap()
        .node
        .iter()
        .map(|n| n.op_type.as_str().to_string())
        .collect()
}

#[test]
fn conv_relu_add_is_quantized_with_relu_folded() {
    let q = Quantizer::new(conv_model(17, None), "conv.onnx").unwrap();
    let a = q.analysis();
    assert_eq!(
        a.calibrated(),
        ["x", "y"],
        "the input and the folded Relu's output"
    );
    assert!(a.kept_f32().is_empty(), "{:?}", a.kept_f32());
    assert_eq!(a.quantized_ops().get("Conv"), Some(&1));
    assert_eq!(a.quantized_ops().get("Add"), Some(&1));
    // The augmented graph makes them outputs (not the input: the caller feeds it).
    let aug = q.augmented().unwrap();
    let m = onnx_rs::parse(&aug).unwrap();
    let outs: Vec<&str> = m
        .graph
        .as_ref()
        .unwrap()
        .output
        .iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(outs, ["z", "y"]);
}

fn calibrated(q: &Quantizer, x: &[f32], y: &[f32]) -> Collector {
    let mut c = Collector::new(Method::MinMax).unwrap();
    for (name, v) in [("x", x), ("y", y)] {
        let a = ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.to_vec()).unwrap();
        c.observe(name, a.view()).unwrap();
    }
    let _ = q;
    c
}

#[test]
fn weights_and_biases_are_written_as_computed_by_hand() {
    let q = Quantizer::new(conv_model(17, None), "conv.onnx").unwrap();
    let c = calibrated(&q, &[-1.0, 1.55], &[0.0, 2.0]);
    let bytes = q.quantize(&c, Activations::U8).unwrap();
    let m = onnx_rs::parse(&bytes).unwrap();
    let g = m.graph.as_ref().unwrap();
    let init = |name: &str| g.initializer.iter().find(|t| t.name() == name).unwrap();
    // Per-channel symmetric s8: scale = max|w_c| / 127; q = round_half_even(w / scale).
    let w = init("w_quantized_0");
    assert_eq!(w.data_type(), DataType::Int8);
    let raw: Vec<i8> = w.as_raw().unwrap().iter().map(|&b| b as i8).collect();
    let s = [1.0f32 / 127.0, 0.5 / 127.0];
    for (i, &v) in conv_weights().iter().enumerate() {
        let want = (v / s[i / 9]).round_ties_even() as i8;
        assert_eq!(raw[i], want, "weight {i}");
    }
    assert_eq!(raw[0], -127);
    assert_eq!(raw[17], 127);
    // Input: u8 over [-1, 1.55]: scale 2.55 / 255 = 0.01, zero point round(1 / 0.01) = 100.
    let sx = f32::from_le_bytes(init("x_scale").as_raw().unwrap().try_into().unwrap());
    assert!((sx - 0.01).abs() < 1e-7, "{sx}");
    assert_eq!(init("x_zero_point").as_raw().unwrap(), [100u8]);
    // Bias: int32 at scale sx * s_c.
    let b = init("b_quantized_0");
    assert_eq!(b.data_type(), DataType::Int32);
    let bq: Vec<i32> = b
        .as_raw()
        .unwrap()
        .chunks(4)
        .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(
        bq,
        [
            (0.5 / (sx * s[0])).round() as i32,
            (-0.25 / (sx * s[1])).round() as i32
        ]
    );
    // The float weights are gone; Relu folded; the QDQ pairs in place.
    assert!(
        g.initializer
            .iter()
            .all(|t| t.name() != "w" && t.name() != "b")
    );
    let ops = ops(&bytes);
    assert!(!ops.contains(&"Relu".to_string()), "{ops:?}");
    assert_eq!(ops.iter().filter(|o| *o == "QuantizeLinear").count(), 2);
    assert_eq!(ops.iter().filter(|o| *o == "DequantizeLinear").count(), 4);
}

#[test]
fn unknown_operators_stay_f32_and_are_listed() {
    let q = Quantizer::new(conv_model(17, Some("Sigmoid")), "conv.onnx").unwrap();
    let kept = q.analysis().kept_f32();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        (kept[0].node.as_str(), kept[0].op.as_str()),
        ("extra", "Sigmoid")
    );
    assert_eq!(kept[0].why, "not in the table");
}

#[test]
fn a_quantized_graph_is_refused() {
    let q = Quantizer::new(conv_model(17, None), "conv.onnx").unwrap();
    let c = calibrated(&q, &[-1.0, 1.55], &[0.0, 2.0]);
    let bytes = q.quantize(&c, Activations::S8).unwrap();
    let err = Quantizer::new(bytes, "main.int8.onnx").unwrap_err();
    assert!(matches!(err, QuantError::AlreadyQuantized { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("main.int8.onnx is already quantized"),
        "{err}"
    );
}

#[test]
fn old_opsets_and_garbage_are_refused_by_name() {
    let err = Quantizer::new(conv_model(11, None), "old.onnx").unwrap_err();
    assert!(err.to_string().contains("opset 11"), "{err}");
    let err = Quantizer::new(b"not a model at all".to_vec(), "junk.onnx").unwrap_err();
    assert!(err.to_string().contains("junk.onnx"), "{err}");
    // A range missing for a tensor: named.
    let q = Quantizer::new(conv_model(17, None), "conv.onnx").unwrap();
    let mut c = Collector::new(Method::MinMax).unwrap();
    let a = ArrayD::from_shape_vec(IxDyn(&[1]), vec![1.0]).unwrap();
    c.observe("x", a.view()).unwrap();
    let err = q.quantize(&c, Activations::U8).unwrap_err();
    assert!(err.to_string().contains("\"y\""), "{err}");
}

#[test]
fn attributes_survive() {
    // The Conv keeps its attributes (none here) and the DequantizeLinear of the weight has
    // axis 0.
    let q = Quantizer::new(conv_model(17, None), "conv.onnx").unwrap();
    let c = calibrated(&q, &[-1.0, 1.55], &[0.0, 2.0]);
    let bytes = q.quantize(&c, Activations::U8).unwrap();
    let m = onnx_rs::parse(&bytes).unwrap();
    let dq = m
        .graph
        .as_ref()
        .unwrap()
        .node
        .iter()
        .find(|n| n.name == "w_quantized_0_DequantizeLinear")
        .unwrap();
    let axis: &Attribute<'_> = dq.attribute.iter().find(|a| a.name == "axis").unwrap();
    assert_eq!((axis.r#type, axis.i), (AttributeType::Int, 0));
}
