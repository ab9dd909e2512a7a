//! [`EdgeWorker`]: owns the pipeline, routes batches on the calling thread, overlaps offloads
//! (at most `max_in_flight` in flight), and, with a [`LinkGate`], never waits for the link.

use std::sync::Arc;
use std::time::{Duration, Instant};

use meanet_core::Normalisation;
use meanet_core::link::{
    Admission, BudgetError, Demand, LinkBudgets, LinkEstimate, RateMeter, Withheld,
};
use meanet_core::manifest::InputSpec;
use meanet_core::online::OnlineRouting;
use meanet_core::{
    CloudError, CloudErrorKind, CloudLink, CloudReply, EdgePass, EnergyModel, Joules, Outcome,
    Pipeline, PipelineError, RadioBurst, SampleCost, Seconds,
};

use super::gate::{LinkGate, PROBE_DEADLINE, burst_after};
use super::in_flight::{InFlight, Slot};
use ndarray::{ArrayViewD, Axis, IxDyn};

/// Why a batch given to the worker was not routed.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// The bytes are not a whole number of samples.
    #[error("{got} bytes are not a whole number of {per}-byte samples")]
    PartialSample {
        /// Bytes given.
        got: usize,
        /// Bytes per sample.
        per: usize,
    },
    /// The edge path failed on the batch.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
}

/// The edge worker: owns the pipeline, routes batches on the calling thread, overlaps offloads.
pub struct EdgeWorker {
    pipeline: Pipeline,
    norm: Normalisation,
    shape: [usize; 3],
    buf: Vec<f32>,
    cloud: Option<Arc<dyn CloudLink>>,
    rt: tokio::runtime::Handle,
    in_flight: Arc<InFlight>,
    max_in_flight: usize,
    online: Option<(OnlineRouting, Instant)>,
    gate: Option<Arc<LinkGate>>,
    share: Option<ShareLimit>,
    /// Without a gate: when the last offload was sent (from `started`), to time its bursts as
    /// the gate does, so the radio's tail is priced the same with and without one.
    last_sent: Option<Seconds>,
    started: Instant,
}

/// What the worker needs to turn the energy budget and the uplink cap into an offload share.
struct ShareLimit {
    energy: Arc<dyn EnergyModel>,
    arrivals: RateMeter,
    /// Edge compute energy per sample, smoothed over batches.
    edge: Option<f64>,
    /// The share the controller held before the budgets (the calibrated target).
    target: f64,
}

impl std::fmt::Debug for EdgeWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeWorker")
            .field("pipeline", &self.pipeline)
            .field("cloud", &self.cloud.is_some())
            .field("max_in_flight", &self.max_in_flight)
            .finish()
    }
}

impl EdgeWorker {
    /// A worker over `pipeline` for samples as `input` declares them (shape `[C, H, W]`,
    /// per-channel mean and std), offloading over `cloud` (none: offloads degrade at once) with
    /// at most `max_in_flight` offloads in flight (0 counts as 1), spawned on `rt`.
    pub fn new(
        pipeline: Pipeline,
        input: &InputSpec,
        cloud: Option<Arc<dyn CloudLink>>,
        rt: tokio::runtime::Handle,
        max_in_flight: usize,
    ) -> Self {
        let shape = [
            input.shape.first().copied().unwrap_or(1),
            input.shape.get(1).copied().unwrap_or(1),
            input.shape.get(2).copied().unwrap_or(1),
        ];
        EdgeWorker {
            pipeline,
            norm: Normalisation::from(input),
            shape,
            buf: Vec::new(),
            cloud,
            rt,
            in_flight: Arc::new(InFlight::default()),
            max_in_flight: max_in_flight.max(1),
            online: None,
            gate: None,
            share: None,
            last_sent: None,
            started: Instant::now(),
        }
    }

    /// Prices samples with `energy` so the energy budget and the uplink cap of
    /// [`with_link`](Self::with_link) can hold the offload share: after each batch the online
    /// controller (of [`with_online`](Self::with_online), which must come first) holds the
    /// smaller of its calibrated target and the largest share the budgets allow at the
    /// measured arrival rate, bytes per offload and goodput. Without an online controller this
    /// does nothing.
    ///
    /// With an energy budget, `energy` also prices each offload for the budget's account
    /// ([`EnergyAccount`](meanet_core::link::EnergyAccount)), with or without an online
    /// controller: an offload the samples so far have not paid for is answered at the edge,
    /// withheld as [`EnergyBudget`](Withheld::EnergyBudget). Call it after
    /// [`with_link`](Self::with_link).
    pub fn with_energy(mut self, energy: Arc<dyn EnergyModel>) -> Self {
        if let Some(g) = &self.gate {
            g.set_energy(Arc::clone(&energy));
        }
        if let Some((o, _)) = &self.online {
            self.share = Some(ShareLimit {
                energy,
                arrivals: RateMeter::new(Seconds(5.0)),
                edge: None,
                target: o.controller().config().target,
            });
        }
        self
    }

