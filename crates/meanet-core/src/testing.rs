//! Fakes for every port, and the contract suite every adapter is held to. Shared by core's own
//! tests, the workspace's end-to-end tests and users who compose their own deployments.
//!
//! Enable with the `testing` feature:
//!
//! ```toml
//! [dev-dependencies]
//! meanet-core = { version = "0.1", features = ["testing"] }
//! ```
//!
//! The fakes make every route a test's choice, with no runtime and no network:
//!
//! - [`EchoMain`]: the input rows *are* the main logits (and the feature map), so a test writes
//!   down the logits it wants a policy to see.
//! - [`PickHard`]: an extension whose hard logits are the feature columns of the hard classes,
//!   sharpened by a gain; it records the batch size of every call.
//! - [`FakeCloud`]: a cloud link answering with one class, failing with a chosen error, or
//!   answering NaN; it records every offloaded batch size.
//! - [`EchoClassifier`]: a classifier whose logits are the input rows.
//!
//! [`contract`] holds the port contracts: the same checks run against the fakes, the ONNX
//! Runtime adapter, the tract adapter, and any backend a user writes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed contract is a panic, by design

pub mod contract;

/// The seeded generator every test, bench and simulation in the workspace uses: fastrand's
/// (wyrand), so the same seed gives the same stream on every machine and run.
pub use fastrand::Rng;

/// A generator seeded with `seed`.
pub fn rng(seed: u64) -> Rng {
    Rng::with_seed(seed)
}

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ndarray::{Array2, ArrayD, ArrayViewD};

use crate::ports::{
    BlockError, Classifier, CloudError, CloudLink, CloudReply, ExtensionBlock, MainBlock,
    MainOutput,
};
use crate::units::{Bytes, Seconds};

fn rows(input: ArrayViewD<'_, f32>) -> Result<Array2<f32>, BlockError> {
    if input.shape().first() == Some(&0) {
        return Err(BlockError::InvalidInput("empty batch".into()));
    }
    input
        .to_owned()
        .into_dimensionality()
        .map_err(|e| BlockError::InvalidInput(format!("expected (N, classes) rows: {e}")))
}

/// Main block whose logits are the input rows `(N, C)`; the features are the input too.
#[derive(Debug, Clone, Copy, Default)]
pub struct EchoMain;

impl MainBlock for EchoMain {
    fn infer(&mut self, input: ArrayViewD<'_, f32>) -> Result<MainOutput, BlockError> {
        Ok(MainOutput {
            logits: rows(input.view())?,
            features: input.to_owned(),
        })
    }
}

/// Extension whose logits are the features at the hard columns, multiplied by `gain`. Every
/// call's batch size is recorded in [`PickHard::calls`].
#[derive(Debug, Clone)]
pub struct PickHard {
    hard: Vec<usize>,
    gain: f32,
    calls: Arc<Mutex<Vec<usize>>>,
}

impl PickHard {
    /// Picks the columns `hard` (the partition's hard classes, in hard-label order).
    pub fn new(hard: Vec<usize>, gain: f32) -> Self {
        PickHard {
            hard,
            gain,
            calls: Arc::default(),
        }
    }

    /// The batch sizes it was called with, shared with its clones.
    pub fn calls(&self) -> Arc<Mutex<Vec<usize>>> {
        Arc::clone(&self.calls)
    }
}

impl ExtensionBlock for PickHard {
    fn infer(
        &mut self,
        input: ArrayViewD<'_, f32>,
        features: ArrayViewD<'_, f32>,
    ) -> Result<Array2<f32>, BlockError> {
        let f = rows(features)?;
        if input.shape().first() != Some(&f.nrows()) {
            return Err(BlockError::InvalidInput(
                "input and features differ in batch size".into(),
            ));
        }
        if let Some(&c) = self.hard.iter().find(|&&c| c >= f.ncols()) {
            return Err(BlockError::InvalidInput(format!(
                "hard class {c} is outside the {} feature columns",
                f.ncols()
            )));
        }
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(f.nrows());
        Ok(Array2::from_shape_fn(
            (f.nrows(), self.hard.len()),
            |(i, h)| f[[i, self.hard[h]]] * self.gain,
        ))
    }
}

/// Classifier whose logits are the input rows `(N, C)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct EchoClassifier;

impl Classifier for EchoClassifier {
    fn classify(&mut self, input: ArrayViewD<'_, f32>) -> Result<Array2<f32>, BlockError> {
        rows(input)
    }
}

/// What a [`FakeCloud`] does with each batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CloudBehaviour {
    /// Answers logits of 10 for this class and 0 elsewhere.
    Answer(usize),
    /// Answers NaN logits for every class (an invalid reply the pipeline must catch).
    Nan,
    /// Times out.
    Timeout,
    /// Is unreachable.
    Unreachable,
    /// Sheds load.
    Overloaded,
}

/// A cloud link for tests: answers as its [`CloudBehaviour`] says, charging 16 bytes per sample
/// plus 3 sent and 8 per sample received, and records every offloaded batch size.
#[derive(Debug)]
pub struct FakeCloud {
    behaviour: CloudBehaviour,
    classes: usize,
    seen: Mutex<Vec<usize>>,
}

