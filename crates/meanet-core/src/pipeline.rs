//! The routing pipeline: one batch in, exactly one [`Outcome`] per sample out.
//!
//! The edge path is synchronous ([`Pipeline::run_edge`]): the main block runs on the whole batch,
//! the extension only on the sub-batch the policy sends to it. What remains for the cloud is
//! offloaded as one sub-batch by [`EdgePass::complete`] (async). If the cloud fails, the
//! offloaded samples keep their best edge answer and are marked degraded: none is lost.

use ndarray::{Array2, ArrayView1, ArrayViewD, Axis};

use crate::link::Withheld;
use crate::numerics::{NumericError, Scores};
use crate::partition::ClassPartition;
use crate::policy::{ExitPolicy, ExtensionRoute, Route, RouteReason};
use crate::ports::{
    BlockError, CloudError, CloudErrorKind, CloudLink, CloudReply, ExtensionBlock, MainBlock,
    SampleCost,
};
use crate::units::{Macs, Seconds};

/// Where a sample's answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Exit {
    /// The main block.
    Main,
    /// The extension block.
    Extension,
    /// The cloud model.
    Cloud,
}

impl Exit {
    /// All exits, in order.
    pub const ALL: [Exit; 3] = [Exit::Main, Exit::Extension, Exit::Cloud];

    /// A stable lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Exit::Main => "main",
            Exit::Extension => "extension",
            Exit::Cloud => "cloud",
        }
    }
}

/// MACs per sample of each network, recorded in outcomes for the blocks that ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockCosts {
    /// Main block.
    pub main: Macs,
    /// Adaptive + extension blocks.
    pub extension: Macs,
    /// Cloud model.
    pub cloud: Macs,
}

/// The result for one sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Position of the sample in its batch.
    pub index: usize,
    /// The answer, as a class index over all C classes.
    pub class: usize,
    /// Where the answer came from.
    pub exit: Exit,
    /// The main block's scores (classes over C).
    pub main: Scores,
    /// The extension's scores, if it ran (its `class` is a hard label; `class` above is mapped).
    pub extension: Option<Scores>,
    /// The cloud's scores, if it answered.
    pub cloud: Option<Scores>,
    /// The policy's last routing reason.
    pub reason: RouteReason,
    /// What ran and what was sent.
    pub cost: SampleCost,
    /// Set when the sample was meant for the cloud but the cloud failed: the answer is the best
    /// edge prediction.
    pub degraded: Option<CloudErrorKind>,
    /// The cloud round trip for the sub-batch this sample travelled in, if it was offloaded.
    pub cloud_latency: Option<Seconds>,
    /// Set when the sample was meant for the cloud but the link's budgets kept it at the edge
    /// (its answer is the best edge prediction; it is not degraded: nothing failed).
    pub withheld: Option<Withheld>,
    /// From the sample's arrival at the edge to its answer, when the runtime measured it.
    pub latency: Option<Seconds>,
}

impl Outcome {
    /// Whether the cloud failed and the edge answered in its place.
    pub fn is_degraded(&self) -> bool {
        self.degraded.is_some()
    }
}

/// Why a batch could not be routed. Cloud failures are not here: they degrade outcomes instead.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The batch had no samples.
    #[error("empty batch")]
    EmptyBatch,
    /// The main block failed.
    #[error("main block failed")]
    Main(#[source] BlockError),
    /// The extension block failed.
    #[error("extension block failed")]
    Extension(#[source] BlockError),
    /// The policy routed a sample to the extension but no extension block is configured.
    #[error("the policy needs an extension block, but none is configured")]
    MissingExtension,
    /// A block returned logits of the wrong shape.
    #[error("{block} block returned logits of shape {got:?}, expected {expected:?}")]
    LogitsShape {
        /// `main` or `extension`.
        block: &'static str,
        /// Expected `(rows, cols)`.
        expected: (usize, usize),
        /// Actual shape.
        got: Vec<usize>,
    },
    /// The main block's feature map did not have one row per sample.
    #[error("main block returned features of shape {got:?} for a batch of {batch}")]
    FeatureShape {
        /// Batch size.
        batch: usize,
        /// Actual shape.
        got: Vec<usize>,
    },
    /// A block returned NaN or infinite logits.
    #[error("{block} block returned unusable logits for sample {sample}")]
    Logits {
        /// `main` or `extension`.
        block: &'static str,
        /// Index of the sample in the batch.
        sample: usize,
        /// What was wrong.
        #[source]
        source: NumericError,
    },
}

/// A composed edge deployment: main block, optional extension, partition and policy.
pub struct Pipeline {
    main: Box<dyn MainBlock>,
    extension: Option<Box<dyn ExtensionBlock>>,
    partition: ClassPartition,
    hard_mask: Vec<bool>,
    policy: Box<dyn ExitPolicy>,
    costs: BlockCosts,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("policy", &self.policy.name())
            .field("partition", &self.partition)
            .field("has_extension", &self.extension.is_some())
            .field("costs", &self.costs)
            .finish()
    }
}