    /// Holds `budgets` on the link, measured from the offloads: an offload whose answer is
    /// predicted later than the latency budget, that the uplink cap does not allow, or that
    /// finds the link down or `max_in_flight` offloads already in flight is not sent; its
    /// samples are answered at the edge at once, marked [`withheld`](Outcome::withheld). Every
    /// offload sent is given up at its sample's latency budget (answered degraded then). The
    /// worker never waits for the link.
    pub fn with_link(mut self, budgets: LinkBudgets) -> Result<Self, BudgetError> {
        // Until the link answers, an offload is taken to carry the samples as f32.
        let f32_bytes = (self.sample_len() * std::mem::size_of::<f32>()) as u64;
        self.gate = Some(Arc::new(LinkGate::new(budgets, f32_bytes)?));
        Ok(self)
    }

    /// The offload share the online controller holds now: its calibrated target, or less when
    /// a budget cannot afford it (`None` without an online controller).
    pub fn share_target(&self) -> Option<f64> {
        self.online
            .as_ref()
            .map(|(o, _)| o.controller().config().target)
    }

    /// What the energy budget's account holds now (`None` without an energy budget).
    pub fn energy_balance(&self) -> Option<Joules> {
        self.gate.as_ref().and_then(|g| g.energy_balance())
    }

    /// The link as measured so far (`None` without [`with_link`](Self::with_link)).
    pub fn link_estimate(&self) -> Option<LinkEstimate> {
        self.gate.as_ref().map(|g| g.estimate())
    }

    /// Routes under `online`: after each batch the controller sees what was routed and sets
    /// the thresholds for the next one.
    pub fn with_online(mut self, online: Option<OnlineRouting>) -> Self {
        if let Some(o) = &online {
            self.pipeline.set_policy(o.policy());
        }
        self.online = online.map(|o| (o, Instant::now()));
        self
    }

    /// The online controller's threshold scale (`None` without one).
    pub fn scale(&self) -> Option<f64> {
        self.online.as_ref().map(|(o, _)| o.controller().scale())
    }

    /// The sample shape `[C, H, W]`.
    pub fn sample_shape(&self) -> [usize; 3] {
        self.shape
    }

