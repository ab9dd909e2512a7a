//! A loaded deployment: the bundle, its networks' costs and energy model, and data handling.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use meanet_core::Normalisation;
use meanet_core::manifest::DatasetKind;
use meanet_core::memory::{MIB, MemoryPlan};
use meanet_core::online::{OnlineController, OnlineRouting};
use meanet_core::units::Bytes;
use meanet_core::{
    BlockCosts, ClassPartition, ExitPolicy, Macs, Pipeline, RoutingThresholds, Thresholds,
};
use meanet_data::Dataset;
use meanet_energy::{BlockProfiles, Graph, OnnxEnergyModel};
use meanet_transport::RunningServer;
use ndarray::{ArrayD, IxDyn};

use crate::backend::Engine;
use crate::bundle::{Bundle, Networks};
use crate::edge::EdgeWorker;
use crate::links::watched_link;
use crate::metrics::RoutingMetrics;
use crate::options::{Options, PayloadKind, PolicyOptions};

/// The profile at batch 1 of the ONNX graph at `path`, which must count completely (an
/// operator it cannot count is an error naming it, never a zero).
pub(crate) fn profile(path: &Path) -> Result<meanet_energy::Profile> {
    let p = Graph::read(path)?
        .profile(1)
        .with_context(|| format!("profiling {}", path.display()))?;
    if !p.is_complete() {
        bail!("{}: cannot count {:?}", path.display(), p.unsupported_ops);
    }
    Ok(p)
}

/// A bundle ready to run.
pub struct Deployment {
    /// The bundle.
    pub bundle: Bundle,
    /// The partition from the manifest.
    pub partition: ClassPartition,
    /// MACs per sample of each network (counted from the ONNX graphs).
    pub costs: BlockCosts,
    /// Energy model of the three networks and the link.
    pub energy: OnnxEnergyModel,
    /// The inference backend `runtime.backend` names.
    pub engine: Engine,
    /// The batch size and memory estimate (`policy.batch_size`, `runtime.memory_mb`).
    pub plan: MemoryPlan,
}

impl std::fmt::Debug for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployment")
            .field("bundle", &self.bundle.dir)
            .field("costs", &self.costs)
            .finish()
    }
}

impl Deployment {
    /// Loads and checks the bundle at `dir`, profiles its main and extension blocks, builds the
    /// energy model (`options.energy`, `memory`, `link`), plans the batch size for
    /// `runtime.memory_mb` and starts the backend (`options.runtime`).
    ///
    /// It never opens the cloud model's file when the manifest records the cloud's MACs
    /// (`[macs]`), so an edge bundle (`meanet export edge`) loads; the cloud is then priced by
    /// its MACs alone. [`Deployment::load_full`] also profiles the cloud, for the commands that
    /// run it.
    pub fn load(dir: &Path, options: &Options) -> Result<Self> {
        Self::load_with(dir, options, false)
    }

    /// As [`Deployment::load`], and profiles the cloud model too (its file must be present):
    /// for `eval` and `calibrate`, which run the cloud and report its energy.
    pub fn load_full(dir: &Path, options: &Options) -> Result<Self> {
        Self::load_with(dir, options, true)
    }

    fn load_with(dir: &Path, options: &Options, full: bool) -> Result<Self> {
        let bundle = Bundle::load(dir)?;
        let partition = bundle.manifest.partition()?;
        let m = &bundle.manifest.models;
        let main = profile(&bundle.dir.join(&m.main))?;
        let extension = profile(&bundle.dir.join(&m.extension))?;
        let recorded = bundle.manifest.macs.map(|m| Macs(m.cloud));
        let cloud = match (full, recorded) {
            (false, Some(_)) => None,
            (true, _) => Some(profile(&bundle.cloud_file()?)?),
            (false, None) if bundle.has_cloud() => Some(profile(&bundle.cloud_file()?)?),
            (false, None) => bail!(
                "bundle {}: its manifest has no [macs] and there is no cloud model file to count the cloud's MACs from; count each network with `meanet profile MODEL.onnx` and add `[macs]` (main, extension, cloud: MACs per sample) to meanet.toml",
                bundle.dir.display()
            ),
        };
        let per = |p: &meanet_energy::Profile| p.macs_per_sample();
        let costs = BlockCosts {
            main: per(&main),
            extension: per(&extension),
            cloud: cloud.as_ref().map(per).or(recorded).unwrap_or(Macs(0)),
        };
        let values = bundle.manifest.sample_len();
        let footprint = crate::footprint::estimate(&main, &extension, values, options);
        let plan = meanet_core::memory::plan(
            footprint,
            options
                .runtime
                .memory_mb
                .map(|mb| Bytes(mb.saturating_mul(MIB))),
            options.policy.batch_for(values),
        )
        .with_context(|| format!("bundle {}", bundle.dir.display()))?;
        let profiles = BlockProfiles {
            main,
            extension: Some(extension),
            cloud,
        };
        let energy = OnnxEnergyModel::new(&profiles, &options.energy, options.memory, options.link);
        let engine = Engine::with_plan(&options.runtime, &plan)?;
        Ok(Deployment {
            bundle,
            partition,
            costs,
            energy,
            engine,
            plan,
        })
    }

