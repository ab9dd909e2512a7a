//! Cloud link adapters for meanet: the Open Inference Protocol v2 over HTTP, and QUIC.
//!
//! This crate will implement `meanet_core::CloudLink` (client) and serve ONNX models (server);
//! deadlines, retries, backoff and circuit breaking live here. It depends on `meanet-core` and
//! never on another adapter. Work in progress: see the transport issue.
