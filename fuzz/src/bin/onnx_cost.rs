//! The ONNX graph reader and MAC counter: any bytes as a model file, profiled at a small batch.
fn main() {
    afl::fuzz!(|data: &[u8]| meanet_fuzz::onnx_cost(data));
}
