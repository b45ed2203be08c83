//! `/v1/host-clusters`: the deployment cells instances are placed in. A cell's id is its name
//! (the `deployment_cell` of its instances); its agent reports it ready or failed.

use aide::axum::routing::{get_with, post_with};
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use fleet_app::command_bus::Executed;
use fleet_app::host_clusters::Registration;
use fleet_domain::host_cluster::{HostCluster, HostClusterCommand};
use fleet_domain::vocabulary::CloudProvider;
use fleet_projections::inventory::host_clusters::{self, HostClusterRow};
use fleet_projections::inventory::NAME as INVENTORY;
use serde::{Deserialize, Serialize};

use crate::auth::{Caller, Permission};
use crate::docs::summary;
use crate::extract::{ApiJson, ReadPosition};
use crate::pagination::Items;
use crate::routes::commands::{reply, Accepted, Exposed, Reply};
use crate::routes::{named_history_route, run_on, wait_for_position, Issuer, Target};
use crate::{ApiError, AppState};

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/host-clusters",
            post_with(
                create_host_cluster,
                summary("Register a cell to deploy; its agent reports it ready"),
            )
            .get_with(list_host_clusters, summary("List host clusters")),
        )
        .api_route(
            "/host-clusters/{id}",
            get_with(get_host_cluster, summary("Get a host cluster")).delete_with(
                delete_host_cluster,
                summary("Delete a host cluster with no live instance in it"),
            ),
        )
        .api_route(
            "/host-clusters/{id}/events",
            named_history_route::<HostCluster>(
                "The host cluster's events",
                fleet_domain::host_cluster::validate_id,
            ),
        )
        .api_route(
            "/host-clusters/{id}/ready",
            post_with(
                mark_ready,
                summary("The agent finished: PENDING or DEPLOYING -> READY"),
            ),
        )
        .api_route(
            "/host-clusters/{id}/fail",
            post_with(
                fail,
                summary("The agent failed: PENDING or DEPLOYING -> FAILED"),
            ),
        )
        .with_path_items(|item| item.tag("host-clusters"))
}

/// A host cluster as a command leaves it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct HostClusterState {
    id: String,
    status: &'static str,
    position: u64,
    event_type: String,
}

impl Exposed for HostCluster {
    type View = HostClusterState;
    const PERMISSION: Permission = Permission::OperateFleet;
    const COLLECTION: &'static str = "/v1/host-clusters";

    fn view(executed: Executed<HostCluster>) -> HostClusterState {
        HostClusterState {
            id: executed.event.event.aggregate_id,
            status: executed.state.status.as_str(),
            position: executed.event.sequence,
            event_type: executed.event.event.event_type,
        }
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct CreateHostCluster {
    /// The cell's name: letters, digits, `-` and `_`.
    id: String,
    cloud_provider: CloudProvider,
    region: String,
    description: String,
}

async fn create_host_cluster(
    State(state): State<AppState>,
    issuer: Issuer,
    ApiJson(body): ApiJson<CreateHostCluster>,
) -> Result<Accepted<HostClusterState>, ApiError> {
    issuer.caller.require(Permission::OperateFleet)?;
    let registration = Registration {
        id: body.id,
        origin: "created".into(),
        cloud_provider: body.cloud_provider.as_str().into(),
        region: body.region,
        description: body.description,
        customer_email: None,
    };
    let executed = fleet_app::host_clusters::register(&state, &issuer.meta, registration).await?;
    Ok(reply(executed))
}

async fn agent_report(
    state: &AppState,
    issuer: &Issuer,
    id: &str,
    command: HostClusterCommand,
) -> Result<Reply<HostClusterState>, ApiError> {
    fleet_domain::host_cluster::validate_id(id)
        .map_err(|_| ApiError::NotFound(format!("host cluster {id} not found")))?;
    let executed = run_on::<HostCluster>(
        state,
        issuer,
        Permission::OperateFleet,
        id,
        Target::Existing,
        command,
    )
    .await?;
    Ok(reply(executed))
}

async fn mark_ready(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
) -> Result<Reply<HostClusterState>, ApiError> {
    agent_report(&state, &issuer, &id, HostClusterCommand::MarkReady).await
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Fail {
    reason: String,
}

async fn fail(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Fail>,
) -> Result<Reply<HostClusterState>, ApiError> {
    let command = HostClusterCommand::Fail {
        reason: body.reason,
    };
    agent_report(&state, &issuer, &id, command).await
}

async fn delete_host_cluster(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
) -> Result<Reply<HostClusterState>, ApiError> {
    issuer.caller.require(Permission::OperateFleet)?;
    let executed = fleet_app::host_clusters::delete(&state, &issuer.meta, &id).await?;
    Ok(reply(executed))
}

async fn get_host_cluster(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    Path(id): Path<String>,
) -> Result<Json<HostClusterRow>, ApiError> {
    wait_for_position(&state, INVENTORY, position).await?;
    host_clusters::get(&state.pool, caller.tenant.as_str(), &id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("host cluster {id} not found")))
}

async fn list_host_clusters(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
) -> Result<Json<Items<HostClusterRow>>, ApiError> {
    wait_for_position(&state, INVENTORY, position).await?;
    let items = host_clusters::list(&state.pool, caller.tenant.as_str(), None, None).await?;
    Ok(Json(Items { items }))
}
