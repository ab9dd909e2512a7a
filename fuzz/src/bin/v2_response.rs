//! The client's v2 response decoder: any body, header length and batch size.
fn main() {
    afl::fuzz!(|data: &[u8]| meanet_fuzz::v2_response(data));
}
