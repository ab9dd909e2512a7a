//! Micro-batching: when a batch that is filling should close. One decision, used by the v2
//! server's batcher, the edge endpoint and `meanet run`'s stdin batches.
//!
//! The clock is the caller's: [`BatchWindow::wait`] is given the time the batch opened and
//! the time now, so the rule is tested without sleeping.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use meanet_core::batching::BatchWindow;
//!
//! let w = BatchWindow { max_batch: 8, max_wait: Duration::from_millis(2) };
//! let opened = Instant::now();
//! assert_eq!(w.wait(3, opened, opened), Some(Duration::from_millis(2)));
//! assert_eq!(w.wait(8, opened, opened), None); // full: close now
//! ```

use std::time::{Duration, Instant};

/// Close a batch when it holds `max_batch` samples, or once its first item has waited
/// `max_wait`; after that, only what has already arrived still joins it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchWindow {
    /// Samples that fill a batch (0 counts as 1).
    pub max_batch: usize,
    /// How long the first item of a batch waits for others.
    pub max_wait: Duration,
}

impl BatchWindow {
    /// With `held` samples in a batch opened at `opened`, at time `now`: `None` to close it now
    /// (it is full), else how long to wait for the next item at most. A zero wait means the
    /// window is over: take an item only if one is already there, else close.
    pub fn wait(&self, held: usize, opened: Instant, now: Instant) -> Option<Duration> {
        if held >= self.max_batch.max(1) {
            return None;
        }
        let waited = now.saturating_duration_since(opened);
        Some(self.max_wait.saturating_sub(waited))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_closes_when_full_and_stops_waiting_when_its_first_item_has_waited() {
        let w = BatchWindow {
            max_batch: 4,
            max_wait: Duration::from_millis(10),
        };
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        assert_eq!(w.wait(1, t0, t0), Some(ms(10)));
        assert_eq!(
            w.wait(3, t0, t0 + ms(4)),
            Some(ms(6)),
            "the window is the first item's"
        );
        assert_eq!(w.wait(3, t0, t0 + ms(10)), Some(Duration::ZERO));
        assert_eq!(
            w.wait(3, t0, t0 + ms(500)),
            Some(Duration::ZERO),
            "late: ready items only"
        );
        assert_eq!(w.wait(4, t0, t0), None);
        assert_eq!(w.wait(9, t0, t0 + ms(1)), None, "over-full closes too");
        let zero = BatchWindow {
            max_batch: 0,
            max_wait: Duration::ZERO,
        };
        assert_eq!(zero.wait(0, t0, t0), Some(Duration::ZERO));
        assert_eq!(zero.wait(1, t0, t0), None, "max_batch 0 counts as 1");
        let huge = BatchWindow {
            max_batch: 2,
            max_wait: Duration::MAX,
        };
        assert_eq!(
            huge.wait(1, t0, t0 + ms(1)),
            Some(Duration::MAX - ms(1)),
            "no overflow"
        );
    }
}
