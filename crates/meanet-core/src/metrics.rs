//! Metrics over outcomes: accuracy overall and per exit, exit shares, hard-class detection,
//! energy and traffic.

use crate::partition::ClassPartition;
use crate::pipeline::{Exit, Outcome};
use crate::ports::{EnergyBreakdown, EnergyModel};
use crate::units::{Bytes, Joules};

/// Why metrics could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricsError {
    /// There was not one label per outcome.
    #[error("{outcomes} outcomes but {labels} labels")]
    LengthMismatch {
        /// Number of outcomes.
        outcomes: usize,
        /// Number of labels.
        labels: usize,
    },
}

/// Counts at one exit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExitStats {
    /// The exit.
    pub exit: Exit,
    /// Samples answered there.
    pub count: usize,
    /// `count / samples`.
    pub share: f64,
    /// Correct answers there.
    pub correct: usize,
    /// `correct / count` (0 when no sample exited there).
    pub accuracy: f64,
}

/// Everything measured over a set of outcomes with their labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Number of samples.
    pub samples: usize,
    /// Overall accuracy.
    pub accuracy: f64,
    /// Per exit, in [`Exit::ALL`] order.
    pub exits: [ExitStats; 3],
    /// Samples answered on the edge because the cloud failed.
    pub degraded: usize,
    /// Of the samples that left the main block, the fraction whose label is a hard class.
    pub hard_detection_precision: f64,
    /// Of the samples whose label is a hard class, the fraction that left the main block.
    pub hard_detection_recall: f64,
    /// Total energy over all samples.
    pub energy: EnergyBreakdown,
    /// Total bytes sent to the cloud.
    pub bytes_sent: Bytes,
    /// Total bytes received from the cloud.
    pub bytes_received: Bytes,
}

impl Summary {
    /// Summarises `outcomes` against `labels` (one per outcome, same order).
    pub fn from_outcomes(
        outcomes: &[Outcome],
        labels: &[usize],
        partition: &ClassPartition,
        energy: &dyn EnergyModel,
    ) -> Result<Self, MetricsError> {
        if outcomes.len() != labels.len() {
            return Err(MetricsError::LengthMismatch {
                outcomes: outcomes.len(),
                labels: labels.len(),
            });
        }
        let n = outcomes.len();
        let mut counts = [0usize; 3];
        let mut correct = [0usize; 3];
        let (mut degraded, mut left, mut left_hard, mut hard) = (0, 0, 0, 0);
        let mut total = EnergyBreakdown::default();
        let (mut sent, mut received) = (Bytes(0), Bytes(0));
        for (o, &y) in outcomes.iter().zip(labels) {
            let e = exit_index(o.exit);
            counts[e] += 1;
            correct[e] += usize::from(o.class == y);
            degraded += usize::from(o.is_degraded());
            let left_main = o.cost.extension.is_some() || o.exit == Exit::Cloud || o.is_degraded();
            let is_hard = partition.is_hard(y);
            left += usize::from(left_main);
            hard += usize::from(is_hard);
            left_hard += usize::from(left_main && is_hard);
            let p = energy.price(&o.cost);
            total.edge_compute += p.edge_compute;
            total.edge_memory += p.edge_memory;
            total.transmit += p.transmit;
            total.cloud += p.cloud;
            sent += o.cost.bytes_sent;
            received += o.cost.bytes_received;
        }
        let exits = Exit::ALL.map(|exit| {
            let i = exit_index(exit);
            ExitStats {
                exit,
                count: counts[i],
                share: ratio(counts[i], n),
                correct: correct[i],
                accuracy: ratio(correct[i], counts[i]),
            }
        });
        Ok(Summary {
            samples: n,
            accuracy: ratio(correct.iter().sum(), n),
            exits,
            degraded,
            hard_detection_precision: ratio(left_hard, left),
            hard_detection_recall: ratio(left_hard, hard),
            energy: total,
            bytes_sent: sent,
            bytes_received: received,
        })
    }

    /// Stats of one exit.
    pub fn exit(&self, exit: Exit) -> &ExitStats {
        &self.exits[exit_index(exit)]
    }

