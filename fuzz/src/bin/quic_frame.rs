//! The QUIC frame reader (length prefix, metadata map, body).
fn main() {
    afl::fuzz!(|data: &[u8]| meanet_fuzz::quic_frame(data));
}
