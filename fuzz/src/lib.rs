//! Shared by the fuzz targets: the toy model every request decoder is checked against.

use meanet_transport::TensorInfo;

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
