use super::*;
use crate::TensorInfo;
use ndarray::{Array2, ArrayD, array};
use proptest::prelude::*;

fn model() -> (TensorInfo, TensorInfo) {
    (
        TensorInfo {
            name: "input".into(),
            shape: vec![None, Some(1), Some(2), Some(2)],
        },
        TensorInfo {
            name: "logits".into(),
            shape: vec![None, Some(3)],
        },
    )
}

fn decode(body: &[u8], n: Option<usize>) -> Result<DecodedRequest, DecodeError> {
    let (i, o) = model();
    decode_request(body, n, &i, &o)
}

#[test]
fn binary_and_json_requests_round_trip() {
    let x = array![[[[1.0f32, -2.5], [3.0, 4.25]]]].into_dyn();
    for binary in [true, false] {
        let (body, header_len) = encode_request("input", &x, binary);
        assert_eq!(header_len.is_some(), binary);
        let req = decode(&body, header_len).unwrap();
        assert_eq!(req.input, x);
        assert_eq!(req.binary_output, binary);
    }
}

#[test]
fn responses_round_trip_both_ways() {
    let logits = array![[0.5f32, -1.0, 2.0], [1.0, 1.0, 1.0]];
    for binary in [true, false] {
        let (body, n) = encode_response("m", Some("7".into()), "logits", &logits, binary);
        assert_eq!(decode_response(&body, n, 2).unwrap(), logits);
    }
}

#[test]
fn nested_json_data_is_accepted() {
    let body = br#"{"inputs":[{"name":"input","shape":[1,1,2,2],"datatype":"FP32","data":[[[1,2],[3,4]]]}]}"#;
    let req = decode(body, None).unwrap();
    assert_eq!(
        req.input.into_raw_vec_and_offset().0,
        vec![1.0, 2.0, 3.0, 4.0]
    );
}

