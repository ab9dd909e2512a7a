//! The QUIC frame reader (length prefix, metadata map, body).
fn main() {
    afl::fuzz!(|data: &[u8]| {
        if let Ok((_meta, body)) = meanet_transport::protocol::decode_frame(data) {
            assert!(body.len() <= data.len());
        }
    });
}
