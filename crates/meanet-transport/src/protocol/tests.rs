use super::*;
use ndarray::array;

#[test]
fn binary_and_json_requests_round_trip() {
    let x = array![[[1.0f32, -2.5], [3.0, 4.25]]].into_dyn();
    for binary in [true, false] {
        let (body, header_len) = encode_request("input", &x, binary);
        assert_eq!(header_len.is_some(), binary);
        let req = decode_request(&body, header_len).unwrap();
        assert_eq!(req.input, x);
        assert_eq!(req.binary_output, binary);
    }
}

#[test]
fn responses_round_trip_both_ways() {
    let logits = array![[0.5f32, -1.0, 2.0], [1.0, 1.0, 1.0]];
    for binary in [true, false] {
        let (body, n) = encode_response("m", Some("7".into()), "logits", &logits, binary);
        assert_eq!(decode_response(&body, n).unwrap(), logits);
    }
}

#[test]
fn nested_json_data_is_accepted() {
    let body =
        br#"{"inputs":[{"name":"input","shape":[2,2],"datatype":"FP32","data":[[1,2],[3,4]]}]}"#;
    let req = decode_request(body, None).unwrap();
    assert_eq!(
        req.input.into_raw_vec_and_offset().0,
        vec![1.0, 2.0, 3.0, 4.0]
    );
}

#[test]
fn malformed_requests_say_what_is_wrong() {
    let table: [(&[u8], Option<usize>, &str); 8] = [
        (b"{not json", None, "malformed inference request"),
        (br#"{"inputs":[]}"#, None, "expected exactly 1 input tensor, got 0"),
        (br#"{"inputs":[{"name":"x","shape":[2],"datatype":"INT64","data":[1,2]}]}"#, None, "datatype INT64, expected FP32"),
        (br#"{"inputs":[{"name":"x","shape":[3],"datatype":"FP32","data":[1,2]}]}"#, None, "has 2 elements but shape [3] needs 3"),
        (br#"{"inputs":[{"name":"x","shape":[-1],"datatype":"FP32","data":[1]}]}"#, None, "invalid shape"),
        (br#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":["a"]}]}"#, None, "is not a number"),
        (br#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32"}]}"#, None, "has no data"),
        (br#"{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}}]}"#, Some(500), "but the body has only"),
    ];
    for (body, n, want) in table {
        let e = decode_request(body, n).unwrap_err();
        assert!(e.0.contains(want), "{} does not contain {want:?}", e.0);
    }
    let header = br#"{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}}]}"#;
    let mut body = header.to_vec();
    body.extend_from_slice(&[0u8; 4]);
    let e = decode_request(&body, Some(header.len())).unwrap_err();
    assert!(
        e.0.contains("binary data is 4 bytes, expected 8"),
        "{}",
        e.0
    );
}

#[test]
fn absurd_shapes_are_errors_not_overflows() {
    let body = br#"{"inputs":[{"name":"x","shape":[1099511627776,1099511627776],"datatype":"FP32","data":[1]}]}"#;
    let e = decode_request(body, None).unwrap_err();
    assert!(e.0.contains("impossibly large shape"), "{}", e.0);
    let resp = br#"{"model_name":"m","outputs":[{"name":"y","shape":[4611686018427387904,8],"datatype":"FP32","data":[1]}]}"#;
    assert!(
        decode_response(resp, None)
            .unwrap_err()
            .0
            .contains("impossibly large")
    );
}

#[test]
fn frames_round_trip_and_reject_truncation() {
    let f = frame(b"{}", b"abc");
    assert_eq!(unframe(&f).unwrap(), (&b"{}"[..], &b"abc"[..]));
    assert!(unframe(&f[..3]).is_err());
    assert!(unframe(&f[..5]).is_err());
}
