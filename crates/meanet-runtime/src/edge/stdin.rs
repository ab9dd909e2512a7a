//! [`StdinBatches`]: a byte stream cut into batches of whole samples.

use std::io::Read;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use meanet_core::batching::BatchWindow;

/// Batches of whole samples cut from a byte stream that a reader thread reads as it arrives.
///
/// A batch is closed when it holds `max_batch` samples, or when its first sample has waited
/// `max_wait` (zero: route whatever whole samples have arrived). The stream's end closes the
/// last batch; bytes of an unfinished sample at the end are an error.
pub struct StdinBatches {
    rx: Receiver<std::io::Result<Vec<u8>>>,
    pending: Vec<u8>,
    per: usize,
    max_batch: usize,
    max_wait: Duration,
    ended: bool,
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
        std::thread::spawn(move || {
            let mut input = input;
            loop {
                let mut chunk = vec![0u8; 64 << 10];
                match input.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => {
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
        });
        StdinBatches {
            rx,
            pending: Vec::new(),
            per: per.max(1),
            max_batch: max_batch.max(1),
            max_wait,
            ended: false,
        }
    }

    fn whole(&self) -> usize {
        self.pending.len() / self.per
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let rest = self.pending.split_off(n * self.per);
        std::mem::replace(&mut self.pending, rest)
    }

    /// The next batch of whole samples, `None` at the end of the stream.
    pub fn next_batch(&mut self) -> std::io::Result<Option<Vec<u8>>> {
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
            match self.rx.recv() {
                Ok(chunk) => self.pending.extend_from_slice(&chunk?),
                Err(_) => self.ended = true,
            }
        }
        // Let the batch fill until it is full, the wait is over or the stream ends.
        let window = BatchWindow {
            max_batch: self.max_batch,
            max_wait: self.max_wait,
        };
        let opened = Instant::now();
        while !self.ended {
            let Some(wait) = window.wait(self.whole(), opened, Instant::now()) else {
                break;
            };
            let chunk = match self.rx.recv_timeout(wait) {
                Ok(c) => c,
                Err(RecvTimeoutError::Timeout) => break,
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
