//! The server's v2 request decoder: any body, with or without a declared header length.
fn main() {
    let (input, output) = meanet_fuzz::model();
    afl::fuzz!(|data: &[u8]| {
        let (ctl, body) = meanet_fuzz::split(data);
        let header_len = (ctl & 1 == 1).then_some(usize::from(ctl >> 1));
        if let Ok(r) = meanet_transport::protocol::decode_request(body, header_len, &input, &output)
        {
            assert_eq!(&r.input.shape()[1..], &[1, 28, 28]);
        }
    });
}
