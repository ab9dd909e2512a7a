//! v2 inference responses: encoded by the server, decoded (as hostile input) by the clients.

use bytes::{Bytes, BytesMut};
use ndarray::Array2;
use serde_json::{Map, Value};

use super::request::le_bytes;
use super::{
    DecodeError, InferResponse, Tensor, TensorData, binary_size, f32s_from_le, fail, split_body,
};

/// Encodes a response with one FP32 output.
pub fn encode_response(
    model: &str,
    id: Option<String>,
    output_name: &str,
    logits: &Array2<f32>,
    binary: bool,
) -> (Bytes, Option<usize>) {
    let shape = logits
        .shape()
        .iter()
        .map(|&d| i64::try_from(d).unwrap_or(i64::MAX))
        .collect();
    let mut tensor = Tensor {
        name: output_name.to_string(),
        shape,
        datatype: "FP32".into(),
        parameters: None,
        data: None,
    };
    if binary {
        let mut p = Map::new();
        p.insert(
            "binary_data_size".into(),
            Value::from(logits.len().saturating_mul(4)),
        );
        tensor.parameters = Some(p);
    } else {
        tensor.data = Some(TensorData(logits.iter().copied().collect()));
    }
    let resp = InferResponse {
        model_name: model.to_string(),
        model_version: Some("1".into()),
        id,
        outputs: vec![tensor],
    };
    // serde_json cannot fail on these plain types.
    let header = serde_json::to_vec(&resp).unwrap_or_default();
    if binary {
        let mut body = BytesMut::from(&header[..]);
        body.extend_from_slice(&le_bytes(logits.iter().copied(), logits.len()));
        (body.freeze(), Some(header.len()))
    } else {
        (Bytes::from(header), None)
    }
}

/// Decodes the first output of a response to a batch of `rows` samples as `(rows, classes)`
/// logits.
///
/// The reply is untrusted: its row count must match the request, its declared binary sizes must
/// add up to exactly the bytes present, and nothing is allocated before those checks.
pub fn decode_response(
    body: &[u8],
    header_len: Option<usize>,
    rows: usize,
) -> Result<Array2<f32>, DecodeError> {
    let (header, binary) = split_body(body, header_len)?;
    let resp: InferResponse =
        serde_json::from_slice(header).map_err(|source| DecodeError::Json {
            what: "inference response",
            source,
        })?;
    let Some(t) = resp.outputs.first() else {
        return fail("outputs", "the response has no outputs");
    };
    // Binary parts follow the header in output order; ours is the first.
    let mut declared = 0usize;
    for (i, o) in resp.outputs.iter().enumerate() {
        if let Some(n) = binary_size(o, &format!("outputs[{i}]"))? {
            declared = declared.checked_add(n).ok_or_else(|| {
                DecodeError::field_err("outputs", "binary sizes overflow when added")
            })?;
        }
    }
    if declared != binary.len() {
        return fail(
            "binary data",
            format!(
                "the body holds {} bytes after the JSON header, the outputs declare {declared}",
                binary.len()
            ),
        );
    }
    if t.datatype != "FP32" {
        return fail(
            "outputs[0].datatype",
            format!("is {:?}, expected FP32 logits", t.datatype),
        );
    }
    let classes = match t.shape.as_slice() {
        [n, c] if usize::try_from(*n).is_ok_and(|n| n == rows) && *c >= 1 => {
            usize::try_from(*c).ok()
        }
        _ => None,
    };
    let count = classes.and_then(|c| c.checked_mul(rows));
    let (Some(classes), Some(count)) = (classes, count) else {
        return fail(
            "outputs[0].shape",
            format!(
                "is {:?}, expected [{rows}, classes] for a batch of {rows}",
                t.shape
            ),
        );
    };
    let data = match (binary_size(t, "outputs[0]")?, &t.data) {
        (Some(size), None) => {
            if count.checked_mul(4) != Some(size) {
                return fail(
                    "outputs[0].parameters.binary_data_size",
                    format!(
                        "is {size} bytes but shape {:?} of FP32 needs 4 per element",
                        t.shape
                    ),
                );
            }
            // `size <= declared == binary.len()`, checked above.
            f32s_from_le(binary.get(..size).unwrap_or_default())
        }
        (None, Some(TensorData(values))) => {
            if values.len() != count {
                return fail(
                    "outputs[0].data",
                    format!(
                        "has {} elements but shape {:?} needs {count}",
                        values.len(),
                        t.shape
                    ),
                );
            }
            values.clone()
        }
        (Some(_), Some(_)) => {
            return fail(
                "outputs[0].data",
                "given both as JSON data and as binary_data_size",
            );
        }
        (None, None) => return fail("outputs[0].data", "missing"),
    };
    Array2::from_shape_vec((rows, classes), data)
        .map_err(|e| DecodeError::field_err("outputs[0].shape", e.to_string()))
}