impl Pipeline {
    /// Composes a pipeline.
    pub fn new(
        main: Box<dyn MainBlock>,
        extension: Option<Box<dyn ExtensionBlock>>,
        partition: ClassPartition,
        policy: Box<dyn ExitPolicy>,
        costs: BlockCosts,
    ) -> Self {
        let hard_mask = partition.hard_mask();
        Pipeline {
            main,
            extension,
            partition,
            hard_mask,
            policy,
            costs,
        }
    }

    /// The class partition.
    pub fn partition(&self) -> &ClassPartition {
        &self.partition
    }

    /// The policy's name.
    pub fn policy_name(&self) -> &'static str {
        self.policy.name()
    }

    /// Replaces the policy (for evaluating several policies over the same blocks).
    pub fn set_policy(&mut self, policy: Box<dyn ExitPolicy>) {
        self.policy = policy;
    }

    /// Routes a batch, offloading over `cloud` what the edge cannot answer.
    ///
    /// With `cloud = None`, samples the policy offloads are answered on the edge and marked
    /// degraded with [`CloudErrorKind::NotConfigured`].
    pub async fn route(
        &mut self,
        input: ArrayViewD<'_, f32>,
        cloud: Option<&dyn CloudLink>,
    ) -> Result<Vec<Outcome>, PipelineError> {
        let pass = self.run_edge(input.view())?;
        Ok(pass.complete(input, cloud).await)
    }

    /// The synchronous edge path: main block on the batch, extension on its sub-batch.
    pub fn run_edge(&mut self, input: ArrayViewD<'_, f32>) -> Result<EdgePass, PipelineError> {
        let n = input.shape().first().copied().unwrap_or(0);
        if n == 0 {
            return Err(PipelineError::EmptyBatch);
        }
        let out = self.main.infer(input.view()).map_err(PipelineError::Main)?;
        check_logits("main", &out.logits, n, self.partition.classes())?;
        if out.features.shape().first() != Some(&n) {
            return Err(PipelineError::FeatureShape {
                batch: n,
                got: out.features.shape().to_vec(),
            });
        }

        let mut outcomes = Vec::with_capacity(n);
        let mut to_extension = Vec::new();
        let mut offload = Vec::new();
        for (i, row) in out.logits.outer_iter().enumerate() {
            let scores = score_row("main", i, row, &self.hard_mask)?;
            let (route, reason) = self.policy.after_main(&scores, &self.partition);
            match route {
                Route::ExitMain => {}
                Route::RunExtension => to_extension.push(i),
                Route::Offload => offload.push(i),
            }
            outcomes.push(Outcome {
                index: i,
                class: scores.class,
                exit: Exit::Main,
                main: scores,
                extension: None,
                cloud: None,
                reason,
                cost: SampleCost {
                    main: Some(self.costs.main),
                    ..SampleCost::default()
                },
                degraded: None,
                cloud_latency: None,
                withheld: None,
                latency: None,
            });
        }

        if !to_extension.is_empty() {
            let ext = self
                .extension
                .as_mut()
                .ok_or(PipelineError::MissingExtension)?;
            let all = to_extension.len() == n;
            let (sub_in, sub_feat);
            let (x, f) = if all {
                (input.view(), out.features.view())
            } else {
                sub_in = input.select(Axis(0), &to_extension);
                sub_feat = out.features.select(Axis(0), &to_extension);
                (sub_in.view(), sub_feat.view())
            };
            let logits = ext.infer(x, f).map_err(PipelineError::Extension)?;
            check_logits(
                "extension",
                &logits,
                to_extension.len(),
                self.partition.num_hard(),
            )?;
            for (row, &i) in logits.outer_iter().zip(&to_extension) {
                let scores = score_row("extension", i, row, &[])?;
                let (route, reason) = self.policy.after_extension(&scores);
                let o = &mut outcomes[i];
                o.extension = Some(scores);
                o.cost.extension = Some(self.costs.extension);
                o.reason = reason;
                // check_logits guarantees the hard label is below H, so the map cannot fail.
                if let Some(class) = self.partition.from_hard(scores.class) {
                    o.class = class;
                    o.exit = Exit::Extension;
                }
                if route == ExtensionRoute::Offload {
                    offload.push(i);
                }
            }
        }
        offload.sort_unstable();
        Ok(EdgePass {
            outcomes,
            offload,
            cloud_macs: self.costs.cloud,
        })
    }

    /// Routes a batch without any cloud: offloads degrade to the best edge answer.
    pub fn route_edge(
        &mut self,
        input: ArrayViewD<'_, f32>,
    ) -> Result<Vec<Outcome>, PipelineError> {
        let pass = self.run_edge(input)?;
        Ok(pass.fail_offloads(CloudErrorKind::NotConfigured))
    }
}

