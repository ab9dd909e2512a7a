//! Image payloads: PNG round-trips exactly, JPEG closely; hostile BYTES inputs get an error
//! naming the field, before anything large is allocated.

use ndarray::{ArrayD, IxDyn};

use super::*;
use crate::TensorInfo;

fn model(c: usize, h: usize, w: usize) -> TensorInfo {
    TensorInfo {
        name: "input".into(),
        shape: vec![None, Some(c), Some(h), Some(w)],
    }
}

fn norm(c: usize) -> Normalisation {
    Normalisation {
        mean: vec![0.5; c],
        std: vec![0.25; c],
    }
}

/// `n` samples of a gradient with some texture, `(n, c, h, w)` pixels.
fn pixels(n: usize, c: usize, h: usize, w: usize) -> Vec<u8> {
    (0..n * c * h * w)
        .map(|i| ((i * 7 + (i / w) * 3) % 251) as u8)
        .collect()
}

fn decoded(body: &[u8], hl: Option<usize>, m: &TensorInfo, c: usize) -> Vec<u8> {
    match decode_inputs(body, hl, m, &["logits"], Some(c))
        .unwrap()
        .input
    {
        InputBatch::U8(p) => p.as_standard_layout().iter().copied().collect(),
        InputBatch::F32(_) => panic!("images decoded as FP32"),
    }
}

#[test]
fn png_round_trips_exactly_and_jpeg_closely_for_gray_and_colour() {
    for (c, h, w) in [(1, 28, 28), (3, 32, 32)] {
        let n = 3;
        let p = pixels(n, c, h, w);
        let x = ArrayD::from_shape_vec(IxDyn(&[n, c, h, w]), norm(c).normalise(&p, h * w)).unwrap();
        let m = model(c, h, w);
        let png = Payload::Image(norm(c), ImageCodec::Png);
        let (body, hl) = encode_input("input", &x, &png, true).unwrap();
        assert_eq!(decoded(&body, hl, &m, c), p, "PNG is lossless");
        let jpeg = Payload::Image(norm(c), ImageCodec::Jpeg(90));
        let (body, hl) = encode_input("input", &x, &jpeg, true).unwrap();
        let got = decoded(&body, hl, &m, c);
        let mean_err = got
            .iter()
            .zip(&p)
            .map(|(a, b)| f64::from(a.abs_diff(*b)))
            .sum::<f64>()
            / p.len() as f64;
        assert!(mean_err < 20.0, "JPEG 90 is close: mean error {mean_err}");
        // JSON cannot carry them.
        let e = encode_input("input", &x, &png, false).unwrap_err();
        assert!(e.contains("cloud.binary = true"), "{e}");
    }
}

/// A binary BYTES request whose data is `data`, declaring `shape`.
fn request(shape: &str, data: &[u8]) -> (Vec<u8>, Option<usize>) {
    let header = format!(
        r#"{{"inputs":[{{"name":"input","datatype":"BYTES","shape":{shape},"parameters":{{"binary_data_size":{}}}}}]}}"#,
        data.len()
    );
    let mut body = header.clone().into_bytes();
    body.extend_from_slice(data);
    (body, Some(header.len()))
}

fn element(bytes: &[u8]) -> Vec<u8> {
    let mut v = (bytes.len() as u32).to_le_bytes().to_vec();
    v.extend_from_slice(bytes);
    v
}

#[test]
fn hostile_image_inputs_name_the_field() {
    let m = model(1, 28, 28);
    let good = encode_images(&pixels(1, 1, 28, 28), &[1, 1, 28, 28], ImageCodec::Png).unwrap();
    let big = encode_images(&pixels(1, 1, 29, 28), &[1, 1, 29, 28], ImageCodec::Png).unwrap();
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&[1, 0, 1, 0, 0, 0, 0]);
    let mut trailing = good.clone();
    trailing.push(0);
    let mut lying = good.clone();
    lying[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "[2]",
            good.clone(),
            "inputs[0].data[1]",
            "needs a 4-byte length",
        ),
        (
            "[1]",
            lying,
            "inputs[0].data[0]",
            "declares 4294967295 bytes",
        ),
        ("[1]", trailing, "binary data", "follow the last"),
        (
            "[1]",
            element(b"not an image at all"),
            "inputs[0].data[0]",
            "not an image",
        ),
        ("[1]", element(&gif), "inputs[0].data[0]", "not PNG or JPEG"),
        ("[1]", big, "inputs[0].data[0]", "28x28"),
        ("[1,1,28,28]", good.clone(), "inputs[0].shape", "[N] tensor"),
        (
            "[100000]",
            good.clone(),
            "inputs[0].shape",
            "decode to more than",
        ),
        ("[0]", good.clone(), "inputs[0].shape", "[N] tensor"),
    ];
    for (shape, data, field, says) in cases {
        let (body, hl) = request(shape, &data);
        let e = decode_inputs(&body, hl, &m, &["logits"], Some(1)).unwrap_err();
        assert_eq!(e.field(), Some(field), "{shape}: {e}");
        assert!(e.to_string().contains(says), "{shape}: {e}");
    }
    // A server without a normalisation (FP32 only) refuses BYTES by datatype.
    let (body, hl) = request("[1]", &good);
    let e = decode_inputs(&body, hl, &m, &["logits"], None).unwrap_err();
    assert_eq!(e.field(), Some("inputs[0].datatype"), "{e}");
    // A model or an input without pixels is an error, not a division of the bytes by zero.
    let (body, hl) = request("[1]", &good);
    let e = decode_inputs(&body, hl, &model(1, 0, 28), &["logits"], Some(1)).unwrap_err();
    assert_eq!(e.field(), Some("inputs[0].datatype"), "{e}");
    let e = encode_images(&[], &[1, 1, 0, 28], ImageCodec::Png).unwrap_err();
    assert!(e.contains("no pixels"), "{e}");
    let e = encode_images(&[0; 4], &[usize::MAX, 3, 2, 2], ImageCodec::Png).unwrap_err();
    assert!(e.contains("pixels for shape"), "{e}");
    // The binary size must match the bytes present.
    let (mut body, hl) = request("[1]", &good);
    body.pop();
    let e = decode_inputs(&body, hl, &m, &["logits"], Some(1)).unwrap_err();
    assert_eq!(e.field(), Some("binary data"), "{e}");
}
