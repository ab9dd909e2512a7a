//! What an offloaded sample costs on the air: FP32 tensors, or the 8-bit pixels they came from.
//!
//! The edge normalises pixels `p` to `x = (p / 255 - mean[c]) / std[c]` before its blocks run.
//! With [`Payload::U8`] the link maps `x` back to `p` (rounded, so pixels that were 8-bit
//! arrive exactly) and sends them as a UINT8 tensor: four times fewer bytes than FP32. A server
//! that knows the same mean and std (`meanet serve` reads them from the bundle) normalises them
//! again before its model runs.

use bytes::Bytes;
use ndarray::ArrayD;

use super::images::{ImageCodec, encode_images};
use super::{InferRequest, Normalisation, binary_output_parameters, typed_tensor, with_bytes};

/// How offloaded inputs travel (`cloud.payload`).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Payload {
    /// FP32 tensors as the edge blocks saw them: what any v2 server takes (the default).
    #[default]
    F32,
    /// UINT8 pixels recovered with this normalisation: four times fewer bytes. The server
    /// must take UINT8 (`meanet serve` does).
    U8(Normalisation),
    /// The pixels recovered with this normalisation, each sample encoded as an image (PNG or
    /// JPEG) in a `BYTES` tensor. The server must decode them (`meanet serve` does; Triton and
    /// KServe need a decoding step in front of the model).
    Image(Normalisation, ImageCodec),
}

impl Payload {
    /// `f32` or `u8`.
    pub fn name(&self) -> &'static str {
        match self {
            Payload::F32 => "f32",
            Payload::U8(_) => "u8",
            Payload::Image(_, ImageCodec::Png) => "png",
            Payload::Image(_, ImageCodec::Jpeg(_)) => "jpeg",
        }
    }
}

/// Encodes a request carrying `input` `(n, C, H, W)` as `payload` says: binary extension
/// (body, header length) or JSON (body, `None`). Fails when a u8 payload's normalisation does
/// not have one mean and std per channel of `input`.
pub fn encode_input(
    name: &str,
    input: &ArrayD<f32>,
    payload: &Payload,
    binary: bool,
) -> Result<(Bytes, Option<usize>), String> {
    let (norm, codec) = match payload {
        Payload::F32 => return Ok(super::encode_request(name, input, binary)),
        Payload::U8(n) => (n, None),
        Payload::Image(n, codec) => (n, Some(*codec)),
    };
    let shape = input.shape();
    let channels = shape.get(1).copied().unwrap_or(0);
    if shape.len() < 2 || channels != norm.channels() || norm.std.len() != channels {
        return Err(format!(
            "cloud.payload = \"u8\" needs one mean and std per channel: the input has shape \
             {shape:?}, the normalisation {} channels",
            norm.channels()
        ));
    }
    let plane: usize = shape[2..].iter().product();
    let values = super::row_major(input);
    let pixels = norm.quantise(&values, plane);
    if let Some(codec) = codec {
        if !binary {
            return Err(format!(
                "cloud.payload = \"{}\" sends images as binary data: set cloud.binary = true",
                payload.name()
            ));
        }
        let data = encode_images(&pixels, shape, codec)?;
        let n = shape.first().copied().unwrap_or(0);
        let mut t = typed_tensor(name, &[n], "BYTES", 1, &[], true);
        if let Some(p) = t.parameters.as_mut() {
            p.insert("binary_data_size".into(), data.len().into());
        }
        let req = InferRequest {
            id: None,
            parameters: binary_output_parameters(true),
            inputs: vec![t],
            outputs: None,
        };
        return Ok(with_bytes(&req, Some(data.as_slice())));
    }
    let as_numbers: Vec<f32> = pixels.iter().map(|&p| f32::from(p)).collect();
    let t = typed_tensor(name, shape, "UINT8", 1, &as_numbers, binary);
    let parameters = binary_output_parameters(binary);
    let req = InferRequest {
        id: None,
        parameters,
        inputs: vec![t],
        outputs: None,
    };
    Ok(with_bytes(&req, binary.then_some(pixels.as_slice())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm() -> Normalisation {
        Normalisation {
            mean: vec![0.2860, 0.5],
            std: vec![0.3530, 0.25],
        }
    }

    #[test]
    fn quantising_recovers_every_8_bit_pixel_exactly() {
        let n = norm();
        let pixels: Vec<u8> = (0..=255).chain(0..=255).collect();
        let x = n.normalise(&pixels, 256);
        assert_eq!(n.quantise(&x, 256), pixels);
        assert_eq!(n.quantise(&[f32::NAN, 1e9, -1e9], 3), vec![0, 255, 0]);
    }

    #[test]
    fn u8_requests_are_a_quarter_of_f32_ones_in_binary() {
        let n = norm();
        let x = ArrayD::from_elem(ndarray::IxDyn(&[8, 2, 28, 28]), 0.1f32);
        let (f, _) = encode_input("input", &x, &Payload::F32, true).unwrap();
        let (u, hl) = encode_input("input", &x, &Payload::U8(n.clone()), true).unwrap();
        let data = 8 * 2 * 28 * 28;
        assert_eq!(u.len() - hl.unwrap(), data);
        assert!(f.len() > 3 * u.len(), "{} vs {}", f.len(), u.len());
        let bad = ArrayD::from_elem(ndarray::IxDyn(&[1, 3, 2, 2]), 0.0f32);
        let e = encode_input("input", &bad, &Payload::U8(n), true).unwrap_err();
        assert!(e.contains("per channel"), "{e}");
    }
}