/// Each malformed request names its field.
#[test]
fn malformed_requests_name_the_field() {
    let x = |rest: &str| {
        format!(r#"{{"inputs":[{{"name":"input","shape":[1,1,2,2],"datatype":"FP32"{rest}}}]}}"#)
    };
    let table: Vec<(String, Option<usize>, Option<&str>, &str)> = vec![
        ("{not json".into(), None, None, "malformed inference request"),
        (r#"{"inputs":[]}"#.into(), None, Some("inputs"), "exactly 1 input"),
        (r#"{"inputs":[{"name":"x","shape":[1,1,2,2],"datatype":"FP32","data":[1,2,3,4]}]}"#.into(), None, Some("inputs[0].name"), "unknown input \"x\""),
        (x(r#","data":[1,2,3,4]}],"outputs":[{"name":"probs""#).replace("}]}]}", "}]}"), None, Some("outputs[0].name"), "unknown output \"probs\""),
        (r#"{"inputs":[{"name":"input","shape":[1,1,2,2],"datatype":"INT64","data":[1,2,3,4]}]}"#.into(), None, Some("inputs[0].datatype"), "INT64"),
        (x(r#","data":[1,2,3]"#), None, Some("inputs[0].data"), "has 3 elements"),
        (r#"{"inputs":[{"name":"input","shape":[-1,1,2,2],"datatype":"FP32","data":[1]}]}"#.into(), None, Some("inputs[0].shape"), "does not match"),
        (r#"{"inputs":[{"name":"input","shape":[0,1,2,2],"datatype":"FP32","data":[]}]}"#.into(), None, Some("inputs[0].shape"), "does not match"),
        (r#"{"inputs":[{"name":"input","shape":[1,3,2,2],"datatype":"FP32","data":[1]}]}"#.into(), None, Some("inputs[0].shape"), "does not match"),
        (x(r#","data":["a",2,3,4]"#), None, None, "is not a number"),
        (x(""), None, Some("inputs[0].data"), "missing"),
        (x(r#","parameters":{"binary_data_size":16}"#), Some(500), Some(HEADER_LENGTH), "only"),
        (x(r#","parameters":{"binary_data_size":-16}"#), None, Some("inputs[0].parameters.binary_data_size"), "byte count"),
        (x(r#","parameters":{"binary_data_size":12}"#), None, Some("inputs[0].parameters.binary_data_size"), "needs 16"),
        (x(r#","data":[1,2,3,4],"parameters":{"binary_data_size":16}"#), None, Some("inputs[0].data"), "both"),
        (r#"{"inputs":[{"name":"input","shape":[1,1,2,2],"datatype":"FP32","data":[1,2,3,4]}],"parameters":{"binary_data_output":"yes"}}"#.into(), None, Some("parameters.binary_data_output"), "true or false"),
    ];
    for (body, n, field, want) in table {
        let e = decode(body.as_bytes(), n).unwrap_err();
        let text = format!(
            "{e}: {}",
            std::error::Error::source(&e).map_or(String::new(), |s| s.to_string())
        );
        assert_eq!(e.field(), field, "{body} -> {text}");
        assert!(
            text.contains(want),
            "{body}: {text:?} does not contain {want:?}"
        );
    }
    let header = x(r#","parameters":{"binary_data_size":16}"#);
    let mut body = header.as_bytes().to_vec();
    body.extend_from_slice(&[0u8; 12]);
    let e = decode(&body, Some(header.len())).unwrap_err();
    assert_eq!(e.field(), Some("binary data"), "{e}");
}

/// The request of issue 9: 90 bytes whose shape declares 2^61 - 1 elements. It must be an
/// error found before any allocation, not an abort.
#[test]
fn the_90_byte_exabyte_request_is_a_field_error() {
    let body = br#"{"inputs":[{"name":"input","shape":[2305843009213693951],"datatype":"FP32","data":[1]}]}"#;
    let e = decode(body, None).unwrap_err();
    assert_eq!(e.field(), Some("inputs[0].shape"), "{e}");
    // Even against a model that takes such a rank, the data count is compared, not reserved.
    let flat = TensorInfo {
        name: "input".into(),
        shape: vec![None],
    };
    let (_, o) = model();
    let e = decode_request(body, None, &flat, &o).unwrap_err();
    assert_eq!(e.field(), Some("inputs[0].data"), "{e}");
    let big = br#"{"inputs":[{"name":"input","shape":[4611686018427387904],"datatype":"FP32","parameters":{"binary_data_size":16}}]}"#;
    let e = decode_request(big, Some(big.len()), &flat, &o).unwrap_err();
    assert_eq!(e.field(), Some("inputs[0].shape"), "{e}");
}

#[test]
fn hostile_responses_are_field_errors() {
    type Case<'a> = (&'a [u8], Option<usize>, usize, Option<&'a str>);
    let table: [Case<'_>; 6] = [
        (br#"{"model_name":"m","outputs":[{"name":"y","shape":[4611686018427387904,8],"datatype":"FP32","data":[1]}]}"#, None, 1, Some("outputs[0].shape")),
        (br#"{"model_name":"m","outputs":[{"name":"y","shape":[1,2305843009213693951],"datatype":"FP32","data":[1]}]}"#, None, 1, Some("outputs[0].data")),
        (br#"{"model_name":"m","outputs":[{"name":"y","shape":[1,3],"datatype":"FP32","parameters":{"binary_data_size":18446744073709551615}}]}"#, None, 1, Some("binary data")),
        (br#"{"model_name":"m","outputs":[]}"#, None, 1, Some("outputs")),
        (br#"{"model_name":"m","outputs":[{"name":"y","shape":[2,3],"datatype":"FP32","data":[1,2,3,4,5,6]}]}"#, None, 1, Some("outputs[0].shape")),
        (br#"{"model_name":"m","outputs":[{"name":"y","shape":[1,3],"datatype":"BYTES","data":[1,2,3]}]}"#, None, 1, Some("outputs[0].datatype")),
    ];
    for (body, n, rows, field) in table {
        let e = decode_response(body, n, rows).unwrap_err();
        assert_eq!(e.field(), field, "{e}");
    }
}

#[test]
fn frames_round_trip_and_reject_lies() {
    let mut meta = Meta::new();
    meta.insert("status".into(), "200".into());
    let f = encode_frame(&meta, b"abc");
    let (m, body) = decode_frame(&f).unwrap();
    assert_eq!((m, body), (meta, &b"abc"[..]));
    for bad in [&f[..3], &f[..6]] {
        assert_eq!(decode_frame(bad).unwrap_err().field(), Some("frame length"));
    }
    let mut huge = u32::MAX.to_le_bytes().to_vec();
    huge.extend_from_slice(b"{}");
    assert!(
        decode_frame(&huge)
            .unwrap_err()
            .to_string()
            .contains("more than")
    );
    let mut not_strings = 9u32.to_le_bytes().to_vec();
    not_strings.extend_from_slice(br#"{"a":[1]}"#);
    assert!(matches!(
        decode_frame(&not_strings),
        Err(DecodeError::Json { .. })
    ));
}

fn v2_json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{Value, json};
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[a-z_]{0,12}".prop_map(Value::from),
        Just(json!("FP32")),
        Just(json!("input")),
        Just(json!(2305843009213693951u64)),
        Just(json!(-1)),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("inputs".to_string()),
                    Just("outputs".to_string()),
                    Just("name".to_string()),
                    Just("shape".to_string()),
                    Just("datatype".to_string()),
                    Just("data".to_string()),
                    Just("parameters".to_string()),
                    Just("binary_data_size".to_string()),
                    Just("model_name".to_string()),
                    "[a-z]{1,6}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Any bytes, with any declared header length: an answer, never a panic.
    #[test]
    fn request_decoder_survives_arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..512), n in prop::option::of(0usize..600)) {
        let _ = decode(&body, n);
    }

    #[test]
    fn response_decoder_survives_arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..512), n in prop::option::of(0usize..600), rows in 0usize..4) {
        if let Ok(l) = decode_response(&body, n, rows) {
            prop_assert_eq!(l.nrows(), rows);
        }
    }

    #[test]
    fn frame_reader_survives_arbitrary_bytes(msg in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_frame(&msg);
    }

    /// Arbitrary JSON shaped like v2 messages, plain and followed by binary bytes.
    #[test]
    fn decoders_survive_arbitrary_json(v in v2_json(), tail in prop::collection::vec(any::<u8>(), 0..64)) {
        let header = serde_json::to_vec(&v).unwrap();
        let mut body = header.clone();
        body.extend_from_slice(&tail);
        for n in [None, Some(header.len())] {
            if let Ok(r) = decode(&body, n) {
                prop_assert_eq!(&r.input.shape()[1..], &[1, 2, 2]);
            }
            let _ = decode_response(&body, n, 1);
        }
    }

    /// Valid requests of any batch decode to exactly what was encoded.
    #[test]
    fn valid_requests_round_trip(n in 1usize..5, binary: bool, seed in any::<u32>()) {
        let x = ndarray::ArrayD::from_shape_fn(ndarray::IxDyn(&[n, 1, 2, 2]), |ix| {
            (seed as usize ^ (ix[0] * 4 + ix[2] * 2 + ix[3])) as f32 / 7.0
        });
        let (body, h) = encode_request("input", &x, binary);
        prop_assert_eq!(decode(&body, h).unwrap().input, x);
        let logits = Array2::from_shape_fn((n, 3), |(i, k)| (i * 3 + k) as f32);
        let (body, h) = encode_response("m", None, "logits", &logits, binary);
        prop_assert_eq!(decode_response(&body, h, n).unwrap(), logits);
    }
}

fn norm1() -> Normalisation {
    Normalisation {
        mean: vec![0.5],
        std: vec![0.25],
    }
}

#[test]
fn u8_payloads_round_trip_through_a_uint8_server_to_the_same_values() {
    let (i, o) = model();
    let pixels = [0u8, 17, 128, 255];
    let norm = norm1();
    let x =
        ArrayD::from_shape_vec(ndarray::IxDyn(&[1, 1, 2, 2]), norm.normalise(&pixels, 4)).unwrap();
    for binary in [true, false] {
        let (body, hl) = encode_input("input", &x, &Payload::U8(norm.clone()), binary).unwrap();
        // A FP32-only server refuses it by datatype.
        let e = decode_request(&body, hl, &i, &o).unwrap_err();
        assert_eq!(e.field(), Some("inputs[0].datatype"), "{e}");
        let got = decode_request_with(&body, hl, &i, &o, Some(&norm)).unwrap();
        assert_eq!(got.input, x);
        let raw = decode_inputs(&body, hl, &i, &["logits"], Some(1)).unwrap();
        match raw.input {
            InputBatch::U8(p) => assert_eq!(p.as_slice().unwrap(), &pixels),
            InputBatch::F32(_) => panic!("UINT8 decoded as FP32"),
        }
    }
}

#[test]
fn hostile_uint8_inputs_name_the_field() {
    let (i, _) = model();
    let cases: [(&str, Option<usize>, &[u8], &str); 6] = [
        (
            r#"{"inputs":[{"name":"input","datatype":"UINT8","shape":[1,1,2,2],"data":[1,2,3,256]}]}"#,
            None,
            b"",
            "inputs[0].data",
        ),
        (
            r#"{"inputs":[{"name":"input","datatype":"UINT8","shape":[1,1,2,2],"data":[1,2,3,0.5]}]}"#,
            None,
            b"",
            "inputs[0].data",
        ),
        (
            r#"{"inputs":[{"name":"input","datatype":"UINT8","shape":[1,1,2,2],"data":[1,2,3]}]}"#,
            None,
            b"",
            "inputs[0].data",
        ),
        (
            r#"{"inputs":[{"name":"input","datatype":"UINT8","shape":[1,1,2,2],"parameters":{"binary_data_size":16}}]}"#,
            Some(0),
            &[0u8; 16],
            "inputs[0].parameters.binary_data_size",
        ),
        (
            r#"{"inputs":[{"name":"input","datatype":"UINT8","shape":[1,1,2,2],"parameters":{"binary_data_size":4}}]}"#,
            Some(0),
            &[0u8; 3],
            "binary data",
        ),
        (
            r#"{"inputs":[{"name":"input","datatype":"UINT8","shape":[1,1,2,2],"data":[1,2,3,4]}],"outputs":[{"name":"nope"}]}"#,
            None,
            b"",
            "outputs[0].name",
        ),
    ];
    for (header, hl, raw, field) in cases {
        let mut body = header.as_bytes().to_vec();
        let hl = hl.map(|_| body.len());
        body.extend_from_slice(raw);
        let e = decode_inputs(&body, hl, &i, &["class", "exit"], Some(1)).unwrap_err();
        assert_eq!(e.field(), Some(field), "{header}: {e}");
    }
    // The channel count must be the normalisation's.
    let wide = TensorInfo {
        name: "input".into(),
        shape: vec![None, None, Some(2), Some(2)],
    };
    let body = br#"{"inputs":[{"name":"input","datatype":"UINT8","shape":[1,3,2,2],"data":[0,0,0,0,0,0,0,0,0,0,0,0]}]}"#;
    let e = decode_inputs(body, None, &wide, &["logits"], Some(1)).unwrap_err();
    assert_eq!(e.field(), Some("inputs[0].shape"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    /// Any bytes, as a UINT8 request to a multi-output model: an error naming a field or a
    /// well-formed batch, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic_the_uint8_decoder(
        body in proptest::collection::vec(any::<u8>(), 0..512),
        hl in proptest::option::of(0usize..600),
    ) {
        let (i, _) = model();
        if let Ok(r) = decode_inputs(&body, hl, &i, &["class", "exit"], Some(1)) {
            prop_assert!(r.input.rows() >= 1);
        }
    }
}

#[test]
fn server_timing_round_trips_and_hostile_values_are_not_believed() {
    use std::time::Duration;
    let d = Duration::from_micros(12_345);
    assert_eq!(server_timing(d), "infer;dur=12.345");
    assert_eq!(parse_server_timing(&server_timing(d)), Some(d));
    // Other servers' forms: another metric first, a description, a quoted duration.
    assert_eq!(
        parse_server_timing("db;dur=3, infer;desc=\"model\";dur=\"7.5\""),
        Some(Duration::from_micros(7_500))
    );
    assert_eq!(
        parse_server_timing("total;dur=20"),
        Some(Duration::from_millis(20))
    );
    for bad in [
        "",
        "infer",
        "infer;dur=",
        "infer;dur=-1",
        "infer;dur=NaN",
        "infer;dur=inf",
        "infer;dur=1e300",
        "infer;dur=99999999999",
        ";;;,,,==",
    ] {
        assert_eq!(parse_server_timing(bad), None, "{bad:?}");
    }
    // A long value is looked at only as far as its first kilobyte, and never panics, even
    // when that cut falls inside a character.
    let long = format!("{}infer;dur=5", "é".repeat(5000));
    assert_eq!(parse_server_timing(&long), None);
}