impl FakeCloud {
    /// A cloud over `classes` classes that behaves as `behaviour`.
    pub fn new(classes: usize, behaviour: CloudBehaviour) -> Self {
        FakeCloud {
            behaviour,
            classes,
            seen: Mutex::new(Vec::new()),
        }
    }

    /// A cloud that always answers `class`.
    pub fn answering(classes: usize, class: usize) -> Self {
        Self::new(classes, CloudBehaviour::Answer(class))
    }

    /// The batch sizes offloaded so far, in order.
    pub fn seen(&self) -> Vec<usize> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[async_trait]
impl CloudLink for FakeCloud {
    async fn classify(&self, input: ArrayD<f32>) -> Result<CloudReply, CloudError> {
        let n = input.shape().first().copied().unwrap_or(0);
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).push(n);
        let mut logits = Array2::zeros((n, self.classes));
        match self.behaviour {
            CloudBehaviour::Answer(class) => logits.column_mut(class).fill(10.0),
            CloudBehaviour::Nan => logits.fill(f32::NAN),
            CloudBehaviour::Timeout => return Err(CloudError::Timeout(Seconds(0.1))),
            CloudBehaviour::Unreachable => {
                return Err(CloudError::Unreachable("fake cloud is down".into()));
            }
            CloudBehaviour::Overloaded => {
                return Err(CloudError::Overloaded { retry_after: None });
            }
        }
        Ok(CloudReply {
            logits,
            bytes_sent: Bytes(n as u64 * 16 + 3),
            bytes_received: Bytes(n as u64 * 8),
            latency: Seconds(0.002),
            server_time: None,
        })
    }
}

/// A [`Network`](crate::network::Network) for tests, with a signature of the shape a role
/// needs: every output is the per-sample sum of the first input, broadcast to its declared
/// shape, so runs are deterministic and cheap. `fail` makes every run a backend error, and
/// `outputs_returned` makes the backend return that many outputs instead of the declared ones.
#[derive(Debug, Clone)]
pub struct FakeNetwork {
    path: std::path::PathBuf,
    signature: crate::signature::ModelSignature,
    /// Every run fails inside the "backend".
    pub fail: bool,
    /// Return this many outputs instead of the declared count.
    pub outputs_returned: Option<usize>,
}

impl FakeNetwork {
    fn spec(name: &str, per_sample: &[usize]) -> crate::signature::TensorSpec {
        crate::signature::TensorSpec {
            name: name.into(),
            is_f32: true,
            shape: std::iter::once(None)
                .chain(per_sample.iter().map(|&d| Some(d)))
                .collect(),
        }
    }

    fn with(
        inputs: Vec<crate::signature::TensorSpec>,
        outputs: Vec<crate::signature::TensorSpec>,
    ) -> Self {
        FakeNetwork {
            path: "fake.onnx".into(),
            signature: crate::signature::ModelSignature { inputs, outputs },
            fail: false,
            outputs_returned: None,
        }
    }

    /// A main block: input `input` of per-sample shape `input`, outputs `logits` `(N, classes)`
    /// and `features` of per-sample shape `features`.
    pub fn main(input: &[usize], classes: usize, features: &[usize]) -> Self {
        Self::with(
            vec![Self::spec("input", input)],
            vec![
                Self::spec("logits", &[classes]),
                Self::spec("features", features),
            ],
        )
    }

    /// An extension block: inputs `input` and `features`, output `logits` `(N, hard)`.
    pub fn extension(input: &[usize], features: &[usize], hard: usize) -> Self {
        Self::with(
            vec![Self::spec("input", input), Self::spec("features", features)],
            vec![Self::spec("logits", &[hard])],
        )
    }

    /// A classifier: input `input`, output `logits` `(N, classes)`.
    pub fn classifier(input: &[usize], classes: usize) -> Self {
        Self::with(
            vec![Self::spec("input", input)],
            vec![Self::spec("logits", &[classes])],
        )
    }
}

impl crate::network::Network for FakeNetwork {
    fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn signature(&self) -> &crate::signature::ModelSignature {
        &self.signature
    }

    fn run(
        &mut self,
        inputs: &[ArrayViewD<'_, f32>],
    ) -> Result<Vec<ArrayD<f32>>, crate::ports::BoxError> {
        if self.fail {
            return Err("the fake backend failed".into());
        }
        let x = inputs.first().ok_or("no input")?;
        let n = x.shape().first().copied().unwrap_or(0);
        let sums: Vec<f32> = x.outer_iter().map(|s| s.sum()).collect();
        let count = self
            .outputs_returned
            .unwrap_or(self.signature.outputs.len());
        Ok(self
            .signature
            .outputs
            .iter()
            .cycle()
            .take(count)
            .map(|spec| {
                let shape: Vec<usize> = std::iter::once(n)
                    .chain(spec.shape.iter().skip(1).map(|d| d.unwrap_or(1)))
                    .collect();
                ArrayD::from_shape_fn(ndarray::IxDyn(&shape), |ix| sums[ix[0]])
            })
            .collect())
    }
}
