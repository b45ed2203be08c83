//! `/v1/notification-channels`: webhook targets, their delivery history, and replays.

use aide::axum::routing::{get_with, post_with};
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use fleet_domain::notification_channel::{NotificationChannel, NotificationChannelCommand};
use fleet_domain::Aggregate;
use fleet_projections::notifications::{self, ChannelRow, DeliveryRow};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::{Caller, Permission};
use crate::docs::summary;
use crate::extract::{ApiJson, ApiQuery, ReadPosition};
use crate::pagination::{self, Page};
use crate::routes::commands::{removal, reply, Accepted, Exposed, Reply};
use crate::routes::{history_route, parse_id, wait_for_position, Issuer};
use crate::{ApiError, AppState};
use fleet_app::command_bus::Executed;

/// Most events one replay call enqueues.
pub const MAX_REPLAY: usize = 10_000;

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/notification-channels",
            post_with(
                create_channel,
                summary("Create a webhook channel; its secret is shown once"),
            )
            .get_with(list_channels, summary("List channels")),
        )
        .api_route(
            "/notification-channels/{id}",
            get_with(get_channel, summary("Get a channel"))
                .patch_with(
                    update_channel,
                    summary("Change a channel (a new secret is shown once)"),
                )
                .merge(removal::<NotificationChannel>(
                    "Delete a channel; pending deliveries are cancelled",
                    || NotificationChannelCommand::Delete,
                )),
        )
        .api_route(
            "/notification-channels/{id}/events",
            history_route::<NotificationChannel>(),
        )
        .api_route(
            "/notification-channels/{id}/deliveries",
            get_with(list_deliveries, summary("Delivery history, newest first")),
        )
        .api_route(
            "/notification-channels/{id}/replay",
            post_with(replay_to_channel, summary("Deliver past events again")),
        )
        .with_path_items(|item| item.tag("notifications"))
}
#[derive(Serialize, schemars::JsonSchema)]
pub struct ChannelState {
    id: String,
    status: &'static str,
    url: Option<String>,
    event_types: Vec<String>,
    /// Shown once, when the channel is created or its secret replaced.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    position: u64,
    event_type: String,
}

impl Exposed for NotificationChannel {
    type View = ChannelState;
    const PERMISSION: Permission = Permission::ManageNotifications;
    const COLLECTION: &'static str = "/v1/notification-channels";

    fn view(executed: Executed<NotificationChannel>) -> ChannelState {
        ChannelState {
            id: executed.event.event.aggregate_id,
            status: executed.state.status(),
            url: executed.state.url,
            event_types: executed.state.event_types,
            secret: None,
            position: executed.event.sequence,
            event_type: executed.event.event.event_type,
        }
    }
}

