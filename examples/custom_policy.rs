//! Write your own exit policy and unit-test it without any runtime.
//!
//! `BatteryAware` wraps any policy (here MEANet's) and keeps samples on the edge while the
//! battery is low: the radio is most of the edge's energy (about 7.5 mJ per offloaded 28x28
//! sample over WiFi, against about 25 uJ for the main block), so below a charge level a
//! slightly less accurate edge answer is the better trade. The battery level is shared with
//! whatever monitors it, through an atomic.
//!
//! Run it:   cargo run -p meanet-examples --example custom_policy
//! Test it:  cargo test -p meanet-examples --example custom_policy

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use meanet_core::{
    ClassPartition, ExitPolicy, ExtensionRoute, MeaNet, Route, RouteReason, Scores, Thresholds,
};

/// Offloads only while the battery is above `min_percent`; otherwise answers on the edge:
/// hard-class samples still get the extension, easy ones exit at the main block.
pub struct BatteryAware<P> {
    inner: P,
    battery: Arc<AtomicU8>,
    min_percent: u8,
}

impl<P: ExitPolicy> BatteryAware<P> {
    /// Wraps `inner`; `battery` holds the charge in percent.
    pub fn new(inner: P, battery: Arc<AtomicU8>, min_percent: u8) -> Self {
        BatteryAware {
            inner,
            battery,
            min_percent,
        }
    }

    fn may_offload(&self) -> bool {
        self.battery.load(Ordering::Relaxed) > self.min_percent
    }
}

impl<P: ExitPolicy> ExitPolicy for BatteryAware<P> {
    fn name(&self) -> &'static str {
        "battery_aware"
    }

    fn after_main(&self, scores: &Scores, partition: &ClassPartition) -> (Route, RouteReason) {
        match self.inner.after_main(scores, partition) {
            (Route::Offload, _) if !self.may_offload() => {
                if partition.is_hard(scores.class) {
                    (Route::RunExtension, RouteReason::HardClass)
                } else {
                    (Route::ExitMain, RouteReason::EdgeOnly)
                }
            }
            decision => decision,
        }
    }

    fn after_extension(&self, scores: &Scores) -> (ExtensionRoute, RouteReason) {
        match self.inner.after_extension(scores) {
            (ExtensionRoute::Offload, _) if !self.may_offload() => {
                (ExtensionRoute::ExitExtension, RouteReason::EdgeOnly)
            }
            decision => decision,
        }
    }
}

/// MEANet with example thresholds (in nats).
fn meanet() -> MeaNet {
    MeaNet {
        thresholds: Thresholds {
            main: Some(0.5),
            cloud_main: Some(1.5),
            extension: Some(0.3),
            ..Thresholds::default()
        },
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Four classes, 2 and 3 hard. The rows are main-block logits; see the tests for a whole
    // pipeline.
    let partition = ClassPartition::try_new(4, vec![2, 3])?;
    let battery = Arc::new(AtomicU8::new(80));
    let policy = BatteryAware::new(meanet(), Arc::clone(&battery), 20);
    let uncertain_easy = Scores::from_logits(&[1.0, 0.9, 0.0, 0.0])?;
    for level in [80, 10] {
        battery.store(level, Ordering::Relaxed);
        let (route, reason) = policy.after_main(&uncertain_easy, &partition);
        println!(
            "battery {level:>3}%: an uncertain easy sample goes {route:?} ({})",
            reason.name()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is a failure

    use super::*;
    use futures::executor::block_on;
    use meanet_core::testing::{EchoMain, FakeCloud, PickHard};
    use meanet_core::{BlockCosts, Exit, Pipeline};
    use ndarray::array;

    fn pipeline(battery: Arc<AtomicU8>) -> Pipeline {
        // The fakes make every route the test's choice: input rows are the main logits, and
        // the extension answers from the hard columns.
        Pipeline::new(
            Box::new(EchoMain),
            Some(Box::new(PickHard::new(vec![2, 3], 4.0))),
            ClassPartition::try_new(4, vec![2, 3]).unwrap(),
            Box::new(BatteryAware::new(meanet(), battery, 20)),
            BlockCosts::default(),
        )
    }

    fn batch() -> ndarray::ArrayD<f32> {
        array![
            [9.0f32, 0.0, 0.0, 0.0], // easy and confident: main
            [1.0, 0.9, 0.0, 0.0],    // easy but uncertain: cloud, if the battery allows
            [0.0, 0.0, 0.3, 0.29],   // hard, the extension is unsure: cloud, if allowed
        ]
        .into_dyn()
    }

    #[test]
    fn offloads_while_the_battery_is_high() {
        let battery = Arc::new(AtomicU8::new(90));
        let cloud = FakeCloud::answering(4, 1);
        let out = block_on(pipeline(battery).route(batch().view(), Some(&cloud))).unwrap();
        let exits: Vec<Exit> = out.iter().map(|o| o.exit).collect();
        assert_eq!(exits, [Exit::Main, Exit::Cloud, Exit::Cloud]);
        assert_eq!(cloud.seen(), [2], "one offload batch of two samples");
    }

    #[test]
    fn keeps_every_sample_on_the_edge_when_the_battery_is_low() {
        let battery = Arc::new(AtomicU8::new(15));
        let cloud = FakeCloud::answering(4, 1);
        let out = block_on(pipeline(battery).route(batch().view(), Some(&cloud))).unwrap();
        let exits: Vec<Exit> = out.iter().map(|o| o.exit).collect();
        assert_eq!(exits, [Exit::Main, Exit::Main, Exit::Extension]);
        assert!(cloud.seen().is_empty(), "nothing was sent");
        assert!(
            out.iter().all(|o| o.degraded.is_none()),
            "a choice, not a failure"
        );
        assert_eq!(out[1].reason, RouteReason::EdgeOnly);
    }

    #[test]
    fn follows_the_battery_as_it_changes() {
        let battery = Arc::new(AtomicU8::new(15));
        let policy = BatteryAware::new(meanet(), Arc::clone(&battery), 20);
        let partition = ClassPartition::try_new(4, vec![2, 3]).unwrap();
        let s = Scores::from_logits(&[1.0, 0.9, 0.0, 0.0]).unwrap();
        assert_eq!(policy.after_main(&s, &partition).0, Route::ExitMain);
        battery.store(21, Ordering::Relaxed);
        assert_eq!(policy.after_main(&s, &partition).0, Route::Offload);
    }
}
