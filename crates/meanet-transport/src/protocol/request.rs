//! v2 inference requests: decoded against the served model, encoded by the clients.

use bytes::Bytes;
use ndarray::{ArrayD, IxDyn};

use super::{
    DecodeError, InferRequest, Normalisation, Tensor, TensorData, binary_output_parameters,
    binary_size, f32s_from_le, fail, flag, fp32_tensor, row_major, split_body, with_binary,
};
use crate::TensorInfo;

/// A request for a one-input model, checked against that model.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedRequest {
    /// The request id.
    pub id: Option<String>,
    /// The input batch, of the model's input shape with a batch of at least one.
    pub input: ArrayD<f32>,
    /// Whether the client wants binary output.
    pub binary_output: bool,
}

/// Decodes a v2 request (JSON data or the binary extension) for a model with one FP32 `input`
/// and one `output`.
///
/// The input must carry the model's input name, datatype and shape (any batch of at least one);
/// requested outputs must name the model's output. Sizes are compared with the model and with
/// the bytes present before anything is allocated for them.
pub fn decode_request(
    body: &[u8],
    header_len: Option<usize>,
    input: &TensorInfo,
    output: &TensorInfo,
) -> Result<DecodedRequest, DecodeError> {
    decode_request_with(body, header_len, input, output, None)
}

/// As [`decode_request`], and with `uint8` the input may also be a UINT8 tensor of pixels
/// (binary, or JSON integers in `0..=255`), which is normalised with it.
pub fn decode_request_with(
    body: &[u8],
    header_len: Option<usize>,
    input: &TensorInfo,
    output: &TensorInfo,
    uint8: Option<&Normalisation>,
) -> Result<DecodedRequest, DecodeError> {
    let req = decode_inputs(
        body,
        header_len,
        input,
        &[output.name.as_str()],
        uint8.map(Normalisation::channels),
    )?;
    let input = req
        .input
        .into_f32(uint8)
        .map_err(|e| DecodeError::field_err("inputs[0].datatype", e))?;
    let binary_output = req.binary_output || req.outputs.iter().any(|o| o.binary);
    Ok(DecodedRequest {
        id: req.id,
        input,
        binary_output,
    })
}

/// An input batch as the client sent it.
#[derive(Debug, Clone, PartialEq)]
pub enum InputBatch {
    /// FP32 values.
    F32(ArrayD<f32>),
    /// UINT8 values (8-bit pixels).
    U8(ArrayD<u8>),
}

impl InputBatch {
    /// The batch as FP32: as sent, or UINT8 pixels `(n, C, ...)` normalised with `uint8`
    /// (without one, UINT8 is an error).
    pub fn into_f32(self, uint8: Option<&Normalisation>) -> Result<ArrayD<f32>, String> {
        match (self, uint8) {
            (InputBatch::F32(x), _) => Ok(x),
            (InputBatch::U8(p), Some(norm)) => {
                let shape = p.shape().to_vec();
                let plane: usize = shape.get(2..).map_or(1, |s| s.iter().product());
                let pixels = p.as_standard_layout();
                let values = norm.normalise(pixels.as_slice().unwrap_or_default(), plane);
                ArrayD::from_shape_vec(IxDyn(&shape), values).map_err(|e| e.to_string())
            }
            (InputBatch::U8(_), None) => Err("is \"UINT8\", the model takes FP32".into()),
        }
    }

    /// Samples in the batch.
    pub fn rows(&self) -> usize {
        match self {
            InputBatch::F32(x) => x.shape().first().copied().unwrap_or(0),
            InputBatch::U8(x) => x.shape().first().copied().unwrap_or(0),
        }
    }
}

/// An output the client asked for by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AskedOutput {
    /// Its name (one of the model's outputs).
    pub name: String,
    /// Whether it should travel as binary data.
    pub binary: bool,
}

/// A request for a one-input model with any number of named outputs, checked against it.
#[derive(Debug, Clone, PartialEq)]
pub struct InputsRequest {
    /// The request id.
    pub id: Option<String>,
    /// The input batch (any batch of at least one).
    pub input: InputBatch,
    /// The outputs asked for, in the order asked (empty: all of them).
    pub outputs: Vec<AskedOutput>,
    /// `parameters.binary_data_output`: every output as binary data.
    pub binary_output: bool,
}

