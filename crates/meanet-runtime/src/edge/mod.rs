//! The edge runtime: a worker that owns the pipeline (and with it the inference sessions) and
//! routes batches on its own thread, with offloads overlapped with its work on later batches.
//!
//! - [`EdgeWorker`] normalises 8-bit pixels (core's [`Normalisation`](meanet_core::Normalisation)) straight into a buffer it reuses, runs the edge path
//!   on the calling thread (no hand-off per batch), and answers each batch through a callback:
//!   at once when nothing is offloaded, else from an async task once the cloud has answered.
//!   At most `max_in_flight` offloads are in flight; the worker waits for a slot before it
//!   sends another, so memory stays bounded whatever the cloud's latency.
//! - [`EdgeStream`] routes a stream of batches through a worker into a [`Sink`], in input
//!   order, recording routing metrics, and checks at the end that no sample was lost.
//! - [`Reorder`] puts the outcomes of batches answered out of order back in input order.
//! - [`StdinBatches`] cuts a byte stream into batches of whole samples, closing a batch when it
//!   is full or when its first sample has waited `max_wait`.
//!
//! The degraded rules are the pipeline's: a failed offload keeps the best edge answer, marked
//! degraded. Every sample of a batch given to [`EdgeWorker::route_u8`] gets exactly one outcome.

mod endpoint;
mod gate;
mod in_flight;
mod reorder;
mod stdin;
mod stream;
mod worker;

pub use endpoint::{EdgeBatching, EdgeEndpoint, OUTPUTS};
pub use gate::{LinkGate, PROBE_DEADLINE, link_failure};
pub use reorder::{Reorder, SharedReorder, Sink, push_shared};
pub use stdin::StdinBatches;
pub use stream::{EdgeStream, StreamError};
pub use worker::{EdgeError, EdgeWorker};

#[cfg(test)]
mod gate_tests;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use meanet_core::Outcome;

    use super::*;

    #[test]
    fn stream_batches_close_when_full_and_at_the_end() {
        let bytes: Vec<u8> = (0..10 * 3).map(|i| i as u8).collect();
        let mut s = StdinBatches::new(std::io::Cursor::new(bytes), 3, 4, Duration::from_secs(5));
        let mut sizes = Vec::new();
        let mut all = Vec::new();
        while let Some(b) = s.next_batch().unwrap() {
            sizes.push(b.len() / 3);
            all.extend(b);
        }
        assert_eq!(sizes.iter().sum::<usize>(), 10);
        assert!(sizes.iter().all(|&n| (1..=4).contains(&n)), "{sizes:?}");
        assert_eq!(all, (0..30).map(|i| i as u8).collect::<Vec<_>>());
    }

    #[test]
    fn a_partial_sample_at_the_end_is_an_error() {
        let mut s = StdinBatches::new(std::io::Cursor::new(vec![1u8; 7]), 3, 4, Duration::ZERO);
        assert_eq!(s.next_batch().unwrap().map(|b| b.len()), Some(6));
        let e = s.next_batch().unwrap_err();
        assert!(e.to_string().contains("1 bytes left over"), "{e}");
    }

    #[test]
    fn a_slow_stream_is_batched_by_the_wait_not_held_back() {
        let (tx, rx) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut s = StdinBatches::new(rx, 2, 64, Duration::from_millis(20));
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            let mut tx = tx;
            tx.write_all(&[1, 2, 3, 4]).unwrap();
            std::thread::sleep(Duration::from_millis(300));
            tx.write_all(&[5, 6]).unwrap();
        });
        let first = s.next_batch().unwrap().unwrap();
        assert_eq!(first, vec![1, 2, 3, 4], "two samples, closed by the wait");
        let second = s.next_batch().unwrap().unwrap();
        assert_eq!(second, vec![5, 6]);
        assert!(s.next_batch().unwrap().is_none());
        writer.join().unwrap();
    }

    #[test]
    fn a_stop_hands_out_every_whole_sample_read_then_ends() {
        use std::io::Write;
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let (mut tx, rx) = std::os::unix::net::UnixStream::pair().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        // A long wait: only the stop (not the clock) can close this stream's batches.
        let mut s =
            StdinBatches::new(rx, 3, 64, Duration::from_secs(3600)).with_stop(Arc::clone(&stop));
        // Five samples and a third of a sixth; the writer keeps the stream open.
        tx.write_all(&[1; 16]).unwrap();
        // Wait (without a clock) until the reader has the bytes: they are then "read".
        let started = std::time::Instant::now();
        while s.bytes_read() < 16 {
            // A hang guard, not a timing assertion: the bytes are read within microseconds.
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "hang guard: the reader never took the 16 bytes"
            );
            std::thread::yield_now();
        }
        stop.store(true, Ordering::SeqCst);
        let mut got = Vec::new();
        while let Some(b) = s.next_batch().unwrap() {
            got.extend(b);
        }
        assert_eq!(got.len(), 15, "every whole sample read is handed out");
        assert_eq!((s.samples(), s.dropped_bytes()), (5, 1));
        drop(tx);
    }

    #[test]
    fn reorder_writes_in_input_order() {
        let mk = |i: usize| Outcome {
            index: i,
            class: i,
            exit: meanet_core::Exit::Main,
            main: meanet_core::Scores::from_logits(&[1.0, 0.0]).unwrap(),
            extension: None,
            cloud: None,
            reason: meanet_core::RouteReason::EasyConfident,
            cost: meanet_core::SampleCost::default(),
            degraded: None,
            cloud_latency: None,
            withheld: None,
            latency: None,
        };
        let mut r = Reorder::new(Vec::new());
        r.push(1, 2, vec![mk(0), mk(1)]);
        assert_eq!(r.waiting(), 1);
        assert_eq!(r.written(), 0);
        r.push(2, 4, vec![mk(0)]);
        r.push(0, 0, vec![mk(0), mk(1)]);
        assert_eq!(r.written(), 5);
        let seen: Vec<usize> = r.into_sink().iter().map(|o| o.index).collect();
        assert_eq!(seen, vec![0, 1, 2, 3, 4]);
    }
}
