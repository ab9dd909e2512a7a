//! The IDX reader (MNIST, Fashion-MNIST).
fn main() {
    afl::fuzz!(|data: &[u8]| meanet_fuzz::idx(data));
}
