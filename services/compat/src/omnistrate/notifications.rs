//! Notification channels (notifications-api). Fleetledger delivers notifications as signed
//! webhooks, so a channel here is a WEBHOOK channel: EMAIL, SLACK and PAGERDUTY targets
//! are refused with the reason, not accepted and never delivered. A channel's subscription
//! names the event types it wants (Fleetledger's own, as `GET /v1/event-schemas` lists
//! them); an empty list wants them all. Its signing secret is not part of Omnistrate's
//! shapes: `PATCH /v1/notification-channels/{id}` with a `secret` sets one and shows it once.

use aide::axum::routing::{get_with, post_with};
use aide::axum::ApiRouter;
use aide::transform::TransformOperation;
use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use fleet_api::auth::Permission;
use fleet_api::AppState;
use fleet_domain::notification_channel::{NotificationChannel, NotificationChannelCommand};
use fleet_projections::notifications::{self, ChannelRow, DeliveryRow};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::wire::{id, native, prefix, time, Body, Query};
use super::{applied, fresh, Agent, Done, GoaError};

fn op(summary: &'static str) -> impl FnOnce(TransformOperation) -> TransformOperation {
    super::operation("notifications-api", summary)
}

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/notification-channel",
            get_with(list, op("ListNotificationChannels"))
                .post_with(create, op("CreateNotificationChannel")),
        )
        .api_route(
            "/notification-channel/{id}",
            get_with(describe, op("DescribeNotificationChannel"))
                .patch_with(update, op("UpdateNotificationChannel"))
                .delete_with(delete, op("DeleteNotificationChannel")),
        )
        .api_route(
            "/notification-channel/{id}/event-history",
            get_with(history, op("NotificationChannelEventHistory")),
        )
        .api_route(
            "/notification-event/{id}/replay",
            post_with(replay, op("ReplayEvent")),
        )
}

const READS: &[&str] = &[fleet_events::notification_channel::AGGREGATE_TYPE];

#[derive(Deserialize, Serialize, schemars::JsonSchema)]
struct WebhookConfiguration {
    url: String,
    /// POST, the only method deliveries use.
    method: String,
    /// Not supported: deliveries carry Fleetledger's signature headers only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    headers: Option<Map<String, Value>>,
    /// Not supported: a delivery's body is the event.
    #[serde(
        default,
        rename = "additionalBodyParameters",
        skip_serializing_if = "Option::is_none"
    )]
    additional_body_parameters: Option<Map<String, Value>>,
}

/// `ChannelSubscription`: which events a channel wants.
#[derive(Deserialize, Serialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ChannelSubscription {
    #[serde(default)]
    event_categories: Vec<String>,
    #[serde(default)]
    event_priorities: Vec<String>,
    /// Fleetledger event types; empty wants every one.
    #[serde(default)]
    event_types: Vec<String>,
    #[serde(default)]
    alert_types: Vec<String>,
    #[serde(default)]
    environment_types: Vec<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ChannelInput {
    name: Option<String>,
    email: Option<Value>,
    pager_duty: Option<Value>,
    slack: Option<Value>,
    webhook: Option<WebhookConfiguration>,
    subscription: Option<ChannelSubscription>,
}

impl ChannelInput {
    /// The webhook target, once the other kinds are refused.
    fn webhook(&self) -> Result<Option<&WebhookConfiguration>, GoaError> {
        for (field, given) in [
            ("email", self.email.is_some()),
            ("pagerDuty", self.pager_duty.is_some()),
            ("slack", self.slack.is_some()),
        ] {
            if given {
                return Err(GoaError::field(
                    field,
                    "Fleetledger delivers notifications as signed webhooks only: use webhook",
                ));
            }
        }
        let Some(webhook) = &self.webhook else {
            return Ok(None);
        };
        if !webhook.method.eq_ignore_ascii_case("POST") {
            return Err(GoaError::field("webhook.method", "must be POST"));
        }
        if webhook.headers.as_ref().is_some_and(|h| !h.is_empty()) {
            return Err(GoaError::field(
                "webhook.headers",
                "custom headers are not supported",
            ));
        }
        if webhook
            .additional_body_parameters
            .as_ref()
            .is_some_and(|p| !p.is_empty())
        {
            return Err(GoaError::field(
                "webhook.additionalBodyParameters",
                "are not supported: a delivery's body is the event",
            ));
        }
        Ok(Some(webhook))
    }
}

/// `Channel`.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Channel {
    /// WEBHOOK.
    channel_type: String,
    id: String,
    name: String,
    subscription: ChannelSubscription,
    webhook: WebhookConfiguration,
}

impl From<&ChannelRow> for Channel {
    fn from(row: &ChannelRow) -> Self {
        Self {
            channel_type: "WEBHOOK".into(),
            id: id(prefix::CHANNEL, row.id),
            name: row.name.clone(),
            subscription: ChannelSubscription {
                event_types: row.event_types.clone(),
                ..Default::default()
            },
            webhook: WebhookConfiguration {
                url: row.url.clone(),
                method: "POST".into(),
                headers: None,
                additional_body_parameters: None,
            },
        }
    }
}

async fn read(state: &AppState, agent: &Agent, shown: &str) -> Result<ChannelRow, GoaError> {
    let uuid = native(prefix::CHANNEL, "notification channel", shown)?;
    fresh(state, agent.tenant(), notifications::NAME, READS).await?;
    notifications::get(&state.pool, agent.tenant().as_str(), uuid)
        .await?
        .filter(|c| c.status == "active")
        .ok_or_else(|| GoaError::not_found("notification channel", shown))
}

