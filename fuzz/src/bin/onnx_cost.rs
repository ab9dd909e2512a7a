//! The ONNX graph reader and MAC counter: any bytes as a model file, profiled at a small batch.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let (ctl, bytes) = meanet_fuzz::split(data);
        if let Ok(g) = meanet_energy::Graph::parse(bytes, "fuzz.onnx") {
            let _ = g.profile(usize::from(ctl % 8) + 1);
        }
    });
}
