//! The fuzz targets' bodies, one function per target, each checking what a successful decode
//! promises. The AFL++ binaries (`src/bin/`) wrap them in `afl::fuzz!`; the main workspace's
//! `tests/it/fuzz_corpus.rs` includes this file and replays every file of `corpus/` and `seeds/`
//! through the same functions in a normal test, so a regression on a stored input fails CI.
//!
//! This file depends only on meanet-transport, meanet-energy and meanet-data (never on `afl`),
//! so the test can include it with `#[path]`.

use std::path::Path;

use meanet_transport::TensorInfo;

/// A target's body: one input, a panic when a decoder breaks its promise.
pub type Target = fn(&[u8]);

/// Every target: its name (the folder under `corpus/` and `seeds/`) and its body.
pub const TARGETS: [(&str, Target); 6] = [
    ("v2_request", v2_request),
    ("v2_response", v2_response),
    ("quic_frame", quic_frame),
    ("idx", idx),
    ("cifar", cifar),
    ("onnx_cost", onnx_cost),
];

/// A model taking `[N, 1, 28, 28]` and answering `[N, 10]`, like the reference bundle.
pub fn model() -> (TensorInfo, TensorInfo) {
    (
        TensorInfo {
            name: "input".into(),
            shape: vec![None, Some(1), Some(28), Some(28)],
        },
        TensorInfo {
            name: "logits".into(),
            shape: vec![None, Some(10)],
        },
    )
}

/// Splits fuzz input into a small control value and the rest.
pub fn split(data: &[u8]) -> (u16, &[u8]) {
    match data {
        [a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]), rest),
        _ => (0, data),
    }
}

/// The server's v2 request decoder: any body, with or without a declared header length.
pub fn v2_request(data: &[u8]) {
    let (input, output) = model();
    let (ctl, body) = split(data);
    let header_len = (ctl & 1 == 1).then_some(usize::from(ctl >> 1));
    if let Ok(r) = meanet_transport::protocol::decode_request(body, header_len, &input, &output) {
        assert_eq!(&r.input.shape()[1..], &[1, 28, 28]);
    }
}

/// The client's v2 response decoder: any body, header length and batch size.
pub fn v2_response(data: &[u8]) {
    let (ctl, body) = split(data);
    let header_len = (ctl & 1 == 1).then_some(usize::from((ctl >> 1) & 0x3ff));
    let rows = usize::from(ctl >> 11);
    if let Ok(l) = meanet_transport::protocol::decode_response(body, header_len, rows) {
        assert_eq!(l.nrows(), rows);
    }
}

/// The QUIC frame reader (length prefix, metadata map, body).
pub fn quic_frame(data: &[u8]) {
    if let Ok((_meta, body)) = meanet_transport::protocol::decode_frame(data) {
        assert!(body.len() <= data.len());
    }
}

/// The IDX reader (MNIST, Fashion-MNIST).
pub fn idx(data: &[u8]) {
    if let Ok((dims, pixels)) = meanet_data::parse_idx(data, Path::new("fuzz.idx")) {
        assert_eq!(dims.iter().product::<usize>(), pixels.len());
    }
}

/// The CIFAR-10 and CIFAR-100 binary readers.
pub fn cifar(data: &[u8]) {
    let (ctl, bytes) = split(data);
    let kind = if ctl & 1 == 0 {
        meanet_data::CifarKind::Cifar10
    } else {
        meanet_data::CifarKind::Cifar100
    };
    if let Ok((pixels, labels)) = meanet_data::parse_cifar(bytes, kind, Path::new("fuzz.bin")) {
        assert_eq!(pixels.len(), labels.len() * 3072);
    }
}

/// The ONNX graph reader and MAC counter: any bytes as a model file, profiled at a small batch.
pub fn onnx_cost(data: &[u8]) {
    let (ctl, bytes) = split(data);
    if let Ok(g) = meanet_energy::Graph::parse(bytes, "fuzz.onnx") {
        let _ = g.profile(usize::from(ctl % 8) + 1);
    }
}
