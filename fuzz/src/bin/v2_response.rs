//! The client's v2 response decoder: any body, header length and batch size.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let (ctl, body) = meanet_fuzz::split(data);
        let header_len = (ctl & 1 == 1).then_some(usize::from((ctl >> 1) & 0x3ff));
        let rows = usize::from(ctl >> 11);
        if let Ok(l) = meanet_transport::protocol::decode_response(body, header_len, rows) {
            assert_eq!(l.nrows(), rows);
        }
    });
}
