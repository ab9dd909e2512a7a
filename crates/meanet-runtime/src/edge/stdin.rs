//! [`StdinBatches`]: a byte stream cut into batches of whole samples, which can be told to
//! stop (on SIGTERM) without losing a sample it has read.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use meanet_core::batching::BatchWindow;

/// How often a wait for input looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(20);

/// The reader thread's state, for a stop to know whether bytes are still on their way.
const READING: u8 = 0;
const SENDING: u8 = 1;
const DONE: u8 = 2;

/// Batches of whole samples cut from a byte stream that a reader thread reads as it arrives.
///
/// A batch is closed when it holds `max_batch` samples, or when its first sample has waited
/// `max_wait` (zero: route whatever whole samples have arrived). The stream's end closes the
/// last batch; bytes of an unfinished sample at the end are an error.
///
/// With [`with_stop`](Self::with_stop), setting the flag makes the stream end early: it stops
/// reading, and every whole sample already read (including what the reader thread holds) is
/// still handed out before `next_batch` returns `None`.
pub struct StdinBatches {
    rx: Receiver<std::io::Result<Vec<u8>>>,
    reader: Arc<AtomicU8>,
    read: Arc<AtomicUsize>,
    halt: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    pending: Vec<u8>,
    per: usize,
    max_batch: usize,
    max_wait: Duration,
    ended: bool,
    samples: usize,
    dropped: usize,
}

impl StdinBatches {
    /// Starts a thread that reads `input` in chunks as they come.
    pub fn new(
        input: impl Read + Send + 'static,
        per: usize,
        max_batch: usize,
        max_wait: Duration,
    ) -> Self {
        // A few chunks of read-ahead: the reader blocks when the edge falls behind.
        let (tx, rx) = mpsc::sync_channel(4);
        let reader = Arc::new(AtomicU8::new(READING));
        let halt = Arc::new(AtomicBool::new(false));
        let read_bytes = Arc::new(AtomicUsize::new(0));
        let (state, stopped, count) = (
            Arc::clone(&reader),
            Arc::clone(&halt),
            Arc::clone(&read_bytes),
        );
        std::thread::spawn(move || {
            let mut input = input;
            loop {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                state.store(READING, Ordering::SeqCst);
                let mut chunk = vec![0u8; 64 << 10];
                let read = input.read(&mut chunk);
                state.store(SENDING, Ordering::SeqCst);
                match read {
                    Ok(0) => break,
                    Ok(n) => {
                        count.fetch_add(n, Ordering::SeqCst);
                        chunk.truncate(n);
                        if tx.send(Ok(chunk)).is_err() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        break;
                    }
                }
            }
            state.store(DONE, Ordering::SeqCst);
        });
        StdinBatches {
            rx,
            reader,
            read: read_bytes,
            halt,
            stop: Arc::new(AtomicBool::new(false)),
            pending: Vec::new(),
            per: per.max(1),
            max_batch: max_batch.max(1),
            max_wait,
            ended: false,
            samples: 0,
            dropped: 0,
        }
    }

    /// Ends the stream early once `stop` is set (see the type's documentation).
    pub fn with_stop(mut self, stop: Arc<AtomicBool>) -> Self {
        self.stop = stop;
        self
    }

    /// Bytes read from the input so far (by the reader thread; some may not have been handed
    /// out yet).
    pub fn bytes_read(&self) -> usize {
        self.read.load(Ordering::SeqCst)
    }

    /// Whole samples handed out so far: every sample read, once the stream has ended.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// Bytes of an unfinished sample left when a stop ended the stream (they were never a
    /// sample; 0 otherwise).
    pub fn dropped_bytes(&self) -> usize {
        self.dropped
    }

    fn whole(&self) -> usize {
        self.pending.len() / self.per
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let rest = self.pending.split_off(n * self.per);
        self.samples += n;
        std::mem::replace(&mut self.pending, rest)
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// On a stop: takes every chunk the reader has read (waiting for one it is handing over),
    /// and ends the stream.
    fn collect_after_stop(&mut self) -> std::io::Result<()> {
        // The reader reads no more once its current read returns.
        self.halt.store(true, Ordering::SeqCst);
        loop {
            match self.rx.recv_timeout(STOP_POLL) {
                Ok(chunk) => self.pending.extend_from_slice(&chunk?),
                Err(RecvTimeoutError::Disconnected) => break,
                // Nothing queued, and the reader is blocked in a read that has returned
                // nothing: no byte is on its way.
                Err(RecvTimeoutError::Timeout) if self.reader.load(Ordering::SeqCst) != SENDING => {
                    break;
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
        self.ended = true;
        self.dropped = self.pending.len() % self.per;
        let whole = self.pending.len() - self.dropped;
        self.pending.truncate(whole);
        Ok(())
    }

    /// The next batch of whole samples, `None` at the end of the stream (or after a stop, once
    /// every sample read has been handed out).
    pub fn next_batch(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        if self.stopping() && !self.ended {
            self.collect_after_stop()?;
        }
        // Wait for a first whole sample.
        while self.whole() == 0 {
            if self.ended {
                if self.pending.is_empty() {
                    return Ok(None);
                }
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "the input ends inside a sample: {} bytes left over, each sample is {} bytes",
                        self.pending.len(),
                        self.per
                    ),
                ));
            }
            match self.rx.recv_timeout(STOP_POLL) {
                Ok(chunk) => self.pending.extend_from_slice(&chunk?),
                Err(RecvTimeoutError::Disconnected) => self.ended = true,
                Err(RecvTimeoutError::Timeout) if self.stopping() => self.collect_after_stop()?,
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
        // Let the batch fill until it is full, the wait is over or the stream ends.
        let window = BatchWindow {
            max_batch: self.max_batch,
            max_wait: self.max_wait,
        };
        let opened = Instant::now();
        while !self.ended && !self.stopping() {
            let Some(wait) = window.wait(self.whole(), opened, Instant::now()) else {
                break;
            };
            let chunk = match self.rx.recv_timeout(wait.min(STOP_POLL)) {
                Ok(c) => c,
                Err(RecvTimeoutError::Timeout) if wait <= STOP_POLL => break,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => {
                    self.ended = true;
                    break;
                }
            };
            self.pending.extend_from_slice(&chunk?);
        }
        let n = self.whole().min(self.max_batch);
        Ok(Some(self.take(n)))
    }
}