/// Decodes a v2 request for a model with one `input` (FP32, or also UINT8 when `uint8_channels`
/// gives the channel count dimension 1 must have) and the outputs `outputs`.
///
/// Every declared size is checked against the model and the bytes present before anything is
/// allocated; a failure names the field.
pub fn decode_inputs(
    body: &[u8],
    header_len: Option<usize>,
    input: &TensorInfo,
    outputs: &[&str],
    uint8_channels: Option<usize>,
) -> Result<InputsRequest, DecodeError> {
    let (header, binary) = split_body(body, header_len)?;
    let req: InferRequest = serde_json::from_slice(header).map_err(|source| DecodeError::Json {
        what: "inference request",
        source,
    })?;
    let [t] = req.inputs.as_slice() else {
        return fail(
            "inputs",
            format!(
                "the model takes exactly 1 input ({:?}), got {}",
                input.name,
                req.inputs.len()
            ),
        );
    };
    if uint8_channels.is_some() && t.datatype == "BYTES" {
        check_name(t, input)?;
        let declared = binary_size(t, "inputs[0]")?;
        let pixels = super::images::decode_images(t, &input.shape, binary, declared)?;
        return finish(
            req.id,
            InputBatch::U8(pixels),
            req.outputs,
            req.parameters,
            outputs,
        );
    }
    let dims = check_input(t, input, uint8_channels.is_some())?;
    let batch = match uint8_channels {
        Some(channels) if t.datatype == "UINT8" => {
            if dims.get(1) != Some(&channels) {
                return fail(
                    "inputs[0].shape",
                    format!(
                        "{:?}: UINT8 pixels need {channels} channels (dimension 1)",
                        t.shape
                    ),
                );
            }
            let pixels = input_pixels(t, &dims, binary)?;
            InputBatch::U8(
                ArrayD::from_shape_vec(IxDyn(&dims), pixels)
                    .map_err(|e| DecodeError::field_err("inputs[0].shape", e.to_string()))?,
            )
        }
        _ => InputBatch::F32(
            ArrayD::from_shape_vec(IxDyn(&dims), input_data(t, &dims, binary)?)
                .map_err(|e| DecodeError::field_err("inputs[0].shape", e.to_string()))?,
        ),
    };
    finish(req.id, batch, req.outputs, req.parameters, outputs)
}

/// The rest of a request once its input is decoded: the outputs asked for, checked against the
/// model's.
fn finish(
    id: Option<String>,
    batch: InputBatch,
    requested: Option<Vec<super::RequestedOutput>>,
    parameters: Option<serde_json::Map<String, serde_json::Value>>,
    outputs: &[&str],
) -> Result<InputsRequest, DecodeError> {
    let mut asked = Vec::new();
    for (i, o) in requested.iter().flatten().enumerate() {
        if !outputs.contains(&o.name.as_str()) {
            let known = if outputs.len() == 1 {
                format!("the model's output is {:?}", outputs[0])
            } else {
                format!("the model's outputs are {outputs:?}")
            };
            return fail(
                format!("outputs[{i}].name"),
                format!("unknown output {:?}: {known}", o.name),
            );
        }
        asked.push(AskedOutput {
            name: o.name.clone(),
            binary: flag(
                o.parameters.as_ref(),
                "binary_data",
                &format!("outputs[{i}].parameters"),
            )?,
        });
    }
    let binary_output = flag(parameters.as_ref(), "binary_data_output", "parameters")?;
    Ok(InputsRequest {
        id,
        input: batch,
        outputs: asked,
        binary_output,
    })
}

/// Checks the input's name against the model's.
fn check_name(t: &Tensor, model: &TensorInfo) -> Result<(), DecodeError> {
    if t.name != model.name {
        return fail(
            "inputs[0].name",
            format!(
                "unknown input {:?}: the model's input is {:?}",
                t.name, model.name
            ),
        );
    }
    Ok(())
}

/// Checks name, datatype and shape against the model; returns the shape.
fn check_input(t: &Tensor, model: &TensorInfo, uint8: bool) -> Result<Vec<usize>, DecodeError> {
    check_name(t, model)?;
    if t.datatype != "FP32" && !(uint8 && t.datatype == "UINT8") {
        let takes = if uint8 {
            "FP32, UINT8 or BYTES (PNG or JPEG images)"
        } else {
            "FP32"
        };
        return fail(
            "inputs[0].datatype",
            format!("is {:?}, the model takes {takes}", t.datatype),
        );
    }
    let fits = t.shape.len() == model.shape.len()
        && t.shape.first().is_some_and(|&n| n >= 1)
        && t.shape
            .iter()
            .zip(&model.shape)
            .all(|(&got, want)| match want {
                Some(w) => usize::try_from(got).is_ok_and(|g| g == *w),
                None => got >= 0,
            });
    if !fits {
        let want: Vec<i64> = model
            .shape
            .iter()
            .map(|d| d.map_or(-1, |d| i64::try_from(d).unwrap_or(i64::MAX)))
            .collect();
        return fail(
            "inputs[0].shape",
            format!(
                "{:?} does not match the model input {:?} {want:?} (-1: any batch of at least 1)",
                t.shape, model.name
            ),
        );
    }
    t.shape
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| DecodeError::field_err("inputs[0].shape", "dimension out of range"))
}