/// The answer that shows a channel's new secret: to this response only, never to a replay.
fn showing_secret<const STATUS: u16>(
    executed: Executed<NotificationChannel>,
    secret: Option<String>,
) -> Reply<ChannelState, STATUS> {
    let shown = secret.is_some();
    let mut answer = reply::<NotificationChannel, STATUS>(executed);
    answer.body.secret = secret;
    if shown {
        answer = answer.with_secrets(&["secret"]);
    }
    answer
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct CreateChannel {
    name: String,
    url: String,
    #[serde(default)]
    event_types: Vec<String>,
    secret: Option<String>,
}

async fn create_channel(
    State(state): State<AppState>,
    issuer: Issuer,
    ApiJson(body): ApiJson<CreateChannel>,
) -> Result<Accepted<ChannelState>, ApiError> {
    issuer.caller.require(Permission::ManageNotifications)?;
    let (executed, secret) = fleet_app::notifications::create_channel(
        &state,
        &issuer.meta,
        body.name,
        body.url,
        body.event_types,
        body.secret,
    )
    .await?;
    Ok(showing_secret(executed, Some(secret)))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct UpdateChannel {
    name: Option<String>,
    url: Option<String>,
    event_types: Option<Vec<String>>,
    secret: Option<String>,
}

async fn update_channel(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateChannel>,
) -> Result<Reply<ChannelState>, ApiError> {
    issuer.caller.require(Permission::ManageNotifications)?;
    let uuid = parse_id(NotificationChannel::TYPE, &id)?;
    let (executed, secret) = fleet_app::notifications::update_channel(
        &state,
        &issuer.meta,
        uuid,
        body.name,
        body.url,
        body.event_types,
        body.secret,
    )
    .await
    .map_err(|e| match e {
        fleet_app::AppError::NotFound(_) => {
            ApiError::NotFound(format!("notification channel {id} not found"))
        }
        other => other.into(),
    })?;
    Ok(showing_secret(executed, secret))
}

async fn known_channel(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<ChannelRow, ApiError> {
    let uuid = parse_id(NotificationChannel::TYPE, id)?;
    notifications::get(&state.pool, caller.tenant.as_str(), uuid)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("notification channel {id} not found")))
}

async fn get_channel(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    Path(id): Path<String>,
) -> Result<Json<ChannelRow>, ApiError> {
    wait_for_position(&state, notifications::NAME, position).await?;
    Ok(Json(known_channel(&state, &caller, &id).await?))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Paging {
    page_size: Option<i64>,
    page_token: Option<String>,
}

async fn list_channels(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    ApiQuery(query): ApiQuery<Paging>,
) -> Result<Json<Page<ChannelRow>>, ApiError> {
    let limit = pagination::page_size(query.page_size)?;
    let after = pagination::decode_token(query.page_token.as_deref())?;
    wait_for_position(&state, notifications::NAME, position).await?;
    let rows = notifications::list(&state.pool, caller.tenant.as_str(), after, limit + 1).await?;
    Ok(Json(Page::from_rows(rows, limit, |r| r.id)))
}

/// The channel's deliveries, newest first: status, attempts, last response code.
async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<Paging>,
) -> Result<Json<Page<DeliveryRow>>, ApiError> {
    let limit = pagination::page_size(query.page_size)?;
    let before = pagination::decode_token(query.page_token.as_deref())?;
    wait_for_position(&state, notifications::NAME, position).await?;
    let channel = known_channel(&state, &caller, &id).await?;
    let rows = notifications::deliveries(
        &state.pool,
        caller.tenant.as_str(),
        channel.id,
        before,
        limit + 1,
    )
    .await?;
    Ok(Json(Page::from_rows(rows, limit, |r| r.id)))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Replay {
    from_position: u64,
    to_position: Option<u64>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Replayed {
    enqueued: usize,
    from_position: u64,
    to_position: u64,
}

/// Delivers past events of the tenant that the channel wants once more, whether or not they
/// were delivered before.
async fn replay_to_channel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Replay>,
) -> Result<Json<Replayed>, ApiError> {
    caller.require(Permission::ManageNotifications)?;
    let channel = known_channel(&state, &caller, &id).await?;
    if channel.status != "active" {
        return Err(ApiError::Conflict {
            detail: format!("notification channel {id} is {}", channel.status),
            current_state: Some(channel.status),
        });
    }
    let end = {
        use fleet_events::EventLog;
        state
            .log
            .last_sequence()
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?
    };
    let to = body.to_position.unwrap_or(end).min(end);
    if body.from_position == 0 || body.from_position > to {
        return Err(ApiError::unprocessable(
            "from_position",
            format!("must be between 1 and {to}"),
        ));
    }
    let filter = format!("{}.{}.>", state.bus.namespace(), caller.tenant);
    let mut events = state
        .log
        .subscribe(Some(filter), Some(body.from_position))
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let (mut ids, mut sequences, mut types) = (Vec::new(), Vec::new(), Vec::new());
    while ids.len() < MAX_REPLAY {
        let next = tokio::time::timeout(std::time::Duration::from_millis(500), events.next()).await;
        let Ok(Some(Ok(message))) = next else { break };
        if message.sequence > to {
            break;
        }
        let Ok(event) = message.event else { continue };
        let wanted =
            channel.event_types.is_empty() || channel.event_types.contains(&event.event.event_type);
        if wanted {
            ids.push(Uuid::now_v7());
            sequences.push(event.sequence as i64);
            types.push(event.event.event_type);
        }
        if message.sequence == to {
            break;
        }
    }
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, tenant, channel_id, sequence, event_type, replay)
         SELECT id, $2, $3, sequence, event_type, true
         FROM UNNEST($1::uuid[], $4::int8[], $5::text[]) AS r(id, sequence, event_type)",
    )
    .bind(&ids)
    .bind(caller.tenant.as_str())
    .bind(channel.id)
    .bind(&sequences)
    .bind(&types)
    .execute(&state.pool)
    .await?;
    Ok(Json(Replayed {
        enqueued: ids.len(),
        from_position: body.from_position,
        to_position: to,
    }))
}
