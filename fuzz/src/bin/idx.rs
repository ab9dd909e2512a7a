//! The IDX reader (MNIST, Fashion-MNIST).
fn main() {
    let path = std::path::Path::new("fuzz.idx");
    afl::fuzz!(|data: &[u8]| {
        if let Ok((dims, pixels)) = meanet_data::parse_idx(data, path) {
            assert_eq!(dims.iter().product::<usize>(), pixels.len());
        }
    });
}
