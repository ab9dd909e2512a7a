//! v2 inference responses: encoded by the server, decoded (as hostile input) by the clients.

use bytes::Bytes;
use ndarray::Array2;

use super::{
    DecodeError, InferResponse, TensorData, binary_size, f32s_from_le, fail, fp32_tensor,
    row_major, split_body, with_binary,
};

/// Encodes a response with one FP32 output.
pub fn encode_response(
    model: &str,
    id: Option<String>,
    output_name: &str,
    logits: &Array2<f32>,
    binary: bool,
) -> (Bytes, Option<usize>) {
    let values = row_major(logits);
    let resp = InferResponse {
        model_name: model.to_string(),
        model_version: Some("1".into()),
        id,
        outputs: vec![fp32_tensor(output_name, logits.shape(), &values, binary)],
    };
    with_binary(&resp, &values, binary)
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
