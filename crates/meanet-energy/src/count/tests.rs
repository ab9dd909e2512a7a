use crate::Graph;

#[path = "../../tests/it/common.rs"]
mod common;

#[test]
fn conv_and_gemm_match_hand_computation() {
    let mut b = common::Builder::new(false);
    // Conv 3->8, 3x3, stride 2, pad 1 on 32x32: out 8x16x16; MACs = 8*16*16 * 3*3*3 = 55_296.
    let c = b.conv("input", 3, 8, 3, 2, 1, 1);
    let g = b.gap(c);
    let f = b.flatten(g);
    // Gemm 8 -> 5 with bias: MACs = 8 * 5 = 40, bias adds 5.
    let out = b.gemm(f, 8, 5);
    let bytes = b.finish(3, 32, 32, out);
    let p = Graph::parse(&bytes, "hand").unwrap().profile(2).unwrap();
    let conv = &p.layers[0];
    assert_eq!(conv.op_type, "Conv");
    assert_eq!(conv.output_shape, vec![2, 8, 16, 16]);
    assert_eq!(conv.macs, 2 * 55_296);
    assert_eq!(conv.params, 8 * 3 * 9);
    assert_eq!(conv.weight_bytes, 8 * 3 * 9 * 4);
    assert_eq!(conv.activation_read_bytes, 2 * 3 * 32 * 32 * 4);
    assert_eq!(conv.activation_write_bytes, 2 * 8 * 16 * 16 * 4);
    let gemm = p.layers.iter().find(|l| l.op_type == "Gemm").unwrap();
    assert_eq!(gemm.output_shape, vec![2, 5]);
    assert_eq!(gemm.macs, 2 * 40);
    assert_eq!(gemm.flops, 2 * 5);
    assert_eq!(gemm.params, 8 * 5 + 5);
    let gap = &p.layers[1];
    assert_eq!(gap.flops, 2 * 8 * 16 * 16);
    assert_eq!(p.macs_per_sample().0, 55_296 + 40);
}

#[test]
fn depthwise_conv_counts_one_input_channel_per_output() {
    let mut b = common::Builder::new(false);
    let c = b.conv("input", 16, 16, 3, 1, 1, 16);
    let bytes = b.finish(16, 10, 10, c);
    let p = Graph::parse(&bytes, "dw").unwrap().profile(1).unwrap();
    assert_eq!(p.layers[0].macs, 16 * 10 * 10 * 9);
}

#[test]
fn unknown_ops_are_listed_and_their_consumers_uncounted() {
    let mut b = common::Builder::new(false);
    let c = b.conv("input", 1, 2, 3, 1, 1, 1);
    let w = b.custom("FancyNorm", c);
    let r = b.relu(w);
    let bytes = b.finish(1, 8, 8, r);
    let p = Graph::parse(&bytes, "custom").unwrap().profile(1).unwrap();
    assert_eq!(p.unsupported_ops, vec!["FancyNorm".to_string()]);
    assert_eq!(p.layers.len(), 1, "only the conv is counted");
    assert_eq!(p.uncounted.len(), 2);
    assert!(p.uncounted[0].1.contains("unsupported operator FancyNorm"));
    assert!(p.uncounted[1].1.contains("unknown shape"));
    assert!(!p.is_complete());
}

#[test]
fn corrupt_truncated_and_empty_bytes_are_errors() {
    let mut b = common::Builder::new(false);
    let c = b.conv("input", 1, 2, 3, 1, 1, 1);
    let bytes = b.finish(1, 8, 8, c);
    for cut in [bytes.len() / 2, bytes.len() - 3, 7] {
        let err = Graph::parse(&bytes[..cut], "model.onnx").unwrap_err();
        assert!(err.to_string().starts_with("model.onnx"), "{err}");
    }
    let err = Graph::parse(&[], "empty.onnx").unwrap_err();
    assert_eq!(
        err.to_string(),
        "empty.onnx holds no ONNX graph: missing ir_version (empty or truncated file)"
    );
    let err =
        Graph::parse(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", "junk.onnx").unwrap_err();
    assert!(err.to_string().contains("junk.onnx"), "{err}");
    assert!(Graph::read("/nonexistent/model.onnx").is_err());
    let g = Graph::parse(&bytes, "m").unwrap();
    assert!(g.profile(0).is_err());
}

#[test]
fn absurd_declared_shapes_saturate_instead_of_overflowing() {
    let mut b = common::Builder::new(false);
    let c = b.conv("input", 3, 8, 3, 1, 1, 1);
    let bytes = b.finish(3, 1 << 30, 1 << 30, c);
    let p = Graph::parse(&bytes, "huge")
        .unwrap()
        .profile(1 << 20)
        .unwrap();
    assert_eq!(p.total_macs().0, u64::MAX);
}
