//! meanet's QUIC framing: one bidirectional stream per request, each direction one message.
//!
//! A message is `u32` little-endian metadata length, the metadata, then the body:
//! - the metadata is a JSON object of strings, named like the HTTP headers they stand for
//!   (`authorization`, `inference-header-content-length`, `x-meanet-deadline-ms`, `model` on
//!   requests; `status` and `retry-after` on replies);
//! - the body is exactly what an HTTP body would be (the v2 JSON header, then binary tensors).
//!
//! So the request service and the clients read QUIC and HTTP the same way.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};

use super::{DecodeError, fail};

/// Metadata of one QUIC message: HTTP header names (lower case) to values.
pub type Meta = BTreeMap<String, String>;

/// Largest metadata block accepted (the HTTP server's header limits are of the same order).
pub const MAX_META_BYTES: usize = 16 << 10;

/// Frames a QUIC message from its metadata and body.
pub fn encode_frame(meta: &Meta, body: &[u8]) -> Bytes {
    // A map of strings always serialises.
    let meta = serde_json::to_vec(meta).unwrap_or_default();
    let mut b = BytesMut::with_capacity(4 + meta.len() + body.len());
    b.put_u32_le(u32::try_from(meta.len()).unwrap_or(u32::MAX));
    b.extend_from_slice(&meta);
    b.extend_from_slice(body);
    b.freeze()
}

/// Splits a QUIC message into its metadata and body, checking the declared length against
/// [`MAX_META_BYTES`] and the bytes present.
pub fn decode_frame(msg: &[u8]) -> Result<(Meta, &[u8]), DecodeError> {
    let Some((len, rest)) = msg.split_first_chunk::<4>() else {
        return fail(
            "frame length",
            format!(
                "the message is {} bytes, shorter than its length prefix",
                msg.len()
            ),
        );
    };
    let n = u32::from_le_bytes(*len) as usize;
    if n > MAX_META_BYTES {
        return fail(
            "frame length",
            format!("declares {n} bytes of metadata, more than the {MAX_META_BYTES} allowed"),
        );
    }
    if n > rest.len() {
        return fail(
            "frame length",
            format!("declares {n} bytes of metadata but {} follow", rest.len()),
        );
    }
    let (meta, body) = rest.split_at(n);
    let meta: Meta = serde_json::from_slice(meta).map_err(|source| DecodeError::Json {
        what: "QUIC frame metadata",
        source,
    })?;
    Ok((meta, body))
}