#[derive(Serialize, schemars::JsonSchema)]
struct Channels {
    channels: Vec<Channel>,
}

async fn list(State(state): State<AppState>, agent: Agent) -> Result<Json<Channels>, GoaError> {
    fresh(&state, agent.tenant(), notifications::NAME, READS).await?;
    let rows = notifications::list(&state.pool, agent.tenant().as_str(), None, 1000).await?;
    Ok(Json(Channels {
        channels: rows.iter().map(Channel::from).collect(),
    }))
}

/// Answers the new channel's id as a bare string.
async fn create(
    State(state): State<AppState>,
    agent: Agent,
    Body(body): Body<ChannelInput>,
) -> Result<Json<String>, GoaError> {
    agent.require(Permission::ManageNotifications)?;
    let name = body
        .name
        .clone()
        .ok_or_else(|| GoaError::required("name"))?;
    let subscription = body
        .subscription
        .as_ref()
        .ok_or_else(|| GoaError::required("subscription"))?;
    let webhook = body
        .webhook()?
        .ok_or_else(|| GoaError::required("webhook"))?;
    let (executed, _secret) = fleet_app::notifications::create_channel(
        &state,
        agent.meta(),
        name,
        webhook.url.clone(),
        subscription.event_types.clone(),
        None,
    )
    .await
    .map_err(renamed)?;
    applied(&state, notifications::NAME, executed.event.sequence).await?;
    Ok(Json(id(prefix::CHANNEL, executed.event.event.aggregate_id)))
}

/// Native field names in errors, told as Omnistrate's.
fn renamed(e: fleet_app::AppError) -> GoaError {
    match GoaError::from(e) {
        GoaError::BadRequest(reason) => GoaError::BadRequest(
            reason
                .replace("event_types", "subscription.eventTypes")
                .replace("url:", "webhook.url:"),
        ),
        other => other,
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
struct IdPath {
    id: String,
}

async fn describe(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<IdPath>,
) -> Result<Json<Channel>, GoaError> {
    Ok(Json(Channel::from(&read(&state, &agent, &path.id).await?)))
}

async fn update(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<IdPath>,
    Body(body): Body<ChannelInput>,
) -> Result<Done, GoaError> {
    agent.require(Permission::ManageNotifications)?;
    let webhook = body.webhook()?;
    let uuid = read(&state, &agent, &path.id).await?.id;
    fleet_app::notifications::update_channel(
        &state,
        agent.meta(),
        uuid,
        body.name.clone(),
        webhook.map(|w| w.url.clone()),
        body.subscription.as_ref().map(|s| s.event_types.clone()),
        None,
    )
    .await
    .map_err(renamed)?;
    Ok(Done)
}

async fn delete(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<IdPath>,
) -> Result<Done, GoaError> {
    agent.require(Permission::ManageNotifications)?;
    let uuid = native(prefix::CHANNEL, "notification channel", &path.id)?;
    state
        .bus
        .execute::<NotificationChannel>(
            agent.meta(),
            &uuid.to_string(),
            NotificationChannelCommand::Delete,
        )
        .await
        .map_err(|e| GoaError::refused(e, "notification channel", &path.id))?;
    Ok(Done)
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct HistoryQuery {
    start_time: Option<DateTime<Utc>>,
    end_time: Option<DateTime<Utc>>,
}

/// A delivery of an event to the channel.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Event {
    /// Replay it with ReplayEvent.
    id: String,
    timestamp: String,
    /// SUCCESS, PENDING, FAILED or CANCELLED.
    publication_status: String,
    body: Value,
    channel_response: Value,
}

impl From<&DeliveryRow> for Event {
    fn from(row: &DeliveryRow) -> Self {
        Self {
            id: id(prefix::EVENT, row.id),
            timestamp: time(row.delivered_at.unwrap_or(row.created_at)),
            publication_status: match row.status.as_str() {
                "delivered" => "SUCCESS",
                "pending" => "PENDING",
                "failed" => "FAILED",
                _ => "CANCELLED",
            }
            .into(),
            body: json!({"eventType": row.event_type, "position": row.sequence,
                         "replay": row.replay}),
            channel_response: json!({"status": row.last_status_code, "error": row.last_error,
                                     "attempts": row.attempts}),
        }
    }
}

#[derive(Serialize, schemars::JsonSchema)]
struct Events {
    events: Vec<Event>,
}

/// The channel's deliveries in the window, newest first (the latest 1000).
async fn history(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<IdPath>,
    Query(query): Query<HistoryQuery>,
) -> Result<Json<Events>, GoaError> {
    let channel = read(&state, &agent, &path.id).await?;
    let rows =
        notifications::deliveries(&state.pool, agent.tenant().as_str(), channel.id, None, 1000)
            .await?;
    Ok(Json(Events {
        events: rows
            .iter()
            .filter(|d| query.start_time.is_none_or(|t| d.created_at >= t))
            .filter(|d| query.end_time.is_none_or(|t| d.created_at < t))
            .map(Event::from)
            .collect(),
    }))
}

/// Delivers the event of a past delivery once more (a new delivery; nothing else happens
/// again).
async fn replay(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<IdPath>,
) -> Result<Done, GoaError> {
    agent.require(Permission::ManageNotifications)?;
    let uuid = native(prefix::EVENT, "notification event", &path.id)?;
    fleet_app::notifications::replay_delivery(&state, agent.tenant().as_str(), uuid)
        .await
        .map_err(|e| GoaError::failed(e, "notification event", &path.id))?;
    Ok(Done)
}
