//! The HTTP framing of the request service: the v2 REST endpoints (axum). It moves bytes and
//! maps [`ServiceError`]s to responses; every check lives in the service.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::limits::Activity;
use super::service::{DEADLINE_HEADER, Incoming, RequestService, ServiceError};
use crate::protocol::{ErrorBody, HEADER_LENGTH};

type Shared = Arc<RequestService>;

/// The v2 router over `service`.
pub(crate) fn router(service: Shared) -> Router {
    let limit = service.max_body_bytes;
    // Inference is authorized by the service itself (as over QUIC); this layer guards the other
    // model endpoints.
    let models = Router::new()
        .route("/v2/models/{name}", get(model_metadata))
        .route("/v2/models/{name}/ready", get(model_ready))
        .route_layer(middleware::from_fn_with_state(Arc::clone(&service), auth));
    Router::new()
        .route("/v2", get(server_metadata))
        .route("/v2/health/live", get(|| async { StatusCode::OK }))
        .route("/v2/health/ready", get(server_ready))
        .route("/metrics", get(metrics))
        .route("/v2/models/{name}/infer", post(infer))
        .merge(models)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(Arc::clone(&service), track))
        .with_state(service)
}

/// Marks the request in flight on its connection (so the idle timeout spares it) and, once the
/// server refuses new connections, asks HTTP/1 clients to close the connection after the
/// answer: the client closes it, so no request is ever sent on a connection the server cuts.
/// (Not earlier: while the listener is open, a client reconnecting could land in its backlog
/// just as it closes.)
async fn track(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let _busy = req.extensions().get::<Arc<Activity>>().map(Activity::busy);
    let _server_busy = s.activity.busy();
    let http1 = req.version() <= axum::http::Version::HTTP_11;
    let mut resp = next.run(req).await;
    if s.closing() && http1 {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// Liveness is the process; readiness is "will answer now": 503 once the server drains.
async fn server_ready(State(s): State<Shared>) -> StatusCode {
    if s.ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

/// The v2 error response of `e`: JSON body, plus Retry-After on 503 and WWW-Authenticate on 401.
fn error_response(e: &ServiceError) -> Response {
    let status = e.status();
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (code, axum::Json(ErrorBody { error: e.message() })).into_response();
    match status {
        503 => {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        401 => {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        _ => {}
    }
    resp
}

async fn auth(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let authorization = req.headers().get(header::AUTHORIZATION);
    match s.authorize(authorization.map(HeaderValue::as_bytes)) {
        Ok(()) => next.run(req).await,
        Err(e) => {
            s.metrics.count("http", e.status());
            error_response(&e)
        }
    }
}

async fn server_metadata() -> Response {
    axum::Json(json!({
        "name": "meanet",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": ["binary_tensor_data"],
    }))
    .into_response()
}

fn shape_json(shape: &[Option<usize>]) -> Vec<i64> {
    shape
        .iter()
        .map(|d| d.map_or(-1, |d| i64::try_from(d).unwrap_or(i64::MAX)))
        .collect()
}

async fn model_metadata(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    if let Err(e) = s.check_model(&name) {
        return error_response(&e);
    }
    let e = &s.endpoint;
    let input = e.input();
    let outputs: Vec<_> = e
        .outputs()
        .iter()
        .map(|o| json!({"name": o.name, "datatype": o.datatype, "shape": shape_json(&o.shape)}))
        .collect();
    axum::Json(json!({
        "name": s.model_name,
        "versions": ["1"],
        "platform": e.platform(),
        "inputs": [{
            "name": input.name, "datatype": e.input_datatype(), "shape": shape_json(&input.shape)
        }],
        "outputs": outputs,
    }))
    .into_response()
}

async fn model_ready(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    match s.check_model(&name) {
        Ok(()) if !s.ready() => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => error_response(&e),
    }
}

async fn metrics(State(s): State<Shared>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.encode() + &s.endpoint.metrics(),
    )
        .into_response()
}

async fn infer(
    State(s): State<Shared>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let start = Instant::now();
    let resp = match body {
        // The body limit layer refuses before the service sees the bytes.
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            error_response(&ServiceError::TooLarge {
                limit: s.max_body_bytes,
            })
        }
        Err(r) => (
            r.status(),
            axum::Json(ErrorBody {
                error: format!("could not read the request body: {}", r.body_text()),
            }),
        )
            .into_response(),
        Ok(body) => {
            let value = |name: &str| headers.get(name).map(HeaderValue::as_bytes);
            let incoming = Incoming {
                model: &name,
                authorization: value(header::AUTHORIZATION.as_str()),
                header_length: value(HEADER_LENGTH),
                deadline: value(DEADLINE_HEADER),
                body: &body,
            };
            match s.infer(incoming).await {
                Ok(answer) => {
                    let mut resp = (StatusCode::OK, answer.body).into_response();
                    let h = resp.headers_mut();
                    if let Ok(v) =
                        HeaderValue::from_str(&crate::protocol::server_timing(answer.took))
                    {
                        h.insert(crate::protocol::SERVER_TIMING, v);
                    }
                    match answer.header_length {
                        Some(n) => {
                            h.insert(
                                header::CONTENT_TYPE,
                                HeaderValue::from_static("application/octet-stream"),
                            );
                            h.insert(HEADER_LENGTH, HeaderValue::from(n));
                        }
                        None => {
                            h.insert(
                                header::CONTENT_TYPE,
                                HeaderValue::from_static("application/json"),
                            );
                        }
                    }
                    resp
                }
                Err(e) => error_response(&e),
            }
        }
    };
    s.metrics.count("http", resp.status().as_u16());
    s.metrics.latency.observe(start.elapsed().as_secs_f64());
    resp
}
