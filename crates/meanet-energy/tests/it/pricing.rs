//! Pricing: the technology table, the memory model, the radio and the core energy port.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use crate::common;

use meanet_core::{Bytes, EnergyModel, Macs, SampleCost};
use meanet_energy::{
    BlockProfiles, EnergyTable, Graph, Link, MemoryModel, OnnxEnergyModel, WeightsIn,
};
use proptest::prelude::*;

fn small() -> meanet_energy::Profile {
    let mut b = common::Builder::new(false);
    let c = b.conv("input", 1, 4, 3, 1, 1, 1);
    let r = b.relu(c);
    let bytes = b.finish(1, 8, 8, r);
    Graph::parse(&bytes, "small").unwrap().profile(1).unwrap()
}

#[test]
fn pricing_follows_the_table_by_hand() {
    let p = small();
    // Conv: 4*8*8*9 = 2304 MACs at 4.6 pJ; Relu: 256 ops at 0.9 pJ.
    let t = EnergyTable::default();
    let priced = t.price(&p, MemoryModel::default());
    assert!((priced.mac_j - 2304.0 * 4.6e-12).abs() < 1e-18);
    assert!((priced.other_j - 256.0 * 0.9e-12).abs() < 1e-18);
    // Memory: weights 36 words from DRAM (640 pJ); activations: conv reads 64 + writes 256,
    // relu reads 256 + writes 256 words through SRAM (5 pJ); the input's 64 words from DRAM.
    let want = 36.0 * 640e-12 + (64.0 + 256.0 + 256.0 + 256.0) * 5e-12 + 64.0 * 640e-12;
    assert!(
        (priced.memory_j - want).abs() < 1e-18,
        "{} vs {want}",
        priced.memory_j
    );
    let sram = t.price(
        &p,
        MemoryModel {
            weights: WeightsIn::Sram,
        },
    );
    assert!(sram.memory_j < priced.memory_j);
    let int8 = EnergyTable {
        fp32_mult_pj: 0.2,
        fp32_add_pj: 0.03,
        ..t
    };
    assert!(int8.price(&p, MemoryModel::default()).mac_j < priced.mac_j);
}

#[test]
fn radio_models_follow_huang_et_al() {
    let wifi = Link::wifi();
    // 10 Mbps up: 1.25 MB takes 1 s at 283.17*10 + 132.86 mW = 2.96456 W.
    let e = wifi.energy(Bytes(1_250_000), Bytes(0));
    assert!((e.0 - 2.96456).abs() < 1e-9, "{}", e.0);
    let lte = Link::lte();
    assert!(lte.energy(Bytes(10_000), Bytes(0)).0 > wifi.energy(Bytes(10_000), Bytes(0)).0);
    assert!((wifi.time(Bytes(0), Bytes(0)).0 - 0.020).abs() < 1e-12);
    let custom = Link::custom(1.0, 1.0, 0.0, 2.0, 1.0);
    // 1 Mbps: 125_000 bytes take 1 s at 2 W up; 1 s at 1 W down.
    assert!((custom.energy(Bytes(125_000), Bytes(125_000)).0 - 3.0).abs() < 1e-9);
    assert!(
        Link {
            uplink_mbps: 0.0,
            ..wifi
        }
        .validate()
        .is_err()
    );
    assert!(
        EnergyTable {
            dram_read_32bit_pj: f64::NAN,
            ..EnergyTable::default()
        }
        .validate()
        .unwrap_err()
        .contains("dram_read_32bit_pj")
    );
}

#[test]
fn only_blocks_that_ran_are_priced() {
    let profiles = BlockProfiles {
        main: small(),
        extension: Some(small()),
        cloud: Some(small()),
    };
    let m = OnnxEnergyModel::new(
        &profiles,
        &EnergyTable::default(),
        MemoryModel::default(),
        Link::wifi(),
    );
    let main_only = SampleCost {
        main: Some(Macs(2304)),
        ..SampleCost::default()
    };
    let with_ext = SampleCost {
        extension: Some(Macs(2304)),
        ..main_only
    };
    let offloaded = SampleCost {
        cloud: Some(Macs(2304)),
        bytes_sent: Bytes(3136),
        ..main_only
    };
    let (a, b, c) = (m.price(&main_only), m.price(&with_ext), m.price(&offloaded));
    assert!(b.edge().0 > a.edge().0);
    assert_eq!(a.cloud.0, 0.0);
    assert!(c.cloud.0 > 0.0);
    assert!(c.transmit.0 > 0.0 && a.transmit.0 == 0.0);
    assert!((c.edge().0 - a.edge().0 - c.transmit.0).abs() < 1e-18);
}

proptest! {
    #[test]
    fn energy_grows_with_macs(a in 0u64..10_000_000, extra in 1u64..1_000_000) {
        let m = OnnxEnergyModel::macs_only(&EnergyTable::default(), Link::wifi());
        let c = |macs| SampleCost { main: Some(Macs(macs)), ..SampleCost::default() };
        prop_assert!(m.price(&c(a + extra)).edge().0 > m.price(&c(a)).edge().0);
    }
}
