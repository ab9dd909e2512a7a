//! What an offload costs with each `cloud.payload`.

use meanet_core::Outcome;

use crate::schema::{MethodRun, PayloadCost};
use meanet_runtime::Deployment;
use meanet_runtime::options::Options;

/// What an offload costs with each payload, and MEANet's edge energy per sample with it:
/// measured from MEANet's run over a link carrying it where there is one (`runs`), else
/// estimated by pricing each of MEANet's offloads as one sample sent alone.
pub(super) fn payload_costs(
    dep: &Deployment,
    options: &Options,
    meanet: &MethodRun,
    other: Option<&MethodRun>,
) -> Vec<PayloadCost> {
    use meanet_core::{EnergyModel, Exit};
    use meanet_runtime::options::PayloadKind;
    let used = options.cloud.payload;
    [PayloadKind::F32, PayloadKind::U8]
        .into_iter()
        .map(|kind| {
            let run = if kind == used { Some(meanet) } else { other };
            let (sent, received) = dep.offload_bytes(kind);
            let measured = run.and_then(|r| {
                let offloaded: Vec<&Outcome> = r
                    .outcomes
                    .iter()
                    .filter(|o| o.exit == Exit::Cloud)
                    .collect();
                if offloaded.is_empty() {
                    return None;
                }
                let n = offloaded.len() as f64;
                let bytes: u64 = offloaded.iter().map(|o| o.cost.bytes_sent.0).sum();
                let radio: f64 = offloaded
                    .iter()
                    .map(|o| dep.energy.price(&o.cost).transmit.0)
                    .sum();
                Some((bytes as f64 / n, radio / n, r.report.edge_energy_j))
            });
            let (bytes, radio, energy) = measured.unwrap_or_else(|| {
                let radio = dep
                    .energy
                    .price(&meanet_core::SampleCost {
                        bytes_sent: sent,
                        bytes_received: received,
                        ..meanet_core::SampleCost::default()
                    })
                    .transmit
                    .0;
                let total: f64 = meanet
                    .outcomes
                    .iter()
                    .map(|o| {
                        let mut cost = o.cost;
                        if o.exit == Exit::Cloud {
                            cost.bytes_sent = sent;
                            cost.bytes_received = received;
                        }
                        dep.energy.price(&cost).edge().0
                    })
                    .sum();
                (
                    sent.0 as f64,
                    radio,
                    total / meanet.outcomes.len().max(1) as f64,
                )
            });
            PayloadCost {
                payload: kind.name().to_string(),
                used: kind == used,
                measured: measured.is_some(),
                bytes_per_offload: bytes,
                radio_j_per_offload: radio,
                meanet_edge_energy_j: energy,
            }
        })
        .collect()
}
