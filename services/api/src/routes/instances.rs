//! `/v1/instances`: the fleet's deployed service instances.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use fleet_domain::instance::{Instance, InstanceCommand, InstanceSpec, InstanceStatus};
use fleet_domain::Aggregate;
use fleet_projections::inventory::{self, InstanceFilter, InstanceRow};
use serde::{Deserialize, Serialize};

use crate::auth::{Caller, Permission};
use crate::extract::{ApiJson, ApiQuery, ReadPosition};
use crate::pagination::{self, Page};
use crate::routes::{
    command_response, history_as_of, history_route, parse_id, refusal_of, run, wait_for_position,
    AsOf, Issuer, Target,
};
use crate::{ApiError, AppState};
use fleet_app::command_bus::Executed;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/instances", post(create_instance).get(list_instances))
        .route("/instances/{id}", get(get_instance).delete(delete_instance))
        .route("/instances/{id}/events", history_route::<Instance>())
        .route("/instances/{id}/ready", post(mark_instance_ready))
        .route("/instances/{id}/fail", post(fail_instance))
        .route("/instances/{id}/stop", post(stop_instance))
        .route("/instances/{id}/start", post(start_instance))
        .route("/instances/{id}/restart", post(restart_instance))
        .route("/instances/{id}/failover", post(fail_over_instance))
        .route("/instances/{id}/capacity", post(change_instance_capacity))
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

fn respond(status: StatusCode, executed: Executed<Instance>) -> Response {
    let position = executed.event.sequence;
    let id = executed.event.event.aggregate_id.clone();
    let location = (status == StatusCode::ACCEPTED).then(|| format!("/v1/instances/{id}"));
    let body = InstanceState {
        id,
        status: executed.state.status,
        capacity: executed.state.capacity,
        spec: executed.state.spec,
        position,
        event_type: executed.event.event.event_type,
    };
    command_response(status, position, location, body)
}

async fn execute(
    state: &AppState,
    issuer: Issuer,
    id: &str,
    command: InstanceCommand,
) -> Result<Response, ApiError> {
    let id = parse_id(Instance::TYPE, id)?;
    let executed = run::<Instance>(
        state,
        &issuer,
        Permission::OperateFleet,
        id,
        Target::Existing,
        command,
    )
    .await?;
    Ok(respond(StatusCode::OK, executed))
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
    subscription_id: String,
}

async fn create_instance(
    State(state): State<AppState>,
    issuer: Issuer,
    ApiJson(body): ApiJson<CreateInstance>,
) -> Result<Response, ApiError> {
    issuer.caller.require(Permission::OperateFleet)?;
    let spec = InstanceSpec {
        name: body.name,
        service_id: body.service_id,
        plan_id: body.plan_id,
        cloud_provider: body.cloud_provider,
        region: body.region,
        deployment_cell: body.deployment_cell,
        instance_type: body.instance_type,
        environment_type: body.environment_type,
        customer_id: body.customer_id,
        subscription_id: None,
    };
    let executed = fleet_app::instances::create_instance(
        &state.bus,
        &issuer.meta,
        &body.subscription_id,
        spec,
        body.capacity,
    )
    .await?;
    Ok(respond(StatusCode::ACCEPTED, executed))
}

async fn mark_instance_ready(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    execute(&state, issuer, &id, InstanceCommand::MarkReady).await
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
    execute(&state, issuer, &id, command).await
}

async fn stop_instance(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    execute(&state, issuer, &id, InstanceCommand::Stop).await
}

async fn start_instance(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    execute(&state, issuer, &id, InstanceCommand::Start).await
}

async fn restart_instance(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    execute(&state, issuer, &id, InstanceCommand::Restart).await
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
    let body: FailOver = crate::extract::optional_json(&body)?;
    let command = InstanceCommand::Failover {
        replica_id: body.replica_id,
    };
    execute(&state, issuer, &id, command).await
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
    execute(&state, issuer, &id, command).await
}

async fn delete_instance(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    issuer.caller.require(Permission::OperateFleet)?;
    let id = parse_id(Instance::TYPE, &id)?;
    let executed = fleet_app::instances::delete_instance(&state.bus, &issuer.meta, &id.to_string())
        .await
        .map_err(|e| refusal_of::<Instance>(e, &id.to_string()))?;
    Ok(respond(StatusCode::OK, executed))
}

/// The instance from the inventory; with `as_of`, as it was then, replayed from the stream.
async fn get_instance(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<AsOf>,
) -> Result<Json<InstanceRow>, ApiError> {
    let uuid = parse_id(Instance::TYPE, &id)?;
    if let Some(as_of) = query.as_of {
        let events = history_as_of::<Instance>(&state, &caller, &id, as_of).await?;
        let row =
            inventory::instances::fold(&events).map_err(|e| ApiError::Internal(e.to_string()))?;
        return row
            .map(Json)
            .ok_or_else(|| ApiError::NotFound(format!("instance {id} not found")));
    }
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
