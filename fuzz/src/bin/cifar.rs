//! The CIFAR-10 and CIFAR-100 binary readers.
fn main() {
    afl::fuzz!(|data: &[u8]| meanet_fuzz::cifar(data));
}
