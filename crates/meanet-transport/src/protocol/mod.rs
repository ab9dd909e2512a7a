//! Open Inference Protocol v2 messages, the binary tensor data extension, and meanet's QUIC
//! framing.
//!
//! Every decoder here reads bytes from the outside world: a client's request on the server, a
//! server's reply on the client. They share three rules:
//! - a declared size (a shape, `binary_data_size`, a header length) is checked against the
//!   model and against the bytes actually present before anything is allocated for it;
//! - all size arithmetic is checked;
//! - a failure is a [`DecodeError`] that names the field at fault, never a panic.
//!
//! JSON tensor data is read straight into a flat `Vec<f32>` ([`TensorData`]), so a request
//! never costs more memory than a small multiple of its own size.

mod data;
mod frame;
mod images;
mod outputs;
mod payload;
mod request;
mod response;

pub use data::TensorData;
pub use frame::{MAX_META_BYTES, Meta, decode_frame, encode_frame};
pub use images::{ImageCodec, MAX_DECODED_BYTES, encode_images};
pub use meanet_core::Normalisation;
pub use outputs::{OutputData, OutputTensor, encode_outputs};
pub use payload::{Payload, encode_input};
pub use request::{
    AskedOutput, DecodedRequest, InputBatch, InputsRequest, decode_inputs, decode_request,
    decode_request_with, encode_request,
};
pub use response::{decode_response, encode_response};

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The HTTP header carrying the JSON header's length in a binary-extension body.
pub const HEADER_LENGTH: &str = "inference-header-content-length";

/// The header (HTTP) or metadata key (QUIC) carrying the server's own time for an inference,
/// as the W3C Server Timing header: `infer;dur=MILLISECONDS`.
pub const SERVER_TIMING: &str = "server-timing";

/// The longest server time a reply may claim (a larger one is not believed).
pub const MAX_SERVER_TIMING: Duration = Duration::from_secs(3600);

/// The `Server-Timing` value for an inference that took `d` on the server.
pub fn server_timing(d: Duration) -> String {
    format!("infer;dur={:.3}", d.as_secs_f64() * 1e3)
}

/// The server's own time from a `Server-Timing` value: the `dur` of its `infer` metric (or of
/// its first metric with a `dur`, for servers that name it otherwise). `None` for a value that
/// carries none, or a duration that is negative, not finite or over [`MAX_SERVER_TIMING`].
/// Never panics.
pub fn parse_server_timing(value: &str) -> Option<Duration> {
    // Far more than a metric needs: a hostile value is not scanned at length.
    let value = value.get(..value.len().min(1024)).unwrap_or("");
    let metrics = value.split(',').filter_map(|m| {
        let mut parts = m.split(';');
        let name = parts.next()?.trim();
        let dur = parts.find_map(|p| {
            let (k, v) = p.split_once('=')?;
            (k.trim().eq_ignore_ascii_case("dur")).then(|| v.trim().trim_matches('"'))
        })?;
        Some((name, dur.parse::<f64>().ok()?))
    });
    let mut first = None;
    for (name, ms) in metrics {
        if name == "infer" {
            first = Some(ms);
            break;
        }
        first.get_or_insert(ms);
    }
    let secs = first? / 1e3;
    (secs.is_finite() && secs >= 0.0 && secs <= MAX_SERVER_TIMING.as_secs_f64())
        .then(|| Duration::from_secs_f64(secs))
}

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
    pub data: Option<TensorData>,
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

