//! Complexity-aware training for meanet (MEANet, Long et al., ICDCS 2021), on burn 0.22.1 with
//! the Flex CPU backend. Burn types stay inside this crate: models leave it as ONNX files.

pub mod data;
pub mod export;
pub mod nets;
pub mod stages;
pub mod train;
