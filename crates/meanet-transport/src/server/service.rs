//! The request service: everything an inference request goes through, whatever carried it.
//!
//! HTTP and QUIC only frame requests. Each hands the service an [`Incoming`] (the model name
//! from its URL or metadata, the raw values of the three protocol headers, and the body), and
//! the service does the rest in one place:
//! 1. auth (bearer token, compared in constant time);
//! 2. the model name;
//! 3. the body limit;
//! 4. the header length and deadline values, parsed once;
//! 5. decoding against the model's metadata ([`protocol::decode_inputs`]), non-finite FP32
//!    values refused;
//! 6. the endpoint's inference under the deadline, and the outputs the client asked for.
//!
//! Every failure is a [`ServiceError`] that knows its status code, so a check written here holds
//! on every transport.

use std::sync::Arc;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

use bytes::Bytes;

use super::batcher::InferError;
use super::endpoint::Endpoint;
use super::metrics::Metrics;
use crate::protocol::{self, DecodeError, HEADER_LENGTH};

/// Header (or QUIC metadata key) a client may set to bound how long the server works on a
/// request, in milliseconds.
pub const DEADLINE_HEADER: &str = "x-meanet-deadline-ms";

/// Longest deadline of a request, asked for or configured; longer values are clamped to it.
pub const MAX_DEADLINE: Duration = Duration::from_secs(600);

/// Why a request was not answered with logits. Each variant maps to one status code
/// ([`ServiceError::status`]), the same on HTTP and QUIC.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No bearer token, or the wrong one (401).
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// The URL or metadata names a model this server does not serve (404).
    #[error("unknown model {0:?}")]
    UnknownModel(String),
    /// The body is larger than the configured limit (413).
    #[error("request body exceeds the {limit} byte limit")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The request could not be decoded or does not fit the model (400).
    #[error("invalid inference request")]
    BadRequest(#[from] DecodeError),
    /// The batcher refused or failed the request (503, 504 or 500).
    #[error(transparent)]
    Infer(#[from] InferError),
}

impl ServiceError {
    /// The status code of this error (HTTP status; the same number travels in QUIC metadata).
    pub fn status(&self) -> u16 {
        match self {
            ServiceError::Unauthorized => 401,
            ServiceError::UnknownModel(_) => 404,
            ServiceError::TooLarge { .. } => 413,
            ServiceError::BadRequest(_) => 400,
            ServiceError::Infer(InferError::Overloaded | InferError::Stopped) => 503,
            ServiceError::Infer(InferError::DeadlineExceeded) => 504,
            ServiceError::Infer(InferError::Model(_)) => 500,
        }
    }

    /// The message for the v2 error body: this error and its causes, `: `-separated.
    pub fn message(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cause = c.source();
        }
        text
    }
}

/// One request as a framing received it. Header values are raw bytes: the service, not the
/// framing, decides what a malformed value means.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Incoming<'a> {
    /// The model name from the URL path or the QUIC metadata.
    pub(crate) model: &'a str,
    /// `authorization`.
    pub(crate) authorization: Option<&'a [u8]>,
    /// `inference-header-content-length`.
    pub(crate) header_length: Option<&'a [u8]>,
    /// `x-meanet-deadline-ms`.
    pub(crate) deadline: Option<&'a [u8]>,
    /// The body: the v2 JSON header, then any binary tensor data.
    pub(crate) body: &'a [u8],
}

/// A successful answer: the body, and the JSON header's length when binary data follows it.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) body: Bytes,
    pub(crate) header_length: Option<usize>,
    /// The server's own time for it, from the request read to the answer encoded: every
    /// framing reports it ([`protocol::SERVER_TIMING`]).
    pub(crate) took: Duration,
}

/// The shared request service of one served model.
pub(crate) struct RequestService {
    pub(crate) endpoint: Arc<dyn Endpoint>,
    pub(crate) model_name: String,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) token: Option<String>,
    pub(crate) default_deadline: Duration,
    pub(crate) max_body_bytes: usize,
    pub(crate) answer_delay: Duration,
    /// Set when the server starts draining: readiness answers 503 from then on.
    pub(crate) draining: Arc<std::sync::atomic::AtomicBool>,
    /// Set once the server refuses new connections: HTTP/1 answers then ask the client to
    /// close the connection, so each open one ends after its next answer.
    pub(crate) closing: Arc<std::sync::atomic::AtomicBool>,
    /// HTTP requests in flight, and when one last started or ended (for the drain to know
    /// when open connections have gone quiet).
    pub(crate) activity: Arc<super::limits::Activity>,
}

impl std::fmt::Debug for RequestService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestService")
            .field("model_name", &self.model_name)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

