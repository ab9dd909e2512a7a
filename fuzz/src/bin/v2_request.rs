//! The server's v2 request decoder: any body, with or without a declared header length.
fn main() {
    afl::fuzz!(|data: &[u8]| meanet_fuzz::v2_request(data));
}
