//! `/v1/instances`: the fleet's deployed service instances.

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fleet_domain::instance::{Instance, InstanceCommand, InstanceSpec, InstanceStatus};
use fleet_events::{EventEnvelope, EventLog};
use fleet_projections::inventory::{self, InstanceFilter, InstanceRow};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::{Caller, Permission};
use crate::command_bus::{CommandMeta, Executed};
use crate::extract::{ApiJson, ApiQuery, ReadPosition, POSITION_HEADER};
use crate::idempotency::IdempotencyKey;
use crate::pagination::{self, Page};
use crate::request_context::RequestMeta;
use crate::routes::wait_for_position;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/instances", post(create_instance).get(list_instances))
        .route("/instances/{id}", get(get_instance).delete(delete_instance))
        .route("/instances/{id}/events", get(instance_events))
        .route("/instances/{id}/ready", post(mark_instance_ready))
        .route("/instances/{id}/fail", post(fail_instance))
        .route("/instances/{id}/stop", post(stop_instance))
        .route("/instances/{id}/start", post(start_instance))
        .route("/instances/{id}/restart", post(restart_instance))
        .route("/instances/{id}/failover", post(fail_over_instance))
        .route("/instances/{id}/capacity", post(change_instance_capacity))
}

/// The caller of a command, with everything the event's envelope records about them.
pub struct Issuer {
    caller: Caller,
    meta: CommandMeta,
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
                .map(|k| k.0.clone()),
        };
        Ok(Self { caller, meta })
    }
}

/// An instance as a command leaves it. Queries return the fuller read-model row.
#[derive(Debug, Serialize)]
struct InstanceState {
    id: String,
    status: InstanceStatus,
    capacity: i64,
    #[serde(flatten)]
    spec: Option<InstanceSpec>,
    /// The stream position of the command's event: send it as `X-Fleet-Position` to read
    /// your write.
    position: u64,
    event_type: String,
}

fn command_response(status: StatusCode, executed: Executed<Instance>) -> Response {
    let position = executed.event.sequence;
    let id = executed.event.event.aggregate_id.clone();
    let body = InstanceState {
        id: id.clone(),
        status: executed.state.status,
        capacity: executed.state.capacity,
        spec: executed.state.spec,
        position,
        event_type: executed.event.event.event_type,
    };
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(POSITION_HEADER, HeaderValue::from(position));
    if status == StatusCode::ACCEPTED {
        if let Ok(location) = HeaderValue::from_str(&format!("/v1/instances/{id}")) {
            headers.insert(header::LOCATION, location);
        }
    }
    response
}

fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::NotFound(format!("instance {id} not found")))
}

