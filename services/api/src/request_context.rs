//! Per-request context: the correlation id (taken from `X-Correlation-Id` or made, echoed on
//! the response, put on every event the request causes), a tracing span, HTTP metrics, and
//! who is calling from where.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::AppState;

pub const CORRELATION_HEADER: &str = "x-correlation-id";

tokio::task_local! {
    static CORRELATION_ID: String;
}

/// The correlation id of the request being served, if any.
pub fn correlation_id() -> Option<String> {
    CORRELATION_ID.try_with(Clone::clone).ok()
}

/// Where a request came from, for the actor recorded on events.
pub use fleet_app::access::Origin as RequestMeta;

fn valid_correlation_id(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub async fn middleware(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let correlation_id = header_str(request.headers(), CORRELATION_HEADER)
        .filter(|v| valid_correlation_id(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().clone();
    let meta = RequestMeta {
        correlation_id: correlation_id.clone(),
        ip: request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string()),
        user_agent: header_str(request.headers(), "user-agent").map(str::to_owned),
    };
    request.extensions_mut().insert(meta);

    let span = tracing::info_span!(
        "request",
        %method,
        route = %route,
        correlation_id = %correlation_id,
        status = tracing::field::Empty,
    );
    let mut response = CORRELATION_ID
        .scope(
            correlation_id.clone(),
            next.run(request).instrument(span.clone()),
        )
        .await;
    let status = response.status();
    span.record("status", status.as_u16());
    if let Ok(value) = HeaderValue::from_str(&correlation_id) {
        response.headers_mut().insert(CORRELATION_HEADER, value);
    }
    state
        .metrics
        .observe_request(method.as_str(), &route, status.as_u16(), started.elapsed());
    if status.is_server_error() {
        tracing::error!(parent: &span, status = status.as_u16(), "request failed");
    } else {
        tracing::debug!(parent: &span, status = status.as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "request served");
    }
    response
}
