//! Open Inference Protocol v2 messages, the binary tensor data extension, and QUIC framing.

use bytes::{BufMut, Bytes, BytesMut};
use ndarray::{Array2, ArrayD, IxDyn};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The HTTP header carrying the JSON header's length in a binary-extension body.
pub const HEADER_LENGTH: &str = "inference-header-content-length";

/// A tensor in a v2 request or response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tensor {
    /// Tensor name.
    pub name: String,
    /// Shape.
    pub shape: Vec<i64>,
    /// Element type (`FP32`, ...).
    pub datatype: String,
    /// Extension parameters (`binary_data_size`, `binary_data`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Map<String, Value>>,
    /// Row-major elements (flat or nested), absent when the data travels as binary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// An output the client asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestedOutput {
    /// Output name.
    pub name: String,
    /// Extension parameters (`binary_data: true` asks for binary output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Map<String, Value>>,
}

/// A v2 inference request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InferRequest {
    /// Optional request id, echoed back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Request parameters (`binary_data_output`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Map<String, Value>>,
    /// Input tensors.
    pub inputs: Vec<Tensor>,
    /// Requested outputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<RequestedOutput>>,
}

/// A v2 inference response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferResponse {
    /// The model's name.
    pub model_name: String,
    /// The model's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// The request id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Output tensors.
    pub outputs: Vec<Tensor>,
}

/// The v2 error body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: String,
}

/// Why a message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, DecodeError> {
    Err(DecodeError(msg.into()))
}

fn flag(params: Option<&Map<String, Value>>, key: &str) -> bool {
    params
        .and_then(|p| p.get(key))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn binary_size(t: &Tensor) -> Option<usize> {
    t.parameters
        .as_ref()
        .and_then(|p| p.get("binary_data_size"))
        .and_then(Value::as_u64)
        .map(|v| v as usize)
}

fn flatten_numbers(v: &Value, out: &mut Vec<f32>) -> Result<(), DecodeError> {
    match v {
        Value::Array(items) => items.iter().try_for_each(|x| flatten_numbers(x, out)),
        Value::Number(n) => match n.as_f64() {
            Some(f) => {
                out.push(f as f32);
                Ok(())
            }
            None => err(format!("tensor element {n} is not a number")),
        },
        other => err(format!("tensor element {other} is not a number")),
    }
}

/// Splits a body into its JSON header and binary part, using the header length if given.
pub fn split_body(body: &[u8], header_len: Option<usize>) -> Result<(&[u8], &[u8]), DecodeError> {
    match header_len {
        None => Ok((body, &[])),
        Some(n) if n <= body.len() => Ok(body.split_at(n)),
        Some(n) => err(format!(
            "{HEADER_LENGTH} is {n} but the body has only {} bytes",
            body.len()
        )),
    }
}

/// A decoded request for a one-input model.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedRequest {
    /// The request id.
    pub id: Option<String>,
    /// The input batch.
    pub input: ArrayD<f32>,
    /// Whether the client wants binary output.
    pub binary_output: bool,
}

/// Decodes a v2 request carrying one FP32 input, from JSON data or the binary extension.
pub fn decode_request(
    body: &[u8],
    header_len: Option<usize>,
) -> Result<DecodedRequest, DecodeError> {
    let (header, mut binary) = split_body(body, header_len)?;
    let req: InferRequest = serde_json::from_slice(header)
        .map_err(|e| DecodeError(format!("malformed inference request: {e}")))?;
    if req.inputs.len() != 1 {
        return err(format!(
            "expected exactly 1 input tensor, got {}",
            req.inputs.len()
        ));
    }
    let t = &req.inputs[0];
    if t.datatype != "FP32" {
        return err(format!(
            "input {:?} has datatype {}, expected FP32",
            t.name, t.datatype
        ));
    }
    if t.shape.iter().any(|&d| d < 0) || t.shape.is_empty() {
        return err(format!(
            "input {:?} has invalid shape {:?}",
            t.name, t.shape
        ));
    }
    let dims: Vec<usize> = t.shape.iter().map(|&d| d as usize).collect();
    let count = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|c| c.checked_mul(4).is_some())
        .ok_or_else(|| {
            DecodeError(format!(
                "input {:?} has an impossibly large shape {:?}",
                t.name, t.shape
            ))
        })?;
    let data = match (binary_size(t), &t.data) {
        (Some(size), None) => {
            if size != count * 4 {
                return err(format!(
                    "input {:?} declares {size} binary bytes but shape {:?} needs {}",
                    t.name,
                    t.shape,
                    count * 4
                ));
            }
            if binary.len() < size {
                return err(format!(
                    "binary data is {} bytes, expected {size}",
                    binary.len()
                ));
            }
            let (mine, rest) = binary.split_at(size);
            binary = rest;
            mine.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        }
        (None, Some(v)) => {
            let mut out = Vec::with_capacity(count);
            flatten_numbers(v, &mut out)?;
            if out.len() != count {
                return err(format!(
                    "input {:?} has {} elements but shape {:?} needs {count}",
                    t.name,
                    out.len(),
                    t.shape
                ));
            }
            out
        }
        (Some(_), Some(_)) => return err("input has both JSON data and binary_data_size"),
        (None, None) => return err(format!("input {:?} has no data", t.name)),
    };
    if !binary.is_empty() {
        return err(format!("{} unexpected trailing bytes", binary.len()));
    }
    let binary_output = flag(req.parameters.as_ref(), "binary_data_output")
        || req
            .outputs
            .iter()
            .flatten()
            .any(|o| flag(o.parameters.as_ref(), "binary_data"));
    let input = ArrayD::from_shape_vec(IxDyn(&dims), data)
        .map_err(|e| DecodeError(format!("input shape: {e}")))?;
    Ok(DecodedRequest {
        id: req.id,
        input,
        binary_output,
    })
}

