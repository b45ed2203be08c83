//! `/v1/events/stream`: the caller's events as server-sent events, for clients without NATS.
//! Each event's SSE id is its stream position, so a reconnecting client resumes with
//! `Last-Event-ID` and misses nothing.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use axum::Router;
use futures::{Stream, StreamExt};
use serde::Deserialize;

use crate::auth::Caller;
use crate::extract::ApiQuery;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/events/stream", get(stream_events))
        .route("/event-schemas", get(event_schemas))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamQuery {
    /// The first position to send; without it (and without `Last-Event-ID`), only new events.
    from_position: Option<u64>,
    /// Comma-separated event types.
    types: Option<String>,
}

async fn stream_events(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let resume_after = match headers.get("last-event-id") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::bad_request("Last-Event-ID", "must be a position this stream sent")
                })?,
        ),
    };
    let start = resume_after.map(|p| p + 1).or(query.from_position);
    let types: Option<Vec<String>> = query.types.map(|t| {
        t.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    });
    // Only the caller's tenant: the consumer filters on the tenant's subjects.
    let filter = format!("{}.{}.>", state.bus.namespace(), caller.tenant);
    let events = state
        .log
        .subscribe(Some(filter), start.map(|s| s.max(1)))
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let stream = events
        .take_while(|message| futures::future::ready(message.is_ok()))
        .filter_map(move |message| {
            let event = message
                .ok()
                .and_then(|m| m.event.ok())
                .and_then(|envelope| {
                    let wanted = types
                        .as_ref()
                        .is_none_or(|t| t.contains(&envelope.event.event_type));
                    wanted.then(|| {
                        Event::default()
                            .id(envelope.sequence.to_string())
                            .event(envelope.event.event_type.clone())
                            .json_data(&envelope)
                            .ok()
                    })?
                });
            futures::future::ready(event.map(Ok))
        });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

async fn event_schemas() -> axum::Json<serde_json::Value> {
    axum::Json(fleet_events::schemas::catalog())
}
