//! [`InFlight`]: the bound on offloads in flight, shared by a worker and its offload tasks.

use std::sync::{Arc, Condvar, Mutex, PoisonError};

/// Offloads in flight, bounded: a counter and a condition variable.
#[derive(Debug, Default)]
pub(super) struct InFlight {
    count: Mutex<usize>,
    changed: Condvar,
}

impl InFlight {
    pub(super) fn acquire(&self, max: usize) {
        let mut n = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        while *n >= max {
            n = self.changed.wait(n).unwrap_or_else(PoisonError::into_inner);
        }
        *n += 1;
    }

    /// A slot if one is free now; the edge does not wait for one.
    pub(super) fn try_acquire(self: &Arc<Self>, max: usize) -> Option<Slot> {
        let mut n = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot(Arc::clone(self)))
    }

    pub(super) fn release(&self) {
        let mut n = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        *n = n.saturating_sub(1);
        self.changed.notify_all();
    }

    pub(super) fn wait_idle(&self) {
        let mut n = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        while *n > 0 {
            n = self.changed.wait(n).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Releases an in-flight slot when the offload task ends, however it ends.
pub(super) struct Slot(pub(super) Arc<InFlight>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.release();
    }
}
