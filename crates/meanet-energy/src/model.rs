//! `meanet_core::EnergyModel` for a deployment's three networks.

use meanet_core::{EnergyBreakdown, EnergyModel, Joules, Macs, SampleCost};

use crate::{EnergyTable, Link, MemoryModel, Profile};

/// Profiles (at batch 1) of the networks of a deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockProfiles {
    /// The main block.
    pub main: Profile,
    /// The adaptive + extension blocks.
    pub extension: Option<Profile>,
    /// The cloud model.
    pub cloud: Option<Profile>,
}

/// Per-block prices derived from a profile: joules per MAC (by the block's own mix of
/// precisions) and the per-sample energy of everything else.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct BlockPrice {
    j_per_mac: f64,
    other_j: f64,
    memory_j: f64,
}

impl BlockPrice {
    fn new(p: Option<&Profile>, table: &EnergyTable, memory: MemoryModel, fallback: f64) -> Self {
        let Some(p) = p else {
            return BlockPrice {
                j_per_mac: fallback,
                ..BlockPrice::default()
            };
        };
        let priced = table.price(p, memory);
        let macs = p.total_macs().0;
        let b = p.batch.max(1) as f64;
        BlockPrice {
            j_per_mac: if macs == 0 {
                fallback
            } else {
                priced.mac_j / macs as f64
            },
            other_j: priced.other_j / b,
            memory_j: priced.memory_j / b,
        }
    }

    fn compute(&self, macs: Macs) -> f64 {
        macs.0 as f64 * self.j_per_mac + self.other_j
    }
}

/// Prices what ran for a sample: MACs from the outcome (so energy follows the work actually
/// done), other operations and memory traffic from each block's profile, radio from the [`Link`].
/// Cloud compute is priced with the same table and reported apart from the edge.
#[derive(Debug, Clone, PartialEq)]
pub struct OnnxEnergyModel {
    main: BlockPrice,
    extension: BlockPrice,
    cloud: BlockPrice,
    link: Link,
}

impl OnnxEnergyModel {
    /// Builds the model from block profiles.
    pub fn new(
        profiles: &BlockProfiles,
        table: &EnergyTable,
        memory: MemoryModel,
        link: Link,
    ) -> Self {
        let fp32 = table.mac_pj(crate::Precision::Fp32) * 1e-12;
        OnnxEnergyModel {
            main: BlockPrice::new(Some(&profiles.main), table, memory, fp32),
            extension: BlockPrice::new(profiles.extension.as_ref(), table, memory, fp32),
            cloud: BlockPrice::new(profiles.cloud.as_ref(), table, memory, fp32),
            link,
        }
    }

    /// A model that knows only MAC counts: fp32 MACs priced by `table`, no memory term.
    pub fn macs_only(table: &EnergyTable, link: Link) -> Self {
        let fp32 = table.mac_pj(crate::Precision::Fp32) * 1e-12;
        let b = BlockPrice {
            j_per_mac: fp32,
            ..BlockPrice::default()
        };
        OnnxEnergyModel {
            main: b,
            extension: b,
            cloud: b,
            link,
        }
    }

    /// The radio link.
    pub fn link(&self) -> &Link {
        &self.link
    }
}

impl EnergyModel for OnnxEnergyModel {
    fn price(&self, cost: &SampleCost) -> EnergyBreakdown {
        let mut compute = 0.0;
        let mut memory = 0.0;
        for (macs, block) in [(cost.main, &self.main), (cost.extension, &self.extension)] {
            if let Some(m) = macs {
                compute += block.compute(m);
                memory += block.memory_j;
            }
        }
        let cloud = cost
            .cloud
            .map_or(0.0, |m| self.cloud.compute(m) + self.cloud.memory_j);
        EnergyBreakdown {
            edge_compute: Joules(compute),
            edge_memory: Joules(memory),
            transmit: match cost.uplink_bps {
                Some(bps) => self.link.at_uplink(bps as f64 / 1e6),
                None => self.link,
            }
            .energy(cost.bytes_sent, cost.bytes_received)
                + cost
                    .burst
                    .map_or(Joules(0.0), |b| self.link.burst_energy(b)),
            cloud: Joules(cloud),
        }
    }
}
