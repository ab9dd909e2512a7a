//! Pricing counted work into joules with a technology table and a memory model.

use meanet_core::Joules;
use serde::{Deserialize, Serialize};

use crate::{Precision, Profile};

/// Energy per operation and per memory access, in picojoules.
///
/// Defaults are the 45 nm figures of M. Horowitz, "Computing's energy problem (and what we can do
/// about it)", ISSCC 2014, Fig. 1.1.9 (0.9 V). Every field can be overridden in configuration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnergyTable {
    /// 32-bit float multiply: 3.7 pJ (Horowitz 2014).
    pub fp32_mult_pj: f64,
    /// 32-bit float add: 0.9 pJ (Horowitz 2014).
    pub fp32_add_pj: f64,
    /// 16-bit float multiply: 1.1 pJ (Horowitz 2014).
    pub fp16_mult_pj: f64,
    /// 16-bit float add: 0.4 pJ (Horowitz 2014).
    pub fp16_add_pj: f64,
    /// 8-bit integer multiply: 0.2 pJ (Horowitz 2014).
    pub int8_mult_pj: f64,
    /// 8-bit integer add: 0.03 pJ (Horowitz 2014).
    pub int8_add_pj: f64,
    /// 32-bit read from an 8 KB SRAM: 5 pJ (Horowitz 2014).
    pub sram_read_32bit_pj: f64,
    /// 32-bit read from DRAM: 640 pJ (Horowitz 2014).
    pub dram_read_32bit_pj: f64,
}

impl Default for EnergyTable {
    fn default() -> Self {
        EnergyTable {
            fp32_mult_pj: 3.7,
            fp32_add_pj: 0.9,
            fp16_mult_pj: 1.1,
            fp16_add_pj: 0.4,
            int8_mult_pj: 0.2,
            int8_add_pj: 0.03,
            sram_read_32bit_pj: 5.0,
            dram_read_32bit_pj: 640.0,
        }
    }
}

impl EnergyTable {
    /// One multiply-accumulate (multiply + add) at `p`.
    pub fn mac_pj(&self, p: Precision) -> f64 {
        match p {
            Precision::Fp32 => self.fp32_mult_pj + self.fp32_add_pj,
            Precision::Fp16 => self.fp16_mult_pj + self.fp16_add_pj,
            Precision::Int8 => self.int8_mult_pj + self.int8_add_pj,
        }
    }

    /// One other arithmetic operation at `p`, priced as an add.
    pub fn op_pj(&self, p: Precision) -> f64 {
        match p {
            Precision::Fp32 => self.fp32_add_pj,
            Precision::Fp16 => self.fp16_add_pj,
            Precision::Int8 => self.int8_add_pj,
        }
    }

    /// Checks every constant is finite and non-negative; names the first that is not.
    pub fn validate(&self) -> Result<(), String> {
        let fields = [
            ("fp32_mult_pj", self.fp32_mult_pj),
            ("fp32_add_pj", self.fp32_add_pj),
            ("fp16_mult_pj", self.fp16_mult_pj),
            ("fp16_add_pj", self.fp16_add_pj),
            ("int8_mult_pj", self.int8_mult_pj),
            ("int8_add_pj", self.int8_add_pj),
            ("sram_read_32bit_pj", self.sram_read_32bit_pj),
            ("dram_read_32bit_pj", self.dram_read_32bit_pj),
        ];
        match fields.iter().find(|(_, v)| !v.is_finite() || *v < 0.0) {
            Some((name, v)) => Err(format!("energy.{name} = {v} must be finite and >= 0")),
            None => Ok(()),
        }
    }
}

/// Where weights are read from, once per batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightsIn {
    /// Off-chip DRAM (default: an edge accelerator's on-chip buffers rarely hold a whole model).
    #[default]
    Dram,
    /// On-chip SRAM (a model small enough to stay resident).
    Sram,
}

/// The memory model, kept simple and explicit:
///
/// - every weight is read once per batch from [`WeightsIn`] memory (default DRAM);
/// - every activation a layer reads or writes crosses on-chip SRAM once (writes priced as reads);
/// - the network input is read once from DRAM;
/// - operand reuse inside the MAC array (register files) is part of the MAC energy.
///
/// Per-sample energy is the batch's energy divided by the batch size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryModel {
    /// Where weights live.
    pub weights: WeightsIn,
}

/// Energy of one layer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PricedLayer {
    /// Node name.
    pub name: String,
    /// Arithmetic energy (MACs and other operations), joules.
    pub compute_j: f64,
    /// Memory energy (weights and activations), joules.
    pub memory_j: f64,
}

/// A profile priced into joules, for its batch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PricedProfile {
    /// Per layer, in graph order.
    pub layers: Vec<PricedLayer>,
    /// Arithmetic energy of MACs only, for the batch.
    pub mac_j: f64,
    /// Arithmetic energy of other operations, for the batch.
    pub other_j: f64,
    /// Memory energy, for the batch (input read included).
    pub memory_j: f64,
    /// Batch size.
    pub batch: usize,
}

impl PricedProfile {
    /// Total energy for the batch.
    pub fn total(&self) -> Joules {
        Joules(self.mac_j + self.other_j + self.memory_j)
    }

    /// Total energy per sample.
    pub fn per_sample(&self) -> Joules {
        Joules(self.total().0 / self.batch.max(1) as f64)
    }
}

impl EnergyTable {
    /// Prices `profile` under `memory`.
    pub fn price(&self, profile: &Profile, memory: MemoryModel) -> PricedProfile {
        let pj = 1e-12;
        let word = |bytes: u64| bytes as f64 / 4.0;
        let weight_pj = match memory.weights {
            WeightsIn::Dram => self.dram_read_32bit_pj,
            WeightsIn::Sram => self.sram_read_32bit_pj,
        };
        let (mut mac_j, mut other_j, mut memory_j) = (0.0, 0.0, 0.0);
        let layers = profile
            .layers
            .iter()
            .map(|l| {
                let mac = l.macs as f64 * self.mac_pj(l.precision) * pj;
                let other = l.flops as f64 * self.op_pj(l.precision) * pj;
                let mem = (word(l.weight_bytes) * weight_pj
                    + word(l.activation_read_bytes + l.activation_write_bytes)
                        * self.sram_read_32bit_pj)
                    * pj;
                mac_j += mac;
                other_j += other;
                memory_j += mem;
                PricedLayer {
                    name: l.name.clone(),
                    compute_j: mac + other,
                    memory_j: mem,
                }
            })
            .collect();
        // The network input comes from DRAM once: the first layer's activation read.
        if let Some(first) = profile.layers.first() {
            memory_j += word(first.activation_read_bytes) * self.dram_read_32bit_pj * pj;
        }
        PricedProfile {
            layers,
            mac_j,
            other_j,
            memory_j,
            batch: profile.batch,
        }
    }
}