    /// The batch size the edge routes with ([`Deployment::plan`]).
    pub fn batch_size(&self) -> usize {
        self.plan.batch
    }

    /// What [`Deployment::plan`] chose, in words: the batch size, the estimated peak, and the
    /// budget that limited it.
    pub fn describe_plan(&self) -> String {
        let p = &self.plan;
        let mib = |b: Bytes| b.0.div_ceil(MIB);
        match p.budget {
            None => format!(
                "batch {} (estimated peak {} MiB; no runtime.memory_mb budget)",
                p.batch,
                mib(p.estimate)
            ),
            Some(b) => format!(
                "batch {}{} for runtime.memory_mb = {} (estimated peak {} MiB; {} gives memory back after each batch)",
                p.batch,
                if p.limited { ", lowered" } else { "" },
                b.0 / MIB,
                mib(p.estimate),
                self.engine.backend().name()
            ),
        }
    }

    /// Loads the three networks (the cloud's file must be present).
    pub fn networks(&self) -> Result<Networks> {
        self.bundle.networks(&self.engine)
    }

    /// A pipeline with `policy` over freshly loaded main and extension blocks.
    pub fn pipeline(&self, policy: Box<dyn ExitPolicy>) -> Result<Pipeline> {
        let n = self.bundle.edge_networks(&self.engine)?;
        Ok(Pipeline::new(
            n.main,
            Some(n.extension),
            self.partition.clone(),
            policy,
            self.costs,
        ))
    }

    /// What routes on the edge, as `meanet run` and `meanet edge` build it: an [`EdgeWorker`]
    /// over a fresh pipeline with the bundle's thresholds (under the online controller when
    /// `policy.online` is set), offloading over the link `options.cloud` names (to `server` if
    /// given; none for `transport = "none"`) with at most `cloud.max_in_flight` in flight,
    /// spawned on `rt`, holding the link's budgets (`policy.link_aware`, on by default: see
    /// [`EdgeWorker::with_link`]); and the [`RoutingMetrics`] of the bundle, watching the
    /// link's circuit breaker. Must be called inside the async runtime (a QUIC link binds its socket there).
    pub fn edge_worker(
        &self,
        options: &Options,
        server: Option<&RunningServer>,
        rt: tokio::runtime::Handle,
    ) -> Result<(EdgeWorker, Arc<RoutingMetrics>)> {
        let m = &self.bundle.manifest;
        let (routing, _) = self.routing(&options.policy)?;
        let online = self.online(&options.policy)?;
        let metrics = Arc::new(
            RoutingMetrics::new(m.thresholds.as_ref().and_then(|t| t.target.clone()))
                .with_classes(m.classes.clone(), self.partition.clone()),
        );
        let (link, probe) = watched_link(&options.cloud, &m.input, server)?.unzip();
        if let Some(p) = probe {
            metrics.watch_breaker(p);
        }
        let mut worker = EdgeWorker::new(
            self.pipeline(routing.policy())?,
            &m.input,
            link,
            rt,
            options.cloud.max_in_flight,
        )
        .with_online(online);
        if let Some(budgets) = options.policy.link_budgets(options.cloud.deadline_ms) {
            worker = worker
                .with_link(budgets)
                .context(
                    "the link budgets ([policy] latency_budget_ms, uplink_kbps, energy_budget_mj)",
                )?
                .with_energy(Arc::new(self.energy.clone()));
        }
        Ok((worker, metrics))
    }

    /// The bundle's calibrated thresholds, or the configured fallback.
    pub fn thresholds(&self, policy: &PolicyOptions) -> Result<(Thresholds, bool)> {
        match &self.bundle.manifest.thresholds {
            Some(t) => Ok((t.thresholds()?, true)),
            None => Ok((policy.fallback_thresholds(), false)),
        }
    }

    /// The thresholds that route: the bundle's per-class ones where it has them, else its
    /// global ones, else the configured fallback (`false`: not calibrated).
    pub fn routing(&self, policy: &PolicyOptions) -> Result<(RoutingThresholds, bool)> {
        match &self.bundle.manifest.thresholds {
            Some(t) => Ok((t.routing(&self.partition)?, true)),
            None => Ok((
                RoutingThresholds::Global(policy.fallback_thresholds()),
                false,
            )),
        }
    }

    /// The edge worker's online controller, if `policy.online` is set.
    pub fn online(&self, policy: &PolicyOptions) -> Result<Option<OnlineRouting>> {
        let target = self
            .bundle
            .manifest
            .thresholds
            .as_ref()
            .and_then(|t| t.target.as_deref());
        let Some(cfg) = policy.online_config(target)? else {
            return Ok(None);
        };
        let (base, _) = self.routing(policy)?;
        Ok(Some(OnlineRouting::new(base, OnlineController::new(cfg)?)))
    }

