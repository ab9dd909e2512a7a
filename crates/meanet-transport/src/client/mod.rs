//! The clients: core's `CloudLink` over HTTP ([`HttpLink`]) and QUIC ([`QuicLink`]).
//!
//! Both reduce a server's answer to a [`RawReply`] (status, the values of two headers, body) and
//! read it with one function, [`interpret`]. The reply is hostile input: its size is bounded
//! before it is read, its headers are parsed defensively, and its body is decoded against the
//! request's batch size. Every failure is a matchable `CloudError`, so the pipeline answers on
//! the edge and marks the sample degraded.

mod http;
mod quic;
mod resilience;

pub use http::{HttpLink, HttpLinkConfig};
pub use quic::{QuicLink, QuicLinkConfig};
pub use resilience::{BreakerState, CircuitBreaker, RetryPolicy, backoff};

use std::time::Duration;

use bytes::Bytes;
use meanet_core::{CloudError, Seconds};
use ndarray::Array2;

use crate::protocol::{self, DecodeError, ErrorBody, HEADER_LENGTH};
use resilience::{Attempt, Resilience};

/// Longest `Retry-After` a client honours; longer hints are clamped (the deadline still rules).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// A server's answer, as either transport received it.
#[derive(Debug, Clone)]
pub(crate) struct RawReply {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<String>,
    pub(crate) header_length: Option<String>,
    /// The `Server-Timing` value, if the server sent one.
    pub(crate) server_timing: Option<String>,
    pub(crate) body: Bytes,
}

/// A reply's logits and the server's own time for them, when it reported one.
pub(crate) type Answered = (Array2<f32>, Option<Duration>);

/// Parses a `Retry-After` value given in seconds (integer or decimal). Negative, NaN, infinite
/// or unparsable values (including the HTTP-date form) give `None`; huge ones are clamped to
/// [`MAX_RETRY_AFTER`]. Never panics.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs = value.trim().parse::<f64>().ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(Duration::try_from_secs_f64(secs).map_or(MAX_RETRY_AFTER, |d| d.min(MAX_RETRY_AFTER)))
}

/// Classifies a server's error status the same way for every transport: 503 is load shedding
/// (retried, honouring `retry_after`), 504 a deadline the server gave up on, 401/403 refused
/// credentials, anything else a rejection that retrying would not change.
pub(crate) fn server_failure(
    status: u16,
    message: String,
    retry_after: Option<Duration>,
    deadline: Duration,
) -> Attempt {
    match status {
        503 => Attempt::Retry(
            CloudError::Overloaded {
                retry_after: retry_after.map(|d| Seconds(d.as_secs_f64())),
            },
            retry_after,
        ),
        504 => Attempt::Fatal(CloudError::Timeout(Seconds(deadline.as_secs_f64()))),
        401 | 403 => Attempt::Fatal(CloudError::Unauthorized { status, message }),
        _ => Attempt::Fatal(CloudError::Rejected { status, message }),
    }
}

/// Whether `e`, or an error in its chain, is the TLS library's own (`rustls::Error`): the
/// handshake failed, whatever layer reported it. `std::io::Error` hides the error it wraps from
/// `source()`, so that wrapper is opened explicitly.
pub(crate) fn is_tls_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    // A chain is short; the bound only keeps a cyclic `source()` from looping forever.
    for _ in 0..32 {
        let Some(err) = next else { return false };
        if err.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        next = match err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    false
}

/// Whether a QUIC transport error code is a TLS alert (RFC 9000 section 20.1: `CRYPTO_ERROR`,
/// 0x0100-0x01ff), that is a failed handshake.
pub(crate) fn is_crypto_code(code: u64) -> bool {
    (0x100..0x200).contains(&code)
}

fn invalid(e: DecodeError) -> Attempt {
    Attempt::Fatal(CloudError::InvalidReply(Box::new(e)))
}

