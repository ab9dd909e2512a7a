//! Complexity-aware training for meanet (MEANet, Long et al., ICDCS 2021), on burn 0.22.1 with
//! the Flex CPU backend. Burn types stay inside this crate: models leave it as ONNX files.

/// The data sets, from `meanet-data` (re-exported so `meanet_data` keeps working).
pub use meanet_data as data;
pub mod export;
pub mod nets;
pub mod stages;
pub mod train;