/// The elements of an input as they arrived, after every declared size has been checked.
enum Elements<'a> {
    /// The binary part, exactly `count * width` bytes.
    Binary(&'a [u8]),
    /// JSON numbers, exactly `count` of them.
    Json(&'a [f32]),
}

/// Checks the input's declared sizes (`width` bytes per element of `datatype`) against its
/// shape and the bytes present, and returns where its elements are.
fn input_elements<'a>(
    t: &'a Tensor,
    dims: &[usize],
    binary: &'a [u8],
    width: usize,
    datatype: &str,
) -> Result<Elements<'a>, DecodeError> {
    let count = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let bytes_needed = count.and_then(|c| c.checked_mul(width));
    let (Some(count), Some(bytes_needed)) = (count, bytes_needed) else {
        return fail(
            "inputs[0].shape",
            format!("{:?} holds more elements than memory can address", t.shape),
        );
    };
    match (binary_size(t, "inputs[0]")?, &t.data) {
        (Some(size), None) => {
            if size != bytes_needed {
                return fail(
                    "inputs[0].parameters.binary_data_size",
                    format!(
                        "is {size} bytes but shape {:?} of {datatype} needs {bytes_needed}",
                        t.shape
                    ),
                );
            }
            if binary.len() != size {
                return fail(
                    "binary data",
                    format!(
                        "the body holds {} bytes after the JSON header, inputs[0] declares {size}",
                        binary.len()
                    ),
                );
            }
            Ok(Elements::Binary(binary))
        }
        (None, Some(TensorData(values))) => {
            if values.len() != count {
                return fail(
                    "inputs[0].data",
                    format!(
                        "has {} elements but shape {:?} needs {count}",
                        values.len(),
                        t.shape
                    ),
                );
            }
            if !binary.is_empty() {
                return fail(
                    "binary data",
                    format!(
                        "{} bytes follow the JSON header but no input declares binary data",
                        binary.len()
                    ),
                );
            }
            Ok(Elements::Json(values))
        }
        (Some(_), Some(_)) => fail(
            "inputs[0].data",
            "given both as JSON data and as binary_data_size",
        ),
        (None, None) => fail(
            "inputs[0].data",
            "missing: give data or parameters.binary_data_size",
        ),
    }
}

/// The input's FP32 elements, from JSON or the binary part.
fn input_data(t: &Tensor, dims: &[usize], binary: &[u8]) -> Result<Vec<f32>, DecodeError> {
    Ok(match input_elements(t, dims, binary, 4, "FP32")? {
        Elements::Binary(b) => f32s_from_le(b),
        Elements::Json(v) => v.to_vec(),
    })
}

/// The pixels of a UINT8 input, from JSON integers in `0..=255` or the binary part.
fn input_pixels(t: &Tensor, dims: &[usize], binary: &[u8]) -> Result<Vec<u8>, DecodeError> {
    match input_elements(t, dims, binary, 1, "UINT8")? {
        Elements::Binary(b) => Ok(b.to_vec()),
        Elements::Json(values) => values
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                if v.fract() == 0.0 && (0.0..=255.0).contains(&v) {
                    Ok(v as u8)
                } else {
                    fail(
                        "inputs[0].data",
                        format!("element {i} is {v}, not a UINT8 value (0 to 255)"),
                    )
                }
            })
            .collect(),
    }
}

/// Encodes a request with one FP32 input, as binary extension (body, header length) or plain
/// JSON (body, `None`).
pub fn encode_request(name: &str, input: &ArrayD<f32>, binary: bool) -> (Bytes, Option<usize>) {
    let values = row_major(input);
    let req = InferRequest {
        id: None,
        parameters: binary_output_parameters(binary),
        inputs: vec![fp32_tensor(name, input.shape(), &values, binary)],
        outputs: None,
    };
    with_binary(&req, &values, binary)
}