impl RequestService {
    /// Whether the server will answer now: false once it drains (the model is loaded before
    /// the server starts, so that is the one way to become unready).
    pub(crate) fn ready(&self) -> bool {
        !self.draining.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether open connections should close after their next answer.
    pub(crate) fn closing(&self) -> bool {
        self.closing.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Checks the `authorization` value against the configured token, in constant time.
    pub(crate) fn authorize(&self, authorization: Option<&[u8]>) -> Result<(), ServiceError> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        let presented = authorization.and_then(|v| v.strip_prefix(b"Bearer "));
        // `subtle` compares equal lengths without a data-dependent branch the optimiser could
        // add; only the length (not secret in a bearer scheme's practice) can end it early.
        let ok = presented.is_some_and(|p| bool::from(p.ct_eq(token.as_bytes())));
        if ok {
            Ok(())
        } else {
            Err(ServiceError::Unauthorized)
        }
    }

    /// Checks that `name` is the served model.
    pub(crate) fn check_model(&self, name: &str) -> Result<(), ServiceError> {
        if name == self.model_name {
            Ok(())
        } else {
            Err(ServiceError::UnknownModel(name.to_string()))
        }
    }

    /// Authorizes, decodes, batches and encodes one inference.
    pub(crate) async fn infer(&self, req: Incoming<'_>) -> Result<Answer, ServiceError> {
        let started = Instant::now();
        self.authorize(req.authorization)?;
        self.check_model(req.model)?;
        if req.body.len() > self.max_body_bytes {
            return Err(ServiceError::TooLarge {
                limit: self.max_body_bytes,
            });
        }
        let header_len = req
            .header_length
            .map(|v| parse_number(v, HEADER_LENGTH, "a byte count"))
            .transpose()?;
        // A length beyond usize is beyond the body too; split_body reports it.
        let header_len = header_len.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        let budget = match req.deadline {
            None => self.default_deadline,
            Some(v) => Duration::from_millis(parse_number(
                v,
                DEADLINE_HEADER,
                "a number of milliseconds",
            )?),
        }
        .min(MAX_DEADLINE);
        let names: Vec<&str> = self
            .endpoint
            .outputs()
            .iter()
            .map(|o| o.name.as_str())
            .collect();
        let decoded = protocol::decode_inputs(
            req.body,
            header_len,
            self.endpoint.input(),
            &names,
            self.endpoint.uint8_channels(),
        )?;
        // NaN or infinite inputs (only binary data can carry them) are refused here, before a
        // batch is formed: one client's bad sample must not fail the others' in its batch.
        if let protocol::InputBatch::F32(x) = &decoded.input
            && let Some(i) = x.iter().position(|v| !v.is_finite())
        {
            return Err(ServiceError::BadRequest(DecodeError::field_err(
                "inputs[0].data",
                format!(
                    "element {i} is {}, not a finite FP32 value",
                    x.iter().nth(i).copied().unwrap_or(f32::NAN)
                ),
            )));
        }
        let outputs = match tokio::time::timeout(
            budget,
            self.endpoint
                .infer(decoded.input, Instant::now().checked_add(budget)),
        )
        .await
        {
            Err(_) => return Err(InferError::DeadlineExceeded.into()),
            Ok(result) => result?,
        };
        if !self.answer_delay.is_zero() {
            tokio::time::sleep(self.answer_delay).await;
        }
        let (body, header_length) = protocol::encode_outputs(
            &self.model_name,
            decoded.id.as_deref(),
            &outputs,
            &decoded.outputs,
            decoded.binary_output,
        );
        Ok(Answer {
            body,
            header_length,
            took: started.elapsed(),
        })
    }
}

/// Parses a header value as a decimal `u64`, naming the header when it is not one.
fn parse_number(value: &[u8], name: &str, what: &str) -> Result<u64, DecodeError> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| {
            let shown = String::from_utf8_lossy(value);
            let shown: String = shown.chars().take(40).collect();
            DecodeError::field_err(name, format!("{shown:?} is not {what}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_numbers_name_the_header() {
        assert_eq!(parse_number(b" 42 ", HEADER_LENGTH, "x").unwrap(), 42);
        for bad in [
            &b"-1"[..],
            b"1e3",
            b"",
            b"\xff\xfe",
            b"99999999999999999999999",
        ] {
            let e = parse_number(bad, DEADLINE_HEADER, "a number of milliseconds").unwrap_err();
            assert_eq!(e.field(), Some(DEADLINE_HEADER), "{e}");
        }
    }

    #[test]
    fn statuses_are_fixed_per_error() {
        let table = [
            (ServiceError::Unauthorized, 401),
            (ServiceError::UnknownModel("m".into()), 404),
            (ServiceError::TooLarge { limit: 1 }, 413),
            (
                ServiceError::BadRequest(DecodeError::field_err("inputs", "x")),
                400,
            ),
            (ServiceError::Infer(InferError::Overloaded), 503),
            (ServiceError::Infer(InferError::Stopped), 503),
            (ServiceError::Infer(InferError::DeadlineExceeded), 504),
            (ServiceError::Infer(InferError::Model("x".into())), 500),
        ];
        for (e, status) in table {
            assert_eq!(e.status(), status, "{e}");
        }
        let e = ServiceError::BadRequest(DecodeError::field_err("inputs[0].shape", "too big"));
        assert_eq!(
            e.message(),
            "invalid inference request: inputs[0].shape: too big"
        );
    }
}
