//! One router per resource, and what they share: the command issuer, running a command, an
//! aggregate's history, and read-your-writes. How a command answers is in [`commands`].

pub mod account_configs;
pub mod audit;
pub mod billing_terms;
pub mod commands;
pub mod console;
pub mod cost;
pub mod customers;
pub mod events;
pub mod host_clusters;
pub mod instances;
pub mod inventory;
pub mod invoices;
pub mod marketplace;
pub mod notification_channels;
pub mod ops;
pub mod pricing;
pub mod reference;
pub mod reports;
pub mod simulations;
pub mod snapshots;
pub mod static_files;
pub mod subscription_requests;
pub mod subscriptions;
pub mod usage;
pub mod users;
pub mod workflows;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::Json;
use fleet_domain::Aggregate;
use serde::Serialize;
use uuid::Uuid;

use crate::auth::{Caller, Permission};
use crate::idempotency::IdempotencyKey;
use crate::request_context::RequestMeta;
use crate::{ApiError, AppState};
use fleet_app::command_bus::{CommandError, CommandMeta, Executed};
use fleet_domain::DomainError;

/// The caller of a command, with everything the event's envelope records about them.
pub struct Issuer {
    pub caller: Caller,
    pub meta: CommandMeta,
}

impl<S: Send + Sync> FromRequestParts<S> for Issuer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let request = parts
            .extensions
            .get::<RequestMeta>()
            .cloned()
            .unwrap_or_default();
        let meta = CommandMeta {
            tenant: caller.tenant.clone(),
            actor: caller.actor(&request),
            correlation_id: request.correlation_id,
            causation_id: None,
            idempotency_key: parts
                .extensions
                .get::<IdempotencyKey>()
                .map(|k| CommandMeta::client_key(&caller.key_id.to_string(), &k.0)),
        };
        Ok(Self { caller, meta })
    }
}

/// The name people use for an aggregate in messages ("subscription request").
fn display_name(aggregate_type: &str) -> String {
    aggregate_type.replace('_', " ")
}

/// Parses a path id; an id that cannot exist is simply not found.
pub fn parse_id(aggregate_type: &str, id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id)
        .map_err(|_| ApiError::NotFound(format!("{} {id} not found", display_name(aggregate_type))))
}

/// Whether the command is to an aggregate this request minted the id of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Existing,
    New,
}

/// Checks the permission and runs a command on aggregate `id`.
pub async fn run<A: Aggregate>(
    state: &AppState,
    issuer: &Issuer,
    permission: Permission,
    id: Uuid,
    target: Target,
    command: A::Command,
) -> Result<Executed<A>, ApiError> {
    run_on::<A>(state, issuer, permission, &id.to_string(), target, command).await
}

/// [`run`] for an aggregate whose id is not a UUID (a tenant's price book is `main`).
pub async fn run_on<A: Aggregate>(
    state: &AppState,
    issuer: &Issuer,
    permission: Permission,
    id: &str,
    target: Target,
    command: A::Command,
) -> Result<Executed<A>, ApiError> {
    issuer.caller.require(permission)?;
    let result = match target {
        Target::New => {
            state
                .bus
                .execute_on_new::<A>(&issuer.meta, id, command)
                .await
        }
        Target::Existing => state.bus.execute::<A>(&issuer.meta, id, command).await,
    };
    result.map_err(|e| refusal_of::<A>(e, id))
}

/// A command's failure, where "not found" names the aggregate the command was for by its id.
pub fn refusal_of<A: Aggregate>(e: CommandError, id: &str) -> ApiError {
    match e {
        CommandError::Domain(DomainError::NotFound { aggregate }) if aggregate == A::TYPE => {
            ApiError::NotFound(format!("{} {id} not found", display_name(A::TYPE)))
        }
        other => other.into(),
    }
}

/// An aggregate's events, oldest first, as the stream holds them.
#[derive(Serialize, schemars::JsonSchema)]
pub struct History {
    pub items: Vec<fleet_events::EventEnvelope>,
}