fn f32_bytes(data: impl Iterator<Item = f32>, capacity: usize) -> BytesMut {
    let mut b = BytesMut::with_capacity(capacity * 4);
    for v in data {
        b.put_f32_le(v);
    }
    b
}

/// Encodes a request with one FP32 input, as binary extension (header, body) or plain JSON.
pub fn encode_request(name: &str, input: &ArrayD<f32>, binary: bool) -> (Bytes, Option<usize>) {
    let shape = input.shape().iter().map(|&d| d as i64).collect();
    let mut req = InferRequest {
        id: None,
        parameters: None,
        inputs: vec![Tensor {
            name: name.to_string(),
            shape,
            datatype: "FP32".into(),
            parameters: None,
            data: None,
        }],
        outputs: None,
    };
    if binary {
        let mut p = Map::new();
        p.insert("binary_data_size".into(), Value::from(input.len() * 4));
        req.inputs[0].parameters = Some(p);
        let mut q = Map::new();
        q.insert("binary_data_output".into(), Value::Bool(true));
        req.parameters = Some(q);
        // serde_json cannot fail on these plain types.
        let header = serde_json::to_vec(&req).unwrap_or_default();
        let mut body = BytesMut::from(&header[..]);
        body.extend_from_slice(&f32_bytes(input.iter().copied(), input.len()));
        (body.freeze(), Some(header.len()))
    } else {
        req.inputs[0].data = Some(Value::from(input.iter().copied().collect::<Vec<f32>>()));
        (
            Bytes::from(serde_json::to_vec(&req).unwrap_or_default()),
            None,
        )
    }
}

/// Encodes a response with one FP32 output.
pub fn encode_response(
    model: &str,
    id: Option<String>,
    output_name: &str,
    logits: &Array2<f32>,
    binary: bool,
) -> (Bytes, Option<usize>) {
    let shape = logits.shape().iter().map(|&d| d as i64).collect();
    let mut tensor = Tensor {
        name: output_name.to_string(),
        shape,
        datatype: "FP32".into(),
        parameters: None,
        data: None,
    };
    if binary {
        let mut p = Map::new();
        p.insert("binary_data_size".into(), Value::from(logits.len() * 4));
        tensor.parameters = Some(p);
    } else {
        tensor.data = Some(Value::from(logits.iter().copied().collect::<Vec<f32>>()));
    }
    let resp = InferResponse {
        model_name: model.to_string(),
        model_version: Some("1".into()),
        id,
        outputs: vec![tensor],
    };
    let header = serde_json::to_vec(&resp).unwrap_or_default();
    if binary {
        let mut body = BytesMut::from(&header[..]);
        body.extend_from_slice(&f32_bytes(logits.iter().copied(), logits.len()));
        (body.freeze(), Some(header.len()))
    } else {
        (Bytes::from(header), None)
    }
}

/// Decodes a response's first output as `(N, classes)` logits.
pub fn decode_response(body: &[u8], header_len: Option<usize>) -> Result<Array2<f32>, DecodeError> {
    let (header, binary) = split_body(body, header_len)?;
    let resp: InferResponse = serde_json::from_slice(header)
        .map_err(|e| DecodeError(format!("malformed inference response: {e}")))?;
    let Some(t) = resp.outputs.first() else {
        return err("response has no outputs");
    };
    if t.datatype != "FP32" || t.shape.len() != 2 || t.shape.iter().any(|&d| d < 0) {
        return err(format!(
            "output {:?} is {} {:?}, expected FP32 [N, C]",
            t.name, t.datatype, t.shape
        ));
    }
    let (n, c) = (t.shape[0] as usize, t.shape[1] as usize);
    if n.checked_mul(c).and_then(|v| v.checked_mul(4)).is_none() {
        return err(format!(
            "output {:?} has an impossibly large shape {:?}",
            t.name, t.shape
        ));
    }
    let data: Vec<f32> = match (binary_size(t), &t.data) {
        (Some(size), _) if size == n * c * 4 && binary.len() >= size => binary[..size]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        (Some(size), _) => {
            return err(format!(
                "binary output of {size} bytes does not fit {n}x{c}"
            ));
        }
        (None, Some(v)) => {
            let mut out = Vec::with_capacity(n * c);
            flatten_numbers(v, &mut out)?;
            out
        }
        (None, None) => return err("output has no data"),
    };
    Array2::from_shape_vec((n, c), data).map_err(|e| DecodeError(format!("output shape: {e}")))
}

/// Frames a QUIC message: `u32` little-endian header length, the header, then the payload.
pub fn frame(header: &[u8], payload: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(4 + header.len() + payload.len());
    b.put_u32_le(header.len() as u32);
    b.extend_from_slice(header);
    b.extend_from_slice(payload);
    b.freeze()
}

/// Splits a QUIC frame into header and payload.
pub fn unframe(msg: &[u8]) -> Result<(&[u8], &[u8]), DecodeError> {
    if msg.len() < 4 {
        return err("frame shorter than its length prefix");
    }
    let n = u32::from_le_bytes([msg[0], msg[1], msg[2], msg[3]]) as usize;
    if msg.len() - 4 < n {
        return err(format!(
            "frame header length {n} exceeds the {} bytes present",
            msg.len() - 4
        ));
    }
    Ok(msg[4..].split_at(n))
}

#[cfg(test)]
mod tests;
