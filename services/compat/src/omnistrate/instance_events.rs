//! An instance's events (inventory-api ListInstanceEvents and DescribeInstanceEvent): its
//! history, read from the stream itself, each event told as Omnistrate tells it.

use aide::axum::routing::get_with;
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use fleet_api::AppState;
use fleet_domain::instance::Instance;
use fleet_events::{EventEnvelope, EventLog};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::instances::{scoped, InstancePath};
use super::wire::{id, native, prefix, time, Paging, Query};
use super::{Agent, GoaError};

pub fn router() -> ApiRouter<AppState> {
    let item = |tail: &str| {
        format!(
            "/service/{{serviceId}}/environment/{{environmentId}}/instance/{{instanceId}}{tail}"
        )
    };
    let op = |summary| super::operation("inventory-api", summary);
    ApiRouter::new()
        .api_route(&item("/events"), get_with(events, op("ListInstanceEvents")))
        .api_route(
            &item("/event/{id}"),
            get_with(event, op("DescribeInstanceEvent")),
        )
}

/// An instance event: one event of the instance's history, as Omnistrate tells it.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct InstanceEvent {
    environment_id: String,
    /// Customer (a caller's command), Infra (the provisioning agent) or Maintenance (the
    /// system).
    event_source: String,
    id: String,
    instance_id: String,
    message: String,
    resource_name: String,
    service_id: String,
    time: String,
    user_id: String,
    user_name: String,
    workflow_failures: Vec<WorkflowFailure>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct WorkflowFailure {
    event_time: String,
    message: String,
}

impl InstanceEvent {
    fn of(envelope: &EventEnvelope, path: &InstancePath) -> Self {
        let event = &envelope.event;
        let instance_id = id(prefix::INSTANCE, &event.aggregate_id);
        let source = super::feeds::event_source(&event.actor.auth_method, &event.event_type);
        let what = event
            .event_type
            .strip_prefix("Instance")
            .unwrap_or(&event.event_type)
            .to_ascii_lowercase();
        let failures = match event.payload.get("reason").and_then(Value::as_str) {
            Some(reason) if event.event_type == "InstanceFailed" => vec![WorkflowFailure {
                event_time: time(event.occurred_at),
                message: reason.to_owned(),
            }],
            _ => Vec::new(),
        };
        Self {
            environment_id: path.environment_id.clone(),
            event_source: source.into(),
            id: id(prefix::EVENT, event.event_id),
            message: format!("{instance_id} {what}"),
            instance_id,
            resource_name: event
                .payload
                .get("instance_type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            service_id: path.service_id.clone(),
            time: time(event.occurred_at),
            user_id: event.actor.id.clone(),
            user_name: event.actor.name.clone().unwrap_or_default(),
            workflow_failures: failures,
        }
    }
}

/// The instance's history, read from the stream itself.
async fn history(
    state: &AppState,
    agent: &Agent,
    path: &InstancePath,
) -> Result<Vec<EventEnvelope>, GoaError> {
    let uuid = scoped(state, agent, path).await?;
    let subject = state
        .bus
        .subject::<Instance>(agent.tenant(), &uuid.to_string());
    state
        .log
        .read_subject(&subject, 0)
        .await
        .map_err(|e| GoaError::Unavailable(e.to_string()))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct EventsQuery {
    /// Events at or after this time.
    start_time: Option<chrono::DateTime<chrono::Utc>>,
    /// Events before this time.
    end_time: Option<chrono::DateTime<chrono::Utc>>,
    next_page_token: Option<String>,
    page_size: Option<i64>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct EventList {
    events: Vec<InstanceEvent>,
    ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

async fn events(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<InstancePath>,
    Query(query): Query<EventsQuery>,
) -> Result<Json<EventList>, GoaError> {
    let paging = Paging::read(query.page_size, query.next_page_token.as_deref())?;
    let kept: Vec<EventEnvelope> = history(&state, &agent, &path)
        .await?
        .into_iter()
        .filter(|e| query.start_time.is_none_or(|t| e.event.occurred_at >= t))
        .filter(|e| query.end_time.is_none_or(|t| e.event.occurred_at < t))
        .filter(|e| paging.after.is_none_or(|after| e.event.event_id > after))
        .take(paging.limit as usize + 1)
        .collect();
    let (kept, next_page_token) = paging.page(kept, |e| e.event.event_id);
    let events: Vec<InstanceEvent> = kept.iter().map(|e| InstanceEvent::of(e, &path)).collect();
    Ok(Json(EventList {
        ids: events.iter().map(|e| e.id.clone()).collect(),
        events,
        next_page_token,
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct EventPath {
    #[serde(rename = "serviceId")]
    service_id: String,
    #[serde(rename = "environmentId")]
    environment_id: String,
    #[serde(rename = "instanceId")]
    instance_id: String,
    id: String,
}

async fn event(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<EventPath>,
) -> Result<Json<InstanceEvent>, GoaError> {
    let event_id = native(prefix::EVENT, "event", &path.id)?;
    let instance = InstancePath {
        service_id: path.service_id,
        environment_id: path.environment_id,
        instance_id: path.instance_id,
    };
    history(&state, &agent, &instance)
        .await?
        .iter()
        .find(|e| e.event.event_id == event_id)
        .map(|e| Json(InstanceEvent::of(e, &instance)))
        .ok_or_else(|| GoaError::not_found("event", &path.id))
}
