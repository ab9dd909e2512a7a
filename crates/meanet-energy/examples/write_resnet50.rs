//! Writes a full-size ResNet-50 ONNX file (torchvision v1.5 layout, zero weights, ~100 MB), built
//! in Rust like the anchor tests, for timing `meanet profile` on a real-sized model:
//!
//! ```sh
//! cargo run --release -p meanet-energy --example write_resnet50 -- /tmp/resnet50.onnx
//! time target/release/meanet profile /tmp/resnet50.onnx --json > /dev/null
//! ```

#![allow(clippy::expect_used, missing_docs)]

#[path = "../tests/it/common.rs"]
mod common;

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: write_resnet50 OUT.onnx");
    let bytes = common::resnet(true, [3, 4, 6, 3], true);
    std::fs::write(&path, &bytes).expect("writing the model");
    println!("wrote {} ({} bytes)", path, bytes.len());
}
