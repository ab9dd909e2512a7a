//! Typed output tensors (FP32, INT64, BOOL, BYTES) and responses that carry several of them,
//! as JSON or with the binary tensor data extension, each output as the client asked.

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{Map, Value, json};

use super::AskedOutput;

/// The elements of an output tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputData {
    /// `FP32`.
    Fp32(Vec<f32>),
    /// `INT64`.
    Int64(Vec<i64>),
    /// `BOOL`.
    Bool(Vec<bool>),
    /// `BYTES`: each element a byte string (sent as text in JSON).
    Bytes(Vec<Vec<u8>>),
}

impl OutputData {
    /// The v2 datatype name.
    pub fn datatype(&self) -> &'static str {
        match self {
            OutputData::Fp32(_) => "FP32",
            OutputData::Int64(_) => "INT64",
            OutputData::Bool(_) => "BOOL",
            OutputData::Bytes(_) => "BYTES",
        }
    }

    fn json(&self) -> Value {
        match self {
            OutputData::Fp32(v) => json!(v),
            OutputData::Int64(v) => json!(v),
            OutputData::Bool(v) => json!(v),
            OutputData::Bytes(v) => Value::Array(
                v.iter()
                    .map(|b| Value::String(String::from_utf8_lossy(b).into_owned()))
                    .collect(),
            ),
        }
    }

    /// The binary form: little-endian numbers, one byte per BOOL, and for BYTES each element
    /// as a 4-byte little-endian length followed by its bytes.
    fn write_binary(&self, out: &mut BytesMut) {
        match self {
            OutputData::Fp32(v) => v.iter().for_each(|&x| out.put_f32_le(x)),
            OutputData::Int64(v) => v.iter().for_each(|&x| out.put_i64_le(x)),
            OutputData::Bool(v) => v.iter().for_each(|&x| out.put_u8(u8::from(x))),
            OutputData::Bytes(v) => {
                for b in v {
                    out.put_u32_le(u32::try_from(b.len()).unwrap_or(u32::MAX));
                    out.extend_from_slice(b);
                }
            }
        }
    }

    fn binary_len(&self) -> usize {
        match self {
            OutputData::Fp32(v) => v.len() * 4,
            OutputData::Int64(v) => v.len() * 8,
            OutputData::Bool(v) => v.len(),
            OutputData::Bytes(v) => v.iter().map(|b| 4 + b.len()).sum(),
        }
    }
}

/// A named output tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputTensor {
    /// The output's name.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its elements, row-major.
    pub data: OutputData,
}

/// Encodes a response with `outputs`: those `asked` in the order asked (all of them when none
/// was asked), each as binary data when the client asked for it (`binary_all`, or its own
/// `binary_data`). Returns the body and, when any binary data follows, the header's length.
pub fn encode_outputs(
    model: &str,
    id: Option<&str>,
    outputs: &[OutputTensor],
    asked: &[AskedOutput],
    binary_all: bool,
) -> (Bytes, Option<usize>) {
    let chosen: Vec<(&OutputTensor, bool)> = if asked.is_empty() {
        outputs.iter().map(|o| (o, binary_all)).collect()
    } else {
        asked
            .iter()
            .filter_map(|a| {
                outputs
                    .iter()
                    .find(|o| o.name == a.name)
                    .map(|o| (o, binary_all || a.binary))
            })
            .collect()
    };
    let mut tensors = Vec::with_capacity(chosen.len());
    let mut raw = BytesMut::new();
    for (o, binary) in &chosen {
        let mut t = Map::new();
        t.insert("name".into(), json!(o.name));
        t.insert("datatype".into(), json!(o.data.datatype()));
        t.insert("shape".into(), json!(o.shape));
        if *binary {
            t.insert(
                "parameters".into(),
                json!({"binary_data_size": o.data.binary_len()}),
            );
            o.data.write_binary(&mut raw);
        } else {
            t.insert("data".into(), o.data.json());
        }
        tensors.push(Value::Object(t));
    }
    let mut resp = Map::new();
    resp.insert("model_name".into(), json!(model));
    resp.insert("model_version".into(), json!("1"));
    if let Some(id) = id {
        resp.insert("id".into(), json!(id));
    }
    resp.insert("outputs".into(), Value::Array(tensors));
    // serde_json cannot fail on a Value.
    let header = serde_json::to_vec(&Value::Object(resp)).unwrap_or_default();
    if raw.is_empty() && !chosen.iter().any(|(_, b)| *b) {
        return (Bytes::from(header), None);
    }
    let mut body = BytesMut::with_capacity(header.len() + raw.len());
    body.extend_from_slice(&header);
    body.extend_from_slice(&raw);
    (body.freeze(), Some(header.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs() -> Vec<OutputTensor> {
        vec![
            OutputTensor {
                name: "class".into(),
                shape: vec![2],
                data: OutputData::Int64(vec![3, 7]),
            },
            OutputTensor {
                name: "exit".into(),
                shape: vec![2],
                data: OutputData::Bytes(vec![b"main".to_vec(), b"cloud".to_vec()]),
            },
            OutputTensor {
                name: "degraded".into(),
                shape: vec![2],
                data: OutputData::Bool(vec![false, true]),
            },
        ]
    }

    #[test]
    fn json_outputs_carry_typed_values() {
        let (body, hl) = encode_outputs("meanet", Some("r1"), &outputs(), &[], false);
        assert_eq!(hl, None);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["id"], "r1");
        assert_eq!(v["outputs"][0]["data"], json!([3, 7]));
        assert_eq!(v["outputs"][1]["data"], json!(["main", "cloud"]));
        assert_eq!(v["outputs"][2]["datatype"], "BOOL");
        assert_eq!(v["outputs"][2]["data"], json!([false, true]));
    }

    #[test]
    fn asked_outputs_come_in_the_order_asked_binary_where_asked() {
        let asked = [
            AskedOutput {
                name: "exit".into(),
                binary: true,
            },
            AskedOutput {
                name: "class".into(),
                binary: false,
            },
        ];
        let (body, hl) = encode_outputs("meanet", None, &outputs(), &asked, false);
        let hl = hl.unwrap();
        let v: Value = serde_json::from_slice(&body[..hl]).unwrap();
        assert_eq!(v["outputs"].as_array().unwrap().len(), 2);
        assert_eq!(v["outputs"][0]["name"], "exit");
        assert_eq!(
            v["outputs"][0]["parameters"]["binary_data_size"],
            4 + 4 + 4 + 5
        );
        assert_eq!(v["outputs"][1]["data"], json!([3, 7]));
        let raw = &body[hl..];
        assert_eq!(&raw[..8], &[4, 0, 0, 0, b'm', b'a', b'i', b'n']);
        assert_eq!(&raw[8..], &[5, 0, 0, 0, b'c', b'l', b'o', b'u', b'd']);
    }
}
