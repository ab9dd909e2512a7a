//! The QUIC framing of the request service (quinn): one bidirectional stream per request, each
//! direction one [`protocol::encode_frame`] message whose metadata stands for HTTP's headers.
//! Every check lives in the service, so auth and limits are exactly HTTP's.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::ServerError;
use super::limits::{Limits, quic_transport};
use super::service::{DEADLINE_HEADER, Incoming, RequestService, ServiceError};
use crate::protocol::{self, DecodeError, ErrorBody, HEADER_LENGTH, Meta};
use crate::tls::TlsError;

/// Binds the QUIC endpoint and spawns its accept loop. Once `drain` turns true, no new
/// connection or stream is accepted (a connection attempt is refused at once); streams already
/// accepted are answered, then each connection is closed with code 0 (`draining`) and the loop
/// ends.
pub(crate) fn serve(
    addr: SocketAddr,
    tls: rustls::ServerConfig,
    service: Arc<RequestService>,
    limits: &Limits,
    drain: watch::Receiver<bool>,
) -> Result<(quinn::Endpoint, tokio::task::JoinHandle<()>), ServerError> {
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls).map_err(|e| {
        ServerError::Tls(TlsError {
            what: "QUIC server configuration".into(),
            source: Box::new(e),
        })
    })?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(Arc::new(quic_transport(limits)));
    let endpoint = quinn::Endpoint::server(config, addr)
        .map_err(|source| ServerError::Bind { addr, source })?;
    let ep = endpoint.clone();
    // Connections and streams live in task sets owned by the accept loop, so aborting the loop
    // (a killed server) drops every connection and frees the UDP port.
    let accept = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        let mut stop = drain.clone();
        loop {
            let incoming = tokio::select! {
                i = ep.accept() => i,
                _ = stop.wait_for(|d| *d) => None,
            };
            let Some(incoming) = incoming else { break };
            let service = Arc::clone(&service);
            let mut stop = drain.clone();
            connections.spawn(async move {
                let Ok(conn) = incoming.await else { return };
                let mut streams = tokio::task::JoinSet::new();
                loop {
                    let next = tokio::select! {
                        s = conn.accept_bi() => s.ok(),
                        _ = stop.wait_for(|d| *d) => None,
                    };
                    let Some((send, recv)) = next else { break };
                    streams.spawn(handle_stream(Arc::clone(&service), send, recv));
                    while streams.try_join_next().is_some() {}
                }
                while streams.join_next().await.is_some() {}
                conn.close(0u32.into(), b"draining");
            });
            while connections.try_join_next().is_some() {}
        }
        // Draining: a new connection attempt is refused at once (CONNECTION_REFUSED), so a
        // client learns it at connect time, as over TCP, instead of waiting out its deadline,
        // while the open connections finish what they accepted.
        loop {
            tokio::select! {
                incoming = ep.accept() => match incoming {
                    Some(i) => i.refuse(),
                    None => break,
                },
                done = connections.join_next() => {
                    if done.is_none() {
                        break;
                    }
                }
            }
        }
    });
    Ok((endpoint, accept))
}

/// Reads one request from `recv` and answers it: status, reply metadata and body.
async fn answer(
    service: &RequestService,
    recv: &mut quinn::RecvStream,
) -> (u16, Meta, bytes::Bytes) {
    let limit = service
        .max_body_bytes
        .saturating_add(protocol::MAX_META_BYTES + 4);
    let result = match recv.read_to_end(limit).await {
        Err(quinn::ReadToEndError::TooLong) => Err(ServiceError::TooLarge {
            limit: service.max_body_bytes,
        }),
        Err(e) => Err(ServiceError::BadRequest(DecodeError::field_err(
            "stream",
            format!("could not read the request: {e}"),
        ))),
        Ok(msg) => match protocol::decode_frame(&msg) {
            Err(e) => Err(ServiceError::BadRequest(e)),
            Ok((meta, body)) => {
                let value = |k: &str| meta.get(k).map(String::as_bytes);
                let incoming = Incoming {
                    model: meta.get("model").map_or("", String::as_str),
                    authorization: value("authorization"),
                    header_length: value(HEADER_LENGTH),
                    deadline: value(DEADLINE_HEADER),
                    body,
                };
                service.infer(incoming).await
            }
        },
    };
    let mut meta = Meta::new();
    let (status, body) = match result {
        Ok(a) => {
            if let Some(n) = a.header_length {
                meta.insert(HEADER_LENGTH.into(), n.to_string());
            }
            meta.insert(
                protocol::SERVER_TIMING.into(),
                protocol::server_timing(a.took),
            );
            (200, a.body)
        }
        Err(e) => {
            if e.status() == 503 {
                meta.insert("retry-after".into(), "1".into());
            }
            let body = serde_json::to_vec(&ErrorBody { error: e.message() }).unwrap_or_default();
            (e.status(), body.into())
        }
    };
    meta.insert("status".into(), status.to_string());
    (status, meta, body)
}

async fn handle_stream(
    service: Arc<RequestService>,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) {
    let start = Instant::now();
    let (status, meta, body) = answer(&service, &mut recv).await;
    service.metrics.count("quic", status);
    service
        .metrics
        .latency
        .observe(start.elapsed().as_secs_f64());
    if send
        .write_all(&protocol::encode_frame(&meta, &body))
        .await
        .is_ok()
    {
        let _ = send.finish();
        // Wait until the peer has the whole answer (or gives up) before dropping the stream.
        let _ = tokio::time::timeout(Duration::from_secs(5), send.stopped()).await;
    }
}
