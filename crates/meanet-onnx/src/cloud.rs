//! A cloud link answered in-process by an ONNX classifier, off tokio's worker threads.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use ndarray::ArrayD;

use meanet_core::{Bytes, CloudError, CloudLink, CloudReply, Seconds};

use crate::OrtClassifier;

/// [`CloudLink`] backed by a local [`OrtClassifier`].
///
/// `ort`'s `Session::run` is synchronous and needs `&mut self`, so each call runs on tokio's
/// blocking pool (`spawn_blocking`) with the classifier behind a mutex: the async worker that
/// awaits it is never blocked. Bytes "sent" are the f32 payload, as if it crossed a link.
/// Must be used from within a tokio runtime.
#[derive(Debug, Clone)]
pub struct LocalCloud {
    model: Arc<Mutex<OrtClassifier>>,
    path: PathBuf,
}

impl LocalCloud {
    /// Wraps a classifier.
    pub fn new(model: OrtClassifier) -> Self {
        let path = meanet_core::Network::path(model.network()).to_path_buf();
        LocalCloud {
            model: Arc::new(Mutex::new(model)),
            path,
        }
    }
}

#[async_trait]
impl CloudLink for LocalCloud {
    async fn classify(&self, input: ArrayD<f32>) -> Result<CloudReply, CloudError> {
        let model = Arc::clone(&self.model);
        let start = Instant::now();
        let sent = Bytes((input.len() * 4) as u64);
        let logits = tokio::task::spawn_blocking(move || {
            // A poisoned lock means an earlier call panicked mid-run; the session itself holds
            // no Rust invariants that a panic could break, so keep serving.
            let mut m = model.lock().unwrap_or_else(|p| p.into_inner());
            m.run(input.view())
        })
        .await
        .map_err(|e| CloudError::Unreachable(Box::new(e)))?
        .map_err(|e| CloudError::InvalidReply(format!("{}: {e}", self.path.display()).into()))?;
        let received = Bytes((logits.len() * 4) as u64);
        Ok(CloudReply {
            logits,
            bytes_sent: sent,
            bytes_received: received,
            latency: Seconds(start.elapsed().as_secs_f64()),
            server_time: None,
        })
    }
}