async fn execute(
    state: &AppState,
    issuer: Issuer,
    id: &str,
    command: InstanceCommand,
    status: StatusCode,
) -> Result<Response, ApiError> {
    issuer.caller.require(Permission::OperateFleet)?;
    let id = parse_id(id)?;
    let bus = &state.bus;
    let (meta, key) = (&issuer.meta, id.to_string());
    let executed = if matches!(command, InstanceCommand::Create { .. }) {
        bus.execute_on_new::<Instance>(meta, &key, command).await
    } else {
        bus.execute::<Instance>(meta, &key, command).await
    };
    let executed = executed.map_err(|e| match ApiError::from(e) {
        ApiError::NotFound(_) => ApiError::NotFound(format!("instance {id} not found")),
        other => other,
    })?;
    Ok(command_response(status, executed))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateInstance {
    service_id: String,
    plan_id: String,
    cloud_provider: String,
    region: String,
    deployment_cell: String,
    instance_type: String,
    capacity: i64,
    environment_type: String,
    name: Option<String>,
    customer_id: Option<String>,
    subscription_id: Option<String>,
}

async fn create_instance(
    State(state): State<AppState>,
    issuer: Issuer,
    ApiJson(body): ApiJson<CreateInstance>,
) -> Result<Response, ApiError> {
    let spec = InstanceSpec {
        name: body.name,
        service_id: body.service_id,
        plan_id: body.plan_id,
        cloud_provider: body.cloud_provider.to_ascii_lowercase(),
        region: body.region,
        deployment_cell: body.deployment_cell,
        instance_type: body.instance_type,
        environment_type: body.environment_type.to_ascii_uppercase(),
        customer_id: body.customer_id,
        subscription_id: body.subscription_id,
    };
    let id = Uuid::now_v7().to_string();
    let command = InstanceCommand::Create {
        spec: Box::new(spec),
        capacity: body.capacity,
    };
    execute(&state, issuer, &id, command, StatusCode::ACCEPTED).await
}

async fn mark_instance_ready(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    execute(
        &state,
        issuer,
        &id,
        InstanceCommand::MarkReady,
        StatusCode::OK,
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FailInstance {
    reason: String,
}

async fn fail_instance(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<FailInstance>,
) -> Result<Response, ApiError> {
    let command = InstanceCommand::Fail {
        reason: body.reason,
    };
    execute(&state, issuer, &id, command, StatusCode::OK).await
}

async fn stop_instance(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    execute(&state, issuer, &id, InstanceCommand::Stop, StatusCode::OK).await
}

async fn start_instance(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    execute(&state, issuer, &id, InstanceCommand::Start, StatusCode::OK).await
}

async fn restart_instance(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    execute(
        &state,
        issuer,
        &id,
        InstanceCommand::Restart,
        StatusCode::OK,
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FailOver {
    replica_id: Option<String>,
}

async fn fail_over_instance(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    // The body is optional: an empty one fails over without naming a replica.
    let body: FailOver = if body.iter().all(u8::is_ascii_whitespace) {
        FailOver::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::unprocessable("body", e.to_string()))?
    };
    let command = InstanceCommand::Failover {
        replica_id: body.replica_id,
    };
    execute(&state, issuer, &id, command, StatusCode::OK).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeCapacity {
    delta: i64,
}

async fn change_instance_capacity(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ChangeCapacity>,
) -> Result<Response, ApiError> {
    let command = InstanceCommand::ChangeCapacity { delta: body.delta };
    execute(&state, issuer, &id, command, StatusCode::OK).await
}

async fn delete_instance(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    execute(&state, issuer, &id, InstanceCommand::Delete, StatusCode::OK).await
}

async fn get_instance(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    Path(id): Path<String>,
) -> Result<Json<InstanceRow>, ApiError> {
    let uuid = parse_id(&id)?;
    wait_for_position(&state, inventory::NAME, position).await?;
    inventory::get_instance(&state.pool, caller.tenant.as_str(), uuid)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("instance {id} not found")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListInstances {
    status: Option<String>,
    cloud_provider: Option<String>,
    region: Option<String>,
    deployment_cell: Option<String>,
    customer_id: Option<String>,
    subscription_id: Option<String>,
    page_size: Option<i64>,
    page_token: Option<String>,
}

async fn list_instances(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    ApiQuery(query): ApiQuery<ListInstances>,
) -> Result<Json<Page<InstanceRow>>, ApiError> {
    if let Some(status) = &query.status {
        if InstanceStatus::parse(status).is_none() {
            return Err(ApiError::bad_request(
                "status",
                "must be one of deploying, running, stopped, failed, deleted",
            ));
        }
    }
    let limit = pagination::page_size(query.page_size)?;
    let after = pagination::decode_token(query.page_token.as_deref())?;
    wait_for_position(&state, inventory::NAME, position).await?;
    let filter = InstanceFilter {
        status: query.status,
        cloud_provider: query.cloud_provider.map(|p| p.to_ascii_lowercase()),
        region: query.region,
        deployment_cell: query.deployment_cell,
        customer_id: query.customer_id,
        subscription_id: query.subscription_id,
    };
    let rows = inventory::list_instances(
        &state.pool,
        caller.tenant.as_str(),
        &filter,
        after,
        limit + 1,
    )
    .await?;
    Ok(Json(Page::from_rows(rows, limit, |r| r.id)))
}

#[derive(Debug, Serialize)]
struct History {
    items: Vec<EventEnvelope>,
}

/// The instance's history, read from the stream itself rather than a read model.
async fn instance_events(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<History>, ApiError> {
    let uuid = parse_id(&id)?;
    let subject = state
        .bus
        .subject::<Instance>(&caller.tenant, &uuid.to_string());
    let items = state
        .log
        .read_subject(&subject, 0)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    if items.is_empty() {
        return Err(ApiError::NotFound(format!("instance {id} not found")));
    }
    Ok(Json(History { items }))
}