    /// Mean edge energy (compute, memory, radio) per sample.
    pub fn edge_energy_per_sample(&self) -> Joules {
        Joules(self.energy.edge().0 / self.samples.max(1) as f64)
    }

    /// Mean cloud compute energy per sample.
    pub fn cloud_energy_per_sample(&self) -> Joules {
        Joules(self.energy.cloud.0 / self.samples.max(1) as f64)
    }

    /// Mean bytes sent per sample.
    pub fn bytes_per_sample(&self) -> f64 {
        self.bytes_sent.0 as f64 / self.samples.max(1) as f64
    }
}

fn exit_index(exit: Exit) -> usize {
    match exit {
        Exit::Main => 0,
        Exit::Extension => 1,
        Exit::Cloud => 2,
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::Scores;
    use crate::policy::RouteReason;
    use crate::ports::{CloudErrorKind, SampleCost};
    use crate::units::Macs;

    /// One picojoule per MAC on the edge, ten in the cloud, one per byte sent.
    struct PerMac;
    impl EnergyModel for PerMac {
        fn price(&self, c: &SampleCost) -> EnergyBreakdown {
            let edge = c.main.unwrap_or_default().0 + c.extension.unwrap_or_default().0;
            EnergyBreakdown {
                edge_compute: Joules::from_picojoules(edge as f64),
                edge_memory: Joules(0.0),
                transmit: Joules::from_picojoules(c.bytes_sent.0 as f64),
                cloud: Joules::from_picojoules(10.0 * c.cloud.unwrap_or_default().0 as f64),
            }
        }
    }

    fn outcome(class: usize, exit: Exit, ext: bool, degraded: bool) -> Outcome {
        Outcome {
            index: 0,
            class,
            exit,
            main: Scores::from_logits(&[0.0, 1.0]).unwrap(),
            extension: None,
            cloud: None,
            reason: RouteReason::EdgeOnly,
            cost: SampleCost {
                main: Some(Macs(100)),
                extension: ext.then_some(Macs(50)),
                cloud: (exit == Exit::Cloud).then_some(Macs(1000)),
                bytes_sent: Bytes(if exit == Exit::Cloud { 40 } else { 0 }),
                bytes_received: Bytes(0),
                uplink_bps: None,
                burst: None,
            },
            degraded: degraded.then_some(CloudErrorKind::Timeout),
            cloud_latency: None,
            withheld: None,
            latency: None,
        }
    }

    #[test]
    fn summary_counts_by_hand() {
        let p = ClassPartition::try_new(4, vec![2, 3]).unwrap();
        let outs = [
            outcome(0, Exit::Main, false, false),     // label 0: right
            outcome(2, Exit::Extension, true, false), // label 2: right, hard, left main
            outcome(1, Exit::Cloud, false, false),    // label 3: wrong, hard, left main
            outcome(0, Exit::Main, false, true),      // label 1: wrong, degraded, left main
        ];
        let s = Summary::from_outcomes(&outs, &[0, 2, 3, 1], &p, &PerMac).unwrap();
        assert_eq!(s.samples, 4);
        assert!((s.accuracy - 0.5).abs() < 1e-12);
        assert_eq!(s.exit(Exit::Main).count, 2);
        assert!((s.exit(Exit::Main).accuracy - 0.5).abs() < 1e-12);
        assert!((s.exit(Exit::Extension).share - 0.25).abs() < 1e-12);
        assert_eq!(s.exit(Exit::Cloud).correct, 0);
        assert_eq!(s.degraded, 1);
        assert!((s.hard_detection_precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((s.hard_detection_recall - 1.0).abs() < 1e-12);
        // edge: 4*100 + 50 MACs + 40 bytes = 490 pJ; cloud 10_000 pJ.
        assert!((s.energy.edge().0 - 490e-12).abs() < 1e-20);
        assert!((s.cloud_energy_per_sample().0 - 2500e-12).abs() < 1e-20);
        assert!((s.bytes_per_sample() - 10.0).abs() < 1e-12);
        assert_eq!(
            Summary::from_outcomes(&outs, &[0], &p, &PerMac),
            Err(MetricsError::LengthMismatch {
                outcomes: 4,
                labels: 1
            })
        );
    }
}