/// The state between the edge path and the cloud: provisional edge answers for every sample and
/// the indices the policy wants offloaded.
#[derive(Debug, Clone)]
pub struct EdgePass {
    outcomes: Vec<Outcome>,
    offload: Vec<usize>,
    cloud_macs: Macs,
}

impl EdgePass {
    /// Indices (in the batch) of the samples to offload, ascending.
    pub fn offload(&self) -> &[usize] {
        &self.offload
    }

    /// The provisional outcomes (edge answers), one per sample.
    pub fn outcomes(&self) -> &[Outcome] {
        &self.outcomes
    }

    /// Every outcome, when no sample waits for the cloud; else the pass back, to
    /// [`complete`](Self::complete) or [`apply`](Self::apply).
    pub fn settled(self) -> Result<Vec<Outcome>, EdgePass> {
        if self.offload.is_empty() {
            Ok(self.outcomes)
        } else {
            Err(self)
        }
    }

    /// Sends the offloaded sub-batch over `cloud` and returns every sample's outcome.
    ///
    /// `input` must be the batch given to [`Pipeline::run_edge`].
    pub async fn complete(
        self,
        input: ArrayViewD<'_, f32>,
        cloud: Option<&dyn CloudLink>,
    ) -> Vec<Outcome> {
        if self.offload.is_empty() {
            return self.outcomes;
        }
        let Some(cloud) = cloud else {
            return self.fail_offloads(CloudErrorKind::NotConfigured);
        };
        let sub = input.select(Axis(0), &self.offload);
        let reply = cloud.classify(sub).await;
        self.apply(reply)
    }

    /// Applies the cloud's reply (or failure) to the offloaded samples.
    pub fn apply(mut self, reply: Result<CloudReply, CloudError>) -> Vec<Outcome> {
        let reply = match reply {
            Ok(r) => r,
            Err(e) => return self.fail_offloads(e.kind()),
        };
        let n = self.offload.len();
        let classes = self.outcomes[0].main.num_classes;
        if reply.logits.shape() != [n, classes] {
            return self.fail_offloads(CloudErrorKind::InvalidReply);
        }
        let mut scores = Vec::with_capacity(n);
        for row in reply.logits.outer_iter() {
            match Scores::from_logits(&row.to_vec()) {
                Ok(s) => scores.push(s),
                Err(_) => return self.fail_offloads(CloudErrorKind::InvalidReply),
            }
        }
        let sent = reply.bytes_sent.split(n);
        let received = reply.bytes_received.split(n);
        for (k, (&i, s)) in self.offload.iter().zip(scores).enumerate() {
            let o = &mut self.outcomes[i];
            o.class = s.class;
            o.exit = Exit::Cloud;
            o.cloud = Some(s);
            o.cost.cloud = Some(self.cloud_macs);
            o.cost.bytes_sent = sent[k];
            o.cost.bytes_received = received[k];
            o.cloud_latency = Some(reply.latency);
        }
        self.outcomes
    }

    /// Answers every offloaded sample at the edge (its best edge answer), withheld for `why`.
    pub fn withhold(mut self, why: Withheld) -> Vec<Outcome> {
        for &i in &self.offload {
            self.outcomes[i].withheld = Some(why);
        }
        self.outcomes
    }

    /// Marks every offloaded sample degraded: it keeps its best edge answer.
    pub fn fail_offloads(mut self, kind: CloudErrorKind) -> Vec<Outcome> {
        for &i in &self.offload {
            self.outcomes[i].degraded = Some(kind);
        }
        self.outcomes
    }
}

fn check_logits(
    block: &'static str,
    logits: &Array2<f32>,
    rows: usize,
    cols: usize,
) -> Result<(), PipelineError> {
    if logits.shape() != [rows, cols] {
        return Err(PipelineError::LogitsShape {
            block,
            expected: (rows, cols),
            got: logits.shape().to_vec(),
        });
    }
    Ok(())
}

fn score_row(
    block: &'static str,
    sample: usize,
    row: ArrayView1<'_, f32>,
    mask: &[bool],
) -> Result<Scores, PipelineError> {
    let scored = match row.as_slice() {
        Some(r) => Scores::from_logits_masked(r, mask),
        None => Scores::from_logits_masked(&row.to_vec(), mask),
    };
    scored.map_err(|source| PipelineError::Logits {
        block,
        sample,
        source,
    })
}

#[cfg(test)]
mod tests;