/// An aggregate's history, read from the stream itself rather than a read model.
pub async fn history<A: Aggregate>(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Json<History>, ApiError> {
    let uuid = parse_id(A::TYPE, id)?;
    history_of::<A>(state, caller, &uuid.to_string()).await
}

async fn history_of<A: Aggregate>(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Json<History>, ApiError> {
    use fleet_events::EventLog;
    let subject = state.bus.subject::<A>(&caller.tenant, id);
    let items = state
        .log
        .read_subject(&subject, 0)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    if items.is_empty() {
        return Err(ApiError::NotFound(format!(
            "{} {id} not found",
            display_name(A::TYPE)
        )));
    }
    Ok(Json(History { items }))
}

/// The part of an aggregate's history recorded at or before `as_of`; 404 if it did not exist
/// yet.
pub async fn history_as_of<A: Aggregate>(
    state: &AppState,
    caller: &Caller,
    id: &str,
    as_of: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<fleet_events::EventEnvelope>, ApiError> {
    let Json(History { mut items }) = history::<A>(state, caller, id).await?;
    items.retain(|e| e.recorded_at <= as_of);
    if items.is_empty() {
        return Err(ApiError::NotFound(format!(
            "{} {id} did not exist at {}",
            display_name(A::TYPE),
            as_of.to_rfc3339()
        )));
    }
    Ok(items)
}

/// `?as_of=TIME` on a single-resource query.
#[derive(serde::Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AsOf {
    pub as_of: Option<chrono::DateTime<chrono::Utc>>,
}

/// `GET …/events` for the one aggregate `A` of a tenant whose id is `id`.
pub fn history_route_on<A: Aggregate>(
    id: &'static str,
    summary: &'static str,
) -> aide::axum::routing::ApiMethodRouter<AppState> {
    aide::axum::routing::get_with(
        move |axum::extract::State(state): axum::extract::State<AppState>, caller: Caller| async move {
            history_of::<A>(&state, &caller, id).await
        },
        crate::docs::summary(summary),
    )
}

/// `GET …/{id}/events` for aggregate `A` whose ids are names, not UUIDs (a host cluster's);
/// a name `valid_id` refuses names nothing that was ever recorded.
pub fn named_history_route<A: Aggregate>(
    summary: &'static str,
    valid_id: fn(&str) -> Result<(), fleet_domain::DomainError>,
) -> aide::axum::routing::ApiMethodRouter<AppState> {
    aide::axum::routing::get_with(
        move |axum::extract::State(state): axum::extract::State<AppState>,
              caller: Caller,
              axum::extract::Path(id): axum::extract::Path<String>| async move {
            if valid_id(&id).is_err() {
                return Err(ApiError::NotFound(format!(
                    "{} {id} not found",
                    display_name(A::TYPE)
                )));
            }
            history_of::<A>(&state, &caller, &id).await
        },
        crate::docs::summary(summary),
    )
}

/// `GET …/{id}/events` for aggregate `A`.
pub fn history_route<A: Aggregate>() -> aide::axum::routing::ApiMethodRouter<AppState> {
    aide::axum::routing::get_with(
        |axum::extract::State(state): axum::extract::State<AppState>,
         caller: Caller,
         axum::extract::Path(id): axum::extract::Path<String>| async move {
            history::<A>(&state, &caller, &id).await
        },
        crate::docs::summary("History, read from the event stream"),
    )
}

/// Read your writes: waits until `projection` has applied `position` of the domain stream, if
/// one was given.
pub async fn wait_for_position(
    state: &AppState,
    projection: &str,
    position: Option<u64>,
) -> Result<(), ApiError> {
    wait_for_position_in(state, &state.log, projection, position).await
}

/// [`wait_for_position`] for a projection of another stream (the usage stream).
pub async fn wait_for_position_in(
    state: &AppState,
    stream: &fleet_events::jetstream::JetStreamLog,
    projection: &str,
    position: Option<u64>,
) -> Result<(), ApiError> {
    let Some(position) = position else {
        return Ok(());
    };
    state
        .positions
        .wait_for(stream, projection, position, state.settings.read_wait)
        .await
        .map_err(|e| fleet_app::AppError::from(e).into())
}

/// Waits until `projection` has applied every event of the caller's tenant's `aggregate_type`
/// recorded so far: for a rule that reads a read model before deciding (a count, a list of
/// blockers).
pub async fn wait_for_latest(
    state: &AppState,
    tenant: &fleet_events::Tenant,
    aggregate_type: &str,
    projection: &str,
) -> Result<(), ApiError> {
    state
        .caught_up_on(tenant, aggregate_type, projection)
        .await?;
    Ok(())
}
