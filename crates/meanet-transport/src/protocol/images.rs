//! Image payloads: each offloaded sample as the 8-bit crop the edge saw, encoded as PNG
//! (lossless) or JPEG, in a v2 `BYTES` tensor of shape `[n]` (binary extension: each element
//! a 4-byte little-endian length, then that many bytes).
//!
//! A server that knows the model's input size and normalisation (`meanet serve`) decodes them
//! with the same limits as image folders, checks each is exactly the model's size, and
//! normalises the pixels. The bytes are hostile: every declared length is checked against the
//! bytes present, the decoder may not allocate beyond the model's size, and the pixels of one
//! request are bounded ([`MAX_DECODED_BYTES`]) before any is decoded.

use std::io::Cursor;

use image::{ExtendedColorType, ImageEncoder, ImageFormat};
use ndarray::{ArrayD, IxDyn};

use super::{DecodeError, Tensor, fail};

/// The most pixel bytes the images of one request may decode to: as many as the server's
/// default body limit carries raw (16 MiB).
pub const MAX_DECODED_BYTES: usize = 16 << 20;

/// How each sample is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageCodec {
    /// PNG: lossless.
    Png,
    /// JPEG at this quality (1 to 100).
    Jpeg(u8),
}

/// Encodes `n` samples of planar 8-bit pixels `(C, H, W)` (C = 1 or 3) as `codec`, each a
/// `BYTES` element: the binary data of a `[n]` tensor.
pub fn encode_images(pixels: &[u8], shape: &[usize], codec: ImageCodec) -> Result<Vec<u8>, String> {
    let [n, c, h, w] = shape else {
        return Err(format!(
            "image payloads need (N, C, H, W) inputs, not {shape:?}"
        ));
    };
    let (n, c, h, w) = (*n, *c, *h, *w);
    let color = match c {
        1 => ExtendedColorType::L8,
        3 => ExtendedColorType::Rgb8,
        _ => {
            return Err(format!(
                "image payloads need 1 or 3 channels, the input has {c}"
            ));
        }
    };
    let (Ok(w32), Ok(h32)) = (u32::try_from(w), u32::try_from(h)) else {
        return Err(format!("a {w}x{h} image is too large to encode"));
    };
    if h == 0 || w == 0 {
        return Err(format!("a {w}x{h} image has no pixels"));
    }
    let plane = h * w;
    if plane.checked_mul(c).and_then(|p| p.checked_mul(n)) != Some(pixels.len()) {
        return Err(format!("{} pixels for shape {shape:?}", pixels.len()));
    }
    let mut out = Vec::new();
    let mut interleaved = vec![0u8; c * plane];
    for s in pixels.chunks_exact(c * plane) {
        for (i, px) in interleaved.chunks_exact_mut(c).enumerate() {
            for (k, v) in px.iter_mut().enumerate() {
                *v = s[k * plane + i];
            }
        }
        let mut one = Vec::new();
        let written = match codec {
            ImageCodec::Png => image::codecs::png::PngEncoder::new(&mut one).write_image(
                &interleaved,
                w32,
                h32,
                color,
            ),
            ImageCodec::Jpeg(q) => {
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut one, q.clamp(1, 100))
                    .write_image(&interleaved, w32, h32, color)
            }
        };
        written.map_err(|e| format!("encoding a sample: {e}"))?;
        let len = u32::try_from(one.len()).map_err(|_| "an encoded sample over 4 GiB")?;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&one);
    }
    Ok(out)
}