    /// Bytes of one 8-bit sample (`C * H * W`).
    pub fn sample_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Routes a batch of whole 8-bit samples. `done` receives one outcome per sample (indices
    /// within this batch), at once or, when samples were offloaded, once the cloud has answered
    /// or failed. Blocks while `max_in_flight` offloads are in flight.
    pub fn route_u8(
        &mut self,
        pixels: &[u8],
        done: impl FnOnce(Vec<Outcome>) + Send + 'static,
    ) -> Result<(), EdgeError> {
        let per = self.sample_len();
        if per == 0 || !pixels.len().is_multiple_of(per) {
            return Err(EdgeError::PartialSample {
                got: pixels.len(),
                per,
            });
        }
        let mut buf = std::mem::take(&mut self.buf);
        self.norm
            .normalise_into(pixels, self.shape[1] * self.shape[2], &mut buf);
        let [c, h, w] = self.shape;
        let shape = [pixels.len() / per, c, h, w];
        let result = match ArrayViewD::from_shape(IxDyn(&shape), &buf) {
            Ok(x) => self.route(x, done),
            // The length is n * C * H * W by construction.
            Err(_) => Err(EdgeError::PartialSample {
                got: pixels.len(),
                per,
            }),
        };
        self.buf = buf;
        result
    }

    /// Routes a normalised batch `(n, C, H, W)`; `done` as for [`route_u8`](Self::route_u8).
    /// Each outcome's [`latency`](Outcome::latency) counts from this call.
    pub fn route(
        &mut self,
        x: ArrayViewD<'_, f32>,
        done: impl FnOnce(Vec<Outcome>) + Send + 'static,
    ) -> Result<(), EdgeError> {
        let arrived = Instant::now();
        let done = move |mut outcomes: Vec<Outcome>| {
            let latency = Seconds(arrived.elapsed().as_secs_f64());
            for o in &mut outcomes {
                o.latency = Some(latency);
            }
            done(outcomes);
        };
        let pass = self.pipeline.run_edge(x.view())?;
        let edge = self.gate.as_ref().and_then(|g| g.credit(pass.outcomes()));
        self.limit_share(&pass, edge);
        if let Some((online, started)) = &mut self.online {
            let now = Seconds(started.elapsed().as_secs_f64());
            online.step(now, &pass, &mut self.pipeline);
        }
        let pass = match pass.settled() {
            Ok(outcomes) => {
                done(outcomes);
                return Ok(());
            }
            Err(pass) => pass,
        };
        let Some(cloud) = self.cloud.clone() else {
            done(pass.fail_offloads(CloudErrorKind::NotConfigured));
            return Ok(());
        };
        let sub = x.select(Axis(0), pass.offload());
        if let Some(gate) = self.gate.clone() {
            let n = pass.offload().len();
            let (admission, bytes, paid) = gate.admit(arrived.elapsed(), n);
            let deadline = match admission {
                Admission::Send { deadline } => deadline,
                Admission::Withhold(why) => {
                    done(pass.withhold(why));
                    return Ok(());
                }
                Admission::Probe(why) => {
                    let Some(slot) = self.in_flight.try_acquire(self.max_in_flight) else {
                        gate.settle(paid, &[]);
                        done(pass.withhold(why));
                        return Ok(());
                    };
                    let offload = pass.offload().to_vec();
                    let mut outcomes = pass.withhold(why);
                    let (id, burst) = gate.sent(bytes, n);
                    // A probe is on the air like any offload: its samples, answered at the edge,
                    // carry its bytes and its burst's radio energy.
                    let goodput = gate.estimate().goodput_bps.map(|g| g as u64);
                    for (&i, b) in offload.iter().zip(bytes.split(n)) {
                        let c = &mut outcomes[i].cost;
                        c.bytes_sent = b;
                        c.uplink_bps = goodput;
                        c.burst = Some(burst);
                    }
                    gate.settle(paid, &outcomes);
                    done(outcomes);
                    self.rt.spawn(async move {
                        let _slot = slot;
                        let sent = Instant::now();
                        let reply = within(Some(PROBE_DEADLINE), cloud.classify(sub)).await;
                        gate.finished(id, &reply, n);
                        if reply.is_ok() {
                            gate.probed(sent.elapsed());
                        }
                    });
                    return Ok(());
                }
            };
            let Some(slot) = self.in_flight.try_acquire(self.max_in_flight) else {
                gate.settle(paid, &[]);
                done(pass.withhold(Withheld::Busy));
                return Ok(());
            };
            let (id, burst) = gate.sent(bytes, n);
            let goodput = gate.estimate().goodput_bps.map(|g| g as u64);
            let deadline = deadline.map(|d| Duration::from_secs_f64(d.0));
            self.rt.spawn(async move {
                let _slot = slot;
                let reply = within(deadline, cloud.classify(sub)).await;
                gate.finished(id, &reply, n);
                let mut outcomes = pass.apply(reply);
                on_air(&mut outcomes, goodput, burst);
                gate.settle(paid, &outcomes);
                done(outcomes);
            });
            return Ok(());
        }
        self.in_flight.acquire(self.max_in_flight);
        let slot = Slot(Arc::clone(&self.in_flight));
        let now = Seconds(self.started.elapsed().as_secs_f64());
        let burst = burst_after(self.last_sent, now, pass.offload().len());
        self.last_sent = Some(now);
        self.rt.spawn(async move {
            let _slot = slot;
            let reply = cloud.classify(sub).await;
            let mut outcomes = pass.apply(reply);
            // No goodput measured without a gate: the configured link's rate prices it.
            on_air(&mut outcomes, None, burst);
            done(outcomes);
        });
        Ok(())
    }

    /// Sets the online controller's target to what the budgets allow for the traffic as it is
    /// now (see [`with_energy`](Self::with_energy)).
    fn limit_share(&mut self, pass: &EdgePass, edge: Option<f64>) {
        // `edge` (the gate's pricing of this batch) is there whenever `share` is: both come
        // from `with_energy`.
        let (Some(gate), Some(share), Some((online, _)), Some(edge)) =
            (&self.gate, &mut self.share, &mut self.online, edge)
        else {
            return;
        };
        if !gate.limits_share() {
            return;
        }
        let now = gate.now();
        let rate = share.arrivals.observe(now, pass.outcomes().len() as u64);
        let edge = match share.edge {
            Some(old) => 0.9 * old + 0.1 * edge,
            None => edge,
        };
        share.edge = Some(edge);
        let bytes = gate.bytes_per_sample();
        let goodput = gate.estimate().goodput_bps;
        let radio = share
            .energy
            .price(&SampleCost {
                bytes_sent: bytes,
                uplink_bps: goodput.map(|g| g as u64),
                // The radio's tail and promotion, as the last burst paid them.
                burst: gate.last_burst(),
                ..SampleCost::default()
            })
            .transmit;
        let cap = gate.max_share(&Demand {
            samples_per_s: rate,
            bytes_per_offload: bytes,
            edge_energy: Joules(edge),
            radio_energy: radio,
        });
        online.controller_mut().set_target(share.target.min(cap));
    }

    /// Waits until every offload has been answered (or failed) and its `done` has run.
    pub fn drain(&self) {
        self.in_flight.wait_idle();
    }
}

/// Marks the offloaded samples of `outcomes` (those that carried bytes) with what their radio
/// energy is priced at: the goodput measured when they were sent, and their burst's share of
/// the radio's tail and promotion.
fn on_air(outcomes: &mut [Outcome], goodput: Option<u64>, burst: RadioBurst) {
    for o in outcomes.iter_mut().filter(|o| o.cost.bytes_sent.0 > 0) {
        o.cost.uplink_bps = goodput;
        o.cost.burst = Some(burst);
    }
}

/// `call`, given up after `deadline` (if any) as a timeout.
async fn within(
    deadline: Option<Duration>,
    call: impl std::future::Future<Output = Result<CloudReply, CloudError>>,
) -> Result<CloudReply, CloudError> {
    match deadline {
        Some(d) => tokio::time::timeout(d, call)
            .await
            .unwrap_or(Err(CloudError::Timeout(Seconds(d.as_secs_f64())))),
        None => call.await,
    }
}
