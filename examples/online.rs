//! Hold the offload share at a target while the input mix changes, with the online controller
//! around any pipeline: no runtime, no network, the fake blocks of `meanet_core::testing`.
//!
//! The stream starts with few samples of hard classes and ends with many. The static thresholds
//! offload about 20% of the first half but about 3% of the second (here the extension is sure
//! of most hard samples); under the controller the share per window stays at 20%.
//!
//! Run it:   cargo run -p meanet-examples --example online
//! Test it:  cargo test -p meanet-examples --example online

use futures::executor::block_on;
use meanet_core::online::{ControllerConfig, OnlineController, OnlineRouting};
use meanet_core::testing::{EchoMain, FakeCloud, PickHard};
use meanet_core::{
    BlockCosts, ClassPartition, Exit, Macs, Pipeline, RoutingThresholds, Seconds, Thresholds,
};
use ndarray::{Array2, ArrayD};

const CLASSES: usize = 4;

/// A pipeline whose main logits are its input rows (`EchoMain`): class 0 and 1 easy, 2 and 3
/// hard.
fn pipeline() -> Result<Pipeline, Box<dyn std::error::Error>> {
    let partition = ClassPartition::try_new(CLASSES, vec![2, 3])?;
    Ok(Pipeline::new(
        Box::new(EchoMain),
        Some(Box::new(PickHard::new(vec![2, 3], 1.0))),
        partition,
        Box::new(meanet_core::EdgeOnly),
        BlockCosts {
            main: Macs(1),
            extension: Macs(1),
            cloud: Macs(1),
        },
    ))
}

/// `n` samples, each of a hard class with probability `hard`; easy-class samples have sharper
/// logits (the main block is surer of them) than hard-class ones.
fn batch(rng: &mut fastrand::Rng, n: usize, hard: f64) -> ArrayD<f32> {
    let mut next = || rng.f64();
    let mut x = Array2::<f32>::zeros((n, CLASSES));
    for mut row in x.outer_iter_mut() {
        let is_hard = next() < hard;
        let class = if is_hard { 2 } else { 0 } + usize::from(next() < 0.5);
        let sharp = if is_hard { 2.5 } else { 6.0 };
        row[class] = (1.0 + sharp * next()) as f32;
        row[(class + 1) % CLASSES] = (1.5 * next()) as f32;
    }
    x.into_dyn()
}

/// Offload share per window of 1,000 samples over a stream whose hard share goes from 10% to
/// 90%, with the thresholds static or under the controller.
fn shares(online: bool) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
    let thresholds = RoutingThresholds::Global(Thresholds {
        main: Some(0.9),
        cloud_main: Some(1.3),
        extension: Some(0.9),
        ..Thresholds::default()
    });
    let mut cfg = ControllerConfig::new(0.2);
    if !online {
        // Pinned at scale 1: the calibrated thresholds as they are.
        (cfg.min_scale, cfg.max_scale) = (1.0, 1.0);
    }
    let controller = OnlineController::new(cfg)?;
    let mut routing = OnlineRouting::new(thresholds, controller);
    let mut p = pipeline()?;
    let cloud = FakeCloud::answering(CLASSES, 0);
    let (mut rng, mut offloaded, mut out) = (fastrand::Rng::with_seed(7), 0usize, Vec::new());
    for k in 0..10_000 / 50 {
        let x = batch(&mut rng, 50, if k < 100 { 0.1 } else { 0.9 });
        p.set_policy(routing.policy());
        let pass = p.run_edge(x.view())?;
        routing.observe(Seconds(k as f64 * 0.01), &pass, &p.partition().clone());
        let outcomes = block_on(pass.complete(x.view(), Some(&cloud)));
        offloaded += outcomes.iter().filter(|o| o.exit == Exit::Cloud).count();
        if (k + 1) % 20 == 0 {
            out.push(offloaded as f64 / 1000.0);
            offloaded = 0;
        }
    }
    Ok(out)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pct = |v: Vec<f64>| {
        v.iter()
            .map(|s| format!("{:4.1}", s * 100.0))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!("offload share (%) per 1,000 samples; hard classes 10% then 90%; target 20%");
    println!("static: {}", pct(shares(false)?));
    println!("online: {}", pct(shares(true)?));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_controller_holds_what_static_thresholds_let_drift()
    -> Result<(), Box<dyn std::error::Error>> {
        let online = shares(true)?;
        assert!(
            online.iter().skip(1).all(|s| (s - 0.2).abs() <= 0.03),
            "{online:?}"
        );
        let fixed = shares(false)?;
        assert!((fixed[9] - fixed[0]).abs() > 0.1, "{fixed:?}");
        Ok(())
    }
}