/// Decodes a `BYTES` input of PNG or JPEG images into 8-bit pixels `(n, C, H, W)` for a model
/// whose input is `(C, H, W)` per sample (`dims`: the model's whole input shape, batch first).
pub(crate) fn decode_images(
    t: &Tensor,
    model_dims: &[Option<usize>],
    binary: &[u8],
    declared: Option<usize>,
) -> Result<ArrayD<u8>, DecodeError> {
    let field = "inputs[0]";
    let (Some(c), Some(h), Some(w)) = (
        model_dims.get(1).copied().flatten(),
        model_dims.get(2).copied().flatten(),
        model_dims.get(3).copied().flatten(),
    ) else {
        return fail(
            "inputs[0].datatype",
            "BYTES images need a model input of fixed (C, H, W)",
        );
    };
    if model_dims.len() != 4 || !(c == 1 || c == 3) || h == 0 || w == 0 {
        return fail(
            "inputs[0].datatype",
            format!(
                "BYTES images need a 1- or 3-channel (N, C, H, W) model input with pixels, not {model_dims:?}"
            ),
        );
    }
    let n = match t.shape.as_slice() {
        [n] if *n >= 1 => usize::try_from(*n).unwrap_or(usize::MAX),
        other => {
            return fail(
                "inputs[0].shape",
                format!("{other:?}: BYTES images are a [N] tensor, one encoded image each"),
            );
        }
    };
    let per = c.checked_mul(h).and_then(|p| p.checked_mul(w));
    let Some(per) = per.filter(|&p| n.checked_mul(p).is_some_and(|b| b <= MAX_DECODED_BYTES))
    else {
        return fail(
            "inputs[0].shape",
            format!("{n} images of {c}x{h}x{w} decode to more than {MAX_DECODED_BYTES} bytes"),
        );
    };
    if t.data.is_some() {
        return fail(
            "inputs[0].data",
            "BYTES images travel as binary data (the binary extension), not JSON",
        );
    }
    match declared {
        None => return fail(format!("{field}.parameters.binary_data_size"), "missing"),
        Some(size) if size != binary.len() => {
            return fail(
                "binary data",
                format!(
                    "the body holds {} bytes after the JSON header, inputs[0] declares {size}",
                    binary.len()
                ),
            );
        }
        Some(_) => {}
    }
    let mut out = vec![0u8; n * per];
    let mut rest = binary;
    for (k, sample) in out.chunks_exact_mut(per).enumerate() {
        let at = format!("inputs[0].data[{k}]");
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return fail(
                at,
                format!("needs a 4-byte length, {} bytes remain", rest.len()),
            );
        };
        let len = u32::from_le_bytes(*len) as usize;
        if len > tail.len() {
            return fail(at, format!("declares {len} bytes, {} remain", tail.len()));
        }
        let (image, tail) = tail.split_at(len);
        rest = tail;
        decode_one(image, c, h, w, sample).map_err(|e| DecodeError::field_err(at, e))?;
    }
    if !rest.is_empty() {
        return fail(
            "binary data",
            format!("{} bytes follow the last of the {n} images", rest.len()),
        );
    }
    ArrayD::from_shape_vec(IxDyn(&[n, c, h, w]), out)
        .map_err(|e| DecodeError::field_err("inputs[0].shape", e.to_string()))
}

/// Decodes one PNG or JPEG into `out` (planar `c x h x w`), refusing any other format, any
/// other size, and any allocation beyond the image's own size.
fn decode_one(bytes: &[u8], c: usize, h: usize, w: usize, out: &mut [u8]) -> Result<(), String> {
    let format = image::guess_format(bytes).map_err(|_| "is not an image".to_string())?;
    if !matches!(format, ImageFormat::Png | ImageFormat::Jpeg) {
        return Err(format!("is {format:?}, not PNG or JPEG"));
    }
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = u32::try_from(w).ok();
    limits.max_image_height = u32::try_from(h).ok();
    limits.max_alloc = Some((4 * h * w) as u64 + (1 << 20));
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| format!("is not a {w}x{h} image the model takes: {e}"))?;
    if (img.width() as usize, img.height() as usize) != (w, h) {
        return Err(format!(
            "is {}x{}, the model takes {w}x{h}",
            img.width(),
            img.height()
        ));
    }
    let plane = h * w;
    if c == 1 {
        out.copy_from_slice(img.to_luma8().as_raw());
    } else {
        let rgb = img.to_rgb8();
        for (i, px) in rgb.as_raw().chunks_exact(3).enumerate() {
            for k in 0..3 {
                out[k * plane + i] = px[k];
            }
        }
    }
    Ok(())
}