/// Why a message from outside could not be decoded. Every variant names the field at fault.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The JSON header is not a well-formed v2 message (syntax, types, unknown keys, nesting).
    #[error("malformed {what}")]
    Json {
        /// The message being read (`inference request`, `QUIC frame metadata`, ...).
        what: &'static str,
        /// The parser's error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A field holds a value that the model, the protocol or the bytes present do not allow.
    #[error("{field}: {problem}")]
    Field {
        /// The field, as a path: `inputs[0].shape`, `inference-header-content-length`, ...
        field: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl DecodeError {
    /// The field at fault (`None` for a malformed JSON header).
    pub fn field(&self) -> Option<&str> {
        match self {
            DecodeError::Json { .. } => None,
            DecodeError::Field { field, .. } => Some(field),
        }
    }

    pub(crate) fn field_err(field: impl Into<String>, problem: impl Into<String>) -> Self {
        DecodeError::Field {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

fn fail<T>(field: impl Into<String>, problem: impl Into<String>) -> Result<T, DecodeError> {
    Err(DecodeError::field_err(field, problem))
}

/// Splits a body into its JSON header and binary part, using the header length if given.
pub fn split_body(body: &[u8], header_len: Option<usize>) -> Result<(&[u8], &[u8]), DecodeError> {
    match header_len {
        None => Ok((body, &[])),
        Some(n) if n <= body.len() => Ok(body.split_at(n)),
        Some(n) => fail(
            HEADER_LENGTH,
            format!("is {n} but the body has only {} bytes", body.len()),
        ),
    }
}

/// Reads an optional boolean parameter; present but not a boolean is an error naming it.
fn flag(params: Option<&Map<String, Value>>, key: &str, field: &str) -> Result<bool, DecodeError> {
    match params.and_then(|p| p.get(key)) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => fail(
            format!("{field}.{key}"),
            format!("must be true or false, got {other}"),
        ),
    }
}

/// A tensor's declared `binary_data_size`, if any, as a byte count that fits this machine.
fn binary_size(t: &Tensor, field: &str) -> Result<Option<usize>, DecodeError> {
    let Some(v) = t
        .parameters
        .as_ref()
        .and_then(|p| p.get("binary_data_size"))
    else {
        return Ok(None);
    };
    v.as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| {
            DecodeError::field_err(
                format!("{field}.parameters.binary_data_size"),
                format!("must be a byte count, got {v}"),
            )
        })
}

/// An FP32 tensor of `shape` holding `values`: as JSON data, or (`binary`) declaring
/// `binary_data_size` for bytes that follow the header ([`with_binary`]).
fn fp32_tensor(name: &str, shape: &[usize], values: &[f32], binary: bool) -> Tensor {
    typed_tensor(name, shape, "FP32", 4, values, binary)
}

/// A tensor of `datatype` (`width` bytes per element) and `shape` holding `values`: as JSON
/// data, or (`binary`) declaring `binary_data_size` for bytes that follow the header.
fn typed_tensor(
    name: &str,
    shape: &[usize],
    datatype: &str,
    width: usize,
    values: &[f32],
    binary: bool,
) -> Tensor {
    let mut t = Tensor {
        name: name.to_string(),
        shape: shape
            .iter()
            .map(|&d| i64::try_from(d).unwrap_or(i64::MAX))
            .collect(),
        datatype: datatype.into(),
        parameters: None,
        data: None,
    };
    if binary {
        let mut p = Map::new();
        p.insert(
            "binary_data_size".into(),
            Value::from(values.len().saturating_mul(width)),
        );
        t.parameters = Some(p);
    } else {
        t.data = Some(TensorData(values.to_vec()));
    }
    t
}

/// Request parameters asking for binary outputs when `binary`.
fn binary_output_parameters(binary: bool) -> Option<Map<String, Value>> {
    binary.then(|| {
        let mut q = Map::new();
        q.insert("binary_data_output".into(), Value::Bool(true));
        q
    })
}

/// A message body: the JSON `header`, followed (`binary`) by `values` as little-endian FP32 bytes.
/// Returns the body and, when binary, the header's length.
fn with_binary<T: Serialize>(header: &T, values: &[f32], binary: bool) -> (Bytes, Option<usize>) {
    // serde_json cannot fail on these plain types.
    let header = serde_json::to_vec(header).unwrap_or_default();
    if !binary {
        return (Bytes::from(header), None);
    }
    let mut body = BytesMut::with_capacity(header.len() + values.len().saturating_mul(4));
    body.extend_from_slice(&header);
    for &v in values {
        body.put_f32_le(v);
    }
    (body.freeze(), Some(header.len()))
}

/// A message body: the JSON `header`, followed by `raw` bytes when given. Returns the body and,
/// with raw bytes, the header's length.
fn with_bytes<T: Serialize>(header: &T, raw: Option<&[u8]>) -> (Bytes, Option<usize>) {
    let header = serde_json::to_vec(header).unwrap_or_default();
    let Some(raw) = raw else {
        return (Bytes::from(header), None);
    };
    let mut body = BytesMut::with_capacity(header.len() + raw.len());
    body.extend_from_slice(&header);
    body.extend_from_slice(raw);
    (body.freeze(), Some(header.len()))
}

/// The elements of `a` in row-major order, borrowed when `a` is contiguous (the usual case).
fn row_major<D: ndarray::Dimension>(a: &ndarray::Array<f32, D>) -> std::borrow::Cow<'_, [f32]> {
    a.as_slice()
        .map_or_else(|| a.iter().copied().collect::<Vec<_>>().into(), Into::into)
}

/// Little-endian FP32 bytes to floats; `bytes.len()` is a multiple of 4 by the caller's check.
fn f32s_from_le(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[cfg(test)]
mod images_tests;
#[cfg(test)]
mod tests;