    /// Checks a data set fits the bundle (shape, classes).
    pub fn check_data(&self, ds: &Dataset) -> Result<()> {
        let m = &self.bundle.manifest;
        if ds.shape.as_slice() != m.input.shape.as_slice() {
            bail!(
                "data samples are {:?} but the bundle takes {:?}",
                ds.shape,
                m.input.shape
            );
        }
        if ds.classes.len() != m.classes.len() {
            bail!(
                "data has {} classes but the bundle {}",
                ds.classes.len(),
                m.classes.len()
            );
        }
        Ok(())
    }

    /// `ds` with its labels renumbered to the bundle's classes: by class name when every name
    /// of `ds` is one of the bundle's (a validation folder may hold some classes only), else,
    /// for formats whose labels are indices (IDX, CIFAR: not `kind = folder`), by position when
    /// the counts agree.
    pub fn align_classes(&self, mut ds: Dataset, kind: DatasetKind) -> Result<Dataset> {
        let ours = &self.bundle.manifest.classes;
        if ds.classes == *ours {
            return Ok(ds);
        }
        let by_name: Option<Vec<u16>> = ds
            .classes
            .iter()
            .map(|c| {
                ours.iter()
                    .position(|o| o == c)
                    .and_then(|p| u16::try_from(p).ok())
            })
            .collect();
        match by_name {
            Some(map) => {
                for l in &mut ds.labels {
                    *l = map[usize::from(*l)];
                }
                ds.classes = ours.clone();
                Ok(ds)
            }
            None if kind != DatasetKind::Folder && ds.classes.len() == ours.len() => {
                ds.classes = ours.clone();
                Ok(ds)
            }
            None => {
                let unknown: Vec<&String> =
                    ds.classes.iter().filter(|c| !ours.contains(c)).collect();
                bail!(
                    "the data has classes the bundle does not know: {unknown:?} (the bundle's classes are {ours:?})"
                )
            }
        }
    }

    /// Normalised input batch `(n, C, H, W)` of the samples `idx`, per channel as the
    /// manifest's `input.mean` and `input.std` say (image files are decoded here; for many
    /// batches, [`Dataset::batches`] reads ahead, and [`Deployment::batch_of`] normalises).
    pub fn batch(&self, ds: &Dataset, idx: &[usize]) -> Result<ArrayD<f32>> {
        Ok(self.batch_of(&ds.read(idx)?, idx.len()))
    }

    /// Normalised input batch `(n, C, H, W)` of `n` samples of `pixels` (sample-major).
    pub fn batch_of(&self, pixels: &[u8], n: usize) -> ArrayD<f32> {
        let m = &self.bundle.manifest;
        let plane = m.input.shape[1] * m.input.shape[2];
        let norm = Normalisation::from(&m.input);
        let mut shape = vec![n];
        shape.extend(&m.input.shape);
        // Callers pass n whole samples; a short buffer gives zeros rather than a panic.
        ArrayD::from_shape_vec(IxDyn(&shape), norm.normalise(pixels, plane))
            .unwrap_or_else(|_| ArrayD::zeros(IxDyn(&shape)))
    }

    /// Bytes one offloaded sample sends (alone, with the binary v2 protocol, carrying
    /// `payload`) and receives.
    pub fn offload_bytes(&self, payload: PayloadKind) -> (meanet_core::Bytes, meanet_core::Bytes) {
        let m = &self.bundle.manifest;
        let mut shape = vec![1];
        shape.extend(&m.input.shape);
        let x = ArrayD::<f32>::zeros(IxDyn(&shape));
        // An image's size depends on what it shows: without one, price it as its raw pixels
        // (the u8 payload), which PNG rarely exceeds.
        let payload = match payload {
            PayloadKind::Png | PayloadKind::Jpeg => PayloadKind::U8,
            other => other,
        };
        let p = crate::links::payload(payload, 90, &m.input);
        // The manifest's checks give one mean and std per channel, so u8 encoding cannot fail;
        // FP32 is the fallback should it ever.
        let (req, _) = meanet_transport::protocol::encode_input(&m.tensors.input, &x, &p, true)
            .unwrap_or_else(|_| {
                meanet_transport::protocol::encode_request(&m.tensors.input, &x, true)
            });
        let logits = ndarray::Array2::<f32>::zeros((1, m.classes.len()));
        let (resp, _) = meanet_transport::protocol::encode_response(
            "cloud",
            None,
            &m.tensors.cloud_logits,
            &logits,
            true,
        );
        (
            meanet_core::Bytes(req.len() as u64),
            meanet_core::Bytes(resp.len() as u64),
        )
    }
}
