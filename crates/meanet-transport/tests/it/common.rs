//! Shared by the transport's integration tests: a toy model and server helpers.

#![allow(dead_code, unreachable_pub)] // each test file uses a subset
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

use std::net::SocketAddr;
use std::time::Duration;

use meanet_core::BoxError;
use meanet_transport::{QuicLinkConfig, ServedModel, Server, ServerConfig, TensorInfo, Trust};
use ndarray::{Array2, ArrayD, ArrayViewD, IxDyn};

/// Input [N, 1, 2, 2] -> logits [N, 3]: (sum, -sum, 2*first). Optionally slow.
pub struct Toy {
    pub delay: Duration,
}

impl ServedModel for Toy {
    fn input(&self) -> TensorInfo {
        TensorInfo {
            name: "input".into(),
            shape: vec![None, Some(1), Some(2), Some(2)],
        }
    }
    fn output(&self) -> TensorInfo {
        TensorInfo {
            name: "logits".into(),
            shape: vec![None, Some(3)],
        }
    }
    fn infer(&mut self, x: ArrayViewD<'_, f32>) -> Result<Array2<f32>, BoxError> {
        std::thread::sleep(self.delay);
        let n = x.shape()[0];
        let flat = x.to_shape((n, 4))?;
        Ok(Array2::from_shape_fn((n, 3), |(i, k)| {
            let s: f32 = flat.row(i).sum();
            [s, -s, 2.0 * flat[[i, 0]]][k]
        }))
    }
}

pub fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

pub async fn start(delay: Duration, config: ServerConfig) -> meanet_transport::RunningServer {
    Server::start(Box::new(Toy { delay }), config)
        .await
        .unwrap()
}

pub fn config() -> ServerConfig {
    ServerConfig {
        model_name: "toy".into(),
        http: Some(loopback()),
        quic: Some(loopback()),
        ..ServerConfig::default()
    }
}

pub fn batch(n: usize) -> ArrayD<f32> {
    ArrayD::from_shape_fn(IxDyn(&[n, 1, 2, 2]), |ix| {
        (ix[0] * 4 + ix[2] * 2 + ix[3]) as f32
    })
}

pub fn expected(x: &ArrayD<f32>) -> Array2<f32> {
    Toy {
        delay: Duration::ZERO,
    }
    .infer(x.view())
    .unwrap()
}

/// A QUIC link config for the toy model.
pub fn quic_config(addr: SocketAddr, trust: Trust) -> QuicLinkConfig {
    QuicLinkConfig {
        model: "toy".into(),
        ..QuicLinkConfig::new(addr, trust)
    }
}

pub fn url(s: &meanet_transport::RunningServer) -> String {
    format!("http://{}", s.http_addr().unwrap())
}

/// Hang guard, not a timing assertion: 30 s, 75 to 100 times the 300-400 ms deadlines these
/// tests give their links. A link call that takes this long is stuck (it waited on a server
/// that never answers, or on an absurd Retry-After), however loaded the machine.
pub async fn hang_guard<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("hang guard: a link call took 30 s against a deadline under 1 s")
}
