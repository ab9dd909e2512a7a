//! [`Reorder`]: outcomes of batches answered out of order, back in input order.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use meanet_core::Outcome;

/// Where [`Reorder`] hands outcomes, in input order.
pub trait Sink {
    /// One outcome, the next in input order.
    fn write(&mut self, outcome: Outcome);
    /// Called after the outcomes of a batch that completed the order have been written.
    fn batch_done(&mut self) {}
}

impl Sink for Vec<Outcome> {
    fn write(&mut self, outcome: Outcome) {
        self.push(outcome);
    }
}

/// Puts batches answered out of order back in order: batch `seq` is written once every batch
/// before it has been.
#[derive(Debug)]
pub struct Reorder<S> {
    next: u64,
    waiting: BTreeMap<u64, (usize, Vec<Outcome>)>,
    written: usize,
    sink: S,
}

impl<S: Sink> Reorder<S> {
    /// A reorder buffer that hands outcomes, in input order, to `sink`.
    pub fn new(sink: S) -> Self {
        Reorder {
            next: 0,
            waiting: BTreeMap::new(),
            written: 0,
            sink,
        }
    }

    /// The sink back.
    pub fn into_sink(self) -> S {
        self.sink
    }

    /// The sink.
    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }

    /// Adds batch `seq`, whose first sample has input index `first`; writes what is now in
    /// order. Outcomes get their input index.
    pub fn push(&mut self, seq: u64, first: usize, outcomes: Vec<Outcome>) {
        self.waiting.insert(seq, (first, outcomes));
        let before = self.next;
        while let Some((first, batch)) = self.waiting.remove(&self.next) {
            for mut o in batch {
                o.index += first;
                self.written += 1;
                self.sink.write(o);
            }
            self.next += 1;
        }
        if self.next != before {
            self.sink.batch_done();
        }
    }

    /// Outcomes written so far.
    pub fn written(&self) -> usize {
        self.written
    }

    /// Batches held back behind one still in flight.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }
}

/// A shared [`Reorder`], for the callbacks of [`super::EdgeWorker`].
pub type SharedReorder<S> = Arc<Mutex<Reorder<S>>>;

/// Adds a batch to a shared reorder buffer (poisoning is ignored: the buffer stays usable).
pub fn push_shared<S: Sink>(r: &SharedReorder<S>, seq: u64, first: usize, outcomes: Vec<Outcome>) {
    r.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(seq, first, outcomes);
}