/// Reads a reply to a batch of `rows` samples: its logits, or the failure.
pub(crate) fn interpret(
    reply: RawReply,
    rows: usize,
    remaining: Duration,
) -> Result<Answered, Attempt> {
    if reply.status != 200 {
        let message = serde_json::from_slice::<ErrorBody>(&reply.body)
            .map(|e| e.error)
            .unwrap_or_else(|_| {
                let text = String::from_utf8_lossy(&reply.body);
                text.chars().take(512).collect()
            });
        let hint = reply.retry_after.as_deref().and_then(parse_retry_after);
        return Err(server_failure(reply.status, message, hint, remaining));
    }
    let header_len = match reply.header_length.as_deref() {
        None => None,
        Some(v) => Some(v.trim().parse::<usize>().map_err(|_| {
            let shown: String = v.chars().take(40).collect();
            invalid(DecodeError::field_err(
                HEADER_LENGTH,
                format!("{shown:?} is not a byte count"),
            ))
        })?),
    };
    let logits = protocol::decode_response(&reply.body, header_len, rows).map_err(invalid)?;
    let server = reply
        .server_timing
        .as_deref()
        .and_then(protocol::parse_server_timing);
    Ok((logits, server))
}

/// A byte count as the ledger's unit.
fn byte_count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Too large a reply, as an `InvalidReply` naming the limit.
pub(crate) fn too_large(limit: usize) -> Attempt {
    invalid(DecodeError::field_err(
        "response body",
        format!("exceeds the {limit} byte limit"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_never_panics_and_is_bounded() {
        let table = [
            ("1", Some(Duration::from_secs(1))),
            (" 0.25 ", Some(Duration::from_millis(250))),
            ("0", Some(Duration::ZERO)),
            ("-1", None),
            ("-0.5", None),
            ("NaN", None),
            ("inf", None),
            ("-inf", None),
            ("1e308", Some(MAX_RETRY_AFTER)),
            ("99999999999999999999", Some(MAX_RETRY_AFTER)),
            ("Wed, 21 Oct 2015 07:28:00 GMT", None),
            ("", None),
        ];
        for (value, want) in table {
            assert_eq!(parse_retry_after(value), want, "{value:?}");
        }
    }

    fn reply(status: u16, body: &[u8]) -> RawReply {
        RawReply {
            status,
            retry_after: Some("NaN".into()),
            header_length: None,
            server_timing: Some("infer;dur=oops".into()),
            body: Bytes::copy_from_slice(body),
        }
    }

    #[test]
    fn statuses_become_matchable_errors() {
        let d = Duration::from_millis(100);
        type Check = fn(&Attempt) -> bool;
        let table: [(u16, Check); 5] = [
            (
                401,
                |a| matches!(a, Attempt::Fatal(CloudError::Unauthorized { status: 401, message }) if message == "no"),
            ),
            (403, |a| {
                matches!(
                    a,
                    Attempt::Fatal(CloudError::Unauthorized { status: 403, .. })
                )
            }),
            (503, |a| {
                matches!(
                    a,
                    Attempt::Retry(CloudError::Overloaded { retry_after: None }, None)
                )
            }),
            (504, |a| matches!(a, Attempt::Fatal(CloudError::Timeout(_)))),
            (400, |a| {
                matches!(a, Attempt::Fatal(CloudError::Rejected { status: 400, .. }))
            }),
        ];
        for (status, check) in table {
            let a = interpret(reply(status, br#"{"error":"no"}"#), 1, d).unwrap_err();
            assert!(check(&a), "{status}: {a:?}");
        }
    }

    #[test]
    fn hostile_replies_are_invalid_not_crashes() {
        let d = Duration::from_millis(100);
        let huge = br#"{"model_name":"m","outputs":[{"name":"y","shape":[2305843009213693951,1],"datatype":"FP32","data":[1]}]}"#;
        let bodies: [&[u8]; 4] = [
            huge,
            br#"{"model_name":"m","outputs":[{"name":"y","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":16}}]}"#,
            b"\xff\xfe garbage",
            br#"{"model_name":"m","outputs":[{"name":"y","shape":[3,2],"datatype":"FP32","data":[1,2,3,4,5,6]}]}"#,
        ];
        for body in bodies {
            let a = interpret(reply(200, body), 1, d).unwrap_err();
            assert!(
                matches!(a, Attempt::Fatal(CloudError::InvalidReply(_))),
                "{a:?}"
            );
        }
        let mut r = reply(200, b"{}");
        r.header_length = Some("-3".into());
        let a = interpret(r, 1, d).unwrap_err();
        assert!(format!("{a:?}").contains(HEADER_LENGTH), "{a:?}");
    }
}
