//! `/v1/events/stream`: the caller's events as server-sent events, for clients without NATS.
//! Each event's SSE id is its stream position, so a reconnecting client resumes with
//! `Last-Event-ID` and misses nothing.

use std::time::Duration;

use aide::axum::routing::get_with;
use aide::axum::ApiRouter;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use futures::StreamExt;
use serde::Deserialize;

use crate::auth::Caller;
use crate::docs::{summary, EventStream, Served};
use crate::extract::ApiQuery;
use crate::{ApiError, AppState};

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/events/stream",
            get_with(
                stream_events,
                summary("The tenant's events as server-sent events (id = position; resume with Last-Event-ID)"),
            ),
        )
        .api_route(
            "/event-schemas",
            get_with(
                event_schemas,
                summary("JSON Schema of the envelope and of every event type's payload"),
            ),
        )
        .with_path_items(|item| item.tag("events"))
}
#[derive(Deserialize, schemars::JsonSchema)]
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
) -> Result<Served<EventStream>, ApiError> {
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
    // Each stream is a consumer: a credential and a tenant hold a bounded number at once.
    let place = crate::limits::open_stream(
        &state.limits,
        &caller.key_id.to_string(),
        caller.tenant.as_str(),
    )?;
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
            // The place is given back when the stream (and this closure) is dropped.
            let _open = &place;
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
            futures::future::ready(event.map(Ok::<_, std::convert::Infallible>))
        });
    let events = Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)));
    Ok(Served::new(events.into_response()))
}

/// Open to every role of the tenant, like any read.
async fn event_schemas(_: Caller) -> Result<axum::Json<serde_json::Value>, ApiError> {
    Ok(axum::Json(fleet_events::schemas::catalog()))
}
