//! The ONNX reader and MAC counter over arbitrary bytes, and over real graphs with bytes
//! flipped: an answer or an error, never a panic (overflow included: tests build with overflow
//! checks).

#![allow(clippy::unwrap_used)] // test code: a panic is a failure

use meanet_energy::Graph;
use proptest::prelude::*;

fn fixture(name: &str) -> Vec<u8> {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../meanet-onnx/tests/fixtures");
    std::fs::read(dir.join(name)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_are_an_error_or_a_profile(bytes in prop::collection::vec(any::<u8>(), 0..400), batch in 1usize..5) {
        if let Ok(g) = Graph::parse(&bytes, "hostile.onnx") {
            let _ = g.profile(batch);
        }
    }

    /// Real graphs with a few bytes changed reach deep into the counter.
    #[test]
    fn mutated_fixtures_never_panic(which in 0usize..4, flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6), batch in 1usize..5) {
        let name = ["main.onnx", "extension.onnx", "cloud_like.onnx", "bench_main.onnx"][which];
        let mut bytes = fixture(name);
        for (at, v) in flips {
            let i = at.index(bytes.len());
            bytes[i] = v;
        }
        if let Ok(g) = Graph::parse(&bytes, name) {
            let _ = g.profile(batch);
        }
    }
}

/// Inputs on which AFL++ (fuzz/, target `onnx_cost`) found panics: arithmetic overflow on
/// dimensions declared in the file (an initializer's element count, a Reshape target). Each file
/// is the fuzz input: two control bytes (batch), then the model bytes.
#[test]
fn fuzz_crashes_stay_fixed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_crashes");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        let (ctl, bytes) = data.split_at(2);
        let batch = usize::from(u16::from_le_bytes([ctl[0], ctl[1]]) % 8) + 1;
        if let Ok(g) = Graph::parse(bytes, "crash.onnx") {
            let _ = g.profile(batch);
        }
        n += 1;
    }
    assert!(n >= 5, "{n} crash inputs");
}
