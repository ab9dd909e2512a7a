//! Complexity-aware training for meanet (MEANet, Long et al., ICDCS 2021), on burn 0.22.1 with
//! the Flex CPU backend. Burn types stay inside this crate: models leave it as ONNX files.

/// The data sets, from `meanet-data` (re-exported so `meanet_data` keeps working).
pub use meanet_data as data;
pub mod bundle;
pub mod config;
pub mod error;
pub mod export;
pub mod nets;
pub mod results;
pub mod stages;
pub mod train;

pub use config::{HardBy, TrainConfig, TrainDevice};
pub use error::TrainError;
pub use nets::Preset;
pub use results::Results;
