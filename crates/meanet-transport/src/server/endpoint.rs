//! What a server serves behind the shared request service: an [`Endpoint`], one model with one
//! input and named, typed outputs. The service does auth, limits, decoding and the deadline for
//! every endpoint alike; the endpoint only runs checked inputs.
//!
//! [`BatchedModel`] is the endpoint of a [`ServedModel`] (a classifier: FP32 logits), run by the
//! dynamic batcher; other endpoints (the edge runtime of `meanet edge`) plug in through
//! [`crate::Server::serve`].

use std::time::Instant;

use async_trait::async_trait;

use super::batcher::{Batcher, InferError};
use crate::TensorInfo;
use crate::protocol::{InputBatch, Normalisation, OutputData, OutputTensor};

/// An output in the model's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputInfo {
    /// Its name.
    pub name: String,
    /// Its v2 datatype (`FP32`, `INT64`, `BOOL`, `BYTES`).
    pub datatype: &'static str,
    /// Its shape, `None` for the batch.
    pub shape: Vec<Option<usize>>,
}

/// A model behind the v2 endpoints.
#[async_trait]
pub trait Endpoint: Send + Sync + 'static {
    /// The one input: its name and shape (`None` for the batch).
    fn input(&self) -> &TensorInfo;
    /// The datatype the metadata names for the input (`FP32` or `UINT8`).
    fn input_datatype(&self) -> &'static str {
        "FP32"
    }
    /// With `Some(channels)` the input is also taken as UINT8 pixels, dimension 1 being
    /// `channels`; `None`: FP32 only.
    fn uint8_channels(&self) -> Option<usize>;
    /// The outputs, in the order a response lists them when the client names none.
    fn outputs(&self) -> &[OutputInfo];
    /// The platform the metadata reports.
    fn platform(&self) -> &'static str {
        "meanet"
    }
    /// Runs a checked batch; one output tensor per [`outputs`](Self::outputs) entry.
    async fn infer(
        &self,
        input: InputBatch,
        deadline: Option<Instant>,
    ) -> Result<Vec<OutputTensor>, InferError>;
    /// Prometheus text this endpoint adds to the server's `/metrics`.
    fn metrics(&self) -> String {
        String::new()
    }
}

/// A [`ServedModel`](crate::ServedModel) behind the batcher: FP32 in (or UINT8 pixels,
/// normalised first), FP32 logits out.
#[derive(Debug)]
pub(crate) struct BatchedModel {
    pub(crate) batcher: Batcher,
    pub(crate) input: TensorInfo,
    pub(crate) outputs: Vec<OutputInfo>,
    pub(crate) uint8: Option<Normalisation>,
}

impl BatchedModel {
    pub(crate) fn new(
        batcher: Batcher,
        input: TensorInfo,
        output: &TensorInfo,
        uint8: Option<Normalisation>,
    ) -> Self {
        BatchedModel {
            batcher,
            input,
            outputs: vec![OutputInfo {
                name: output.name.clone(),
                datatype: "FP32",
                shape: output.shape.clone(),
            }],
            uint8,
        }
    }
}

#[async_trait]
impl Endpoint for BatchedModel {
    fn input(&self) -> &TensorInfo {
        &self.input
    }

    fn uint8_channels(&self) -> Option<usize> {
        self.uint8.as_ref().map(Normalisation::channels)
    }

    fn outputs(&self) -> &[OutputInfo] {
        &self.outputs
    }

    fn platform(&self) -> &'static str {
        "onnxruntime_onnx"
    }

    async fn infer(
        &self,
        input: InputBatch,
        deadline: Option<Instant>,
    ) -> Result<Vec<OutputTensor>, InferError> {
        // The service decodes UINT8 only when `uint8_channels` says so, i.e. with `self.uint8`.
        let x = input
            .into_f32(self.uint8.as_ref())
            .map_err(|e| InferError::Model(format!("input {e}")))?;
        let rx = self.batcher.submit(x, deadline)?;
        let logits = rx.await.map_err(|_| InferError::Stopped)??;
        let shape = logits.shape().to_vec();
        let values = match logits.as_slice() {
            Some(v) => v.to_vec(),
            None => logits.iter().copied().collect(),
        };
        Ok(vec![OutputTensor {
            name: self.outputs[0].name.clone(),
            shape,
            data: OutputData::Fp32(values),
        }])
    }
}
