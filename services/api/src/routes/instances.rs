//! `/v1/instances`: the fleet's deployed service instances.

use aide::axum::routing::{get_with, post_with};
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use fleet_domain::instance::{
    Configuration, Instance, InstanceCommand, InstanceSpec, InstanceStatus,
};
use fleet_domain::vocabulary::{CloudProvider, EnvironmentType};
use fleet_domain::Aggregate;
use fleet_projections::inventory::{self, InstanceFilter, InstanceRow};
use serde::{Deserialize, Serialize};

use crate::auth::{Caller, Permission};
use crate::docs::summary;
use crate::extract::{ApiJson, ApiQuery, ReadPosition};
use crate::pagination::{self, Page};
use crate::routes::commands::{
    action, action_with, action_with_optional, reply, Accepted, Exposed, Reply,
};
use crate::routes::{
    history_as_of, history_route, parse_id, refusal_of, wait_for_position, AsOf, Issuer,
};
use crate::{ApiError, AppState};
use fleet_app::command_bus::Executed;

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/instances",
            post_with(
                create_instance,
                summary("Create (deploy) an instance under an active subscription"),
            )
            .get_with(list_instances, summary("List instances")),
        )
        .api_route(
            "/instances/{id}",
            get_with(get_instance, summary("Get an instance from the inventory")).delete_with(
                delete_instance,
                summary("Delete an instance (any state but deleted)"),
            ),
        )
        .api_route("/instances/{id}/events", history_route::<Instance>())
        .api_route(
            "/instances/{id}/ready",
            action::<Instance>("Provisioning succeeded: deploying -> running", || {
                InstanceCommand::MarkReady
            }),
        )
        .api_route(
            "/instances/{id}/fail",
            action_with::<Instance, FailInstance>("Any live state -> failed", |body| {
                Ok(InstanceCommand::Fail {
                    reason: body.reason,
                })
            }),
        )
        .api_route(
            "/instances/{id}/stop",
            action::<Instance>("running -> stopped", || InstanceCommand::Stop),
        )
        .api_route(
            "/instances/{id}/start",
            action::<Instance>("stopped -> running", || InstanceCommand::Start),
        )
        .api_route(
            "/instances/{id}/restart",
            action::<Instance>("Restart a running instance (recorded)", || {
                InstanceCommand::Restart
            }),
        )
        .api_route(
            "/instances/{id}/failover",
            action_with_optional::<Instance, FailOver>(
                "Fail over a running instance (recorded)",
                |body| {
                    Ok(InstanceCommand::Failover {
                        replica_id: body.replica_id,
                        action: None,
                    })
                },
            ),
        )
        .api_route(
            "/instances/{id}/capacity",
            action_with::<Instance, ChangeCapacity>(
                "Add or remove replicas; capacity stays at least 1",
                |body| Ok(InstanceCommand::ChangeCapacity { delta: body.delta }),
            ),
        )
        .api_route(
            "/instances/{id}/installer",
            action_with::<Instance, RecordInstaller>(
                "The agent records where the instance's installer is",
                |body| {
                    Ok(InstanceCommand::Configure(Configuration::RecordInstaller {
                        url: body.url,
                    }))
                },
            ),
        )
        .with_path_items(|item| item.tag("instances"))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RecordInstaller {
    url: String,
}

/// An instance as a command leaves it. Queries return the fuller read-model row.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct InstanceState {
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

impl Exposed for Instance {
    type View = InstanceState;
    const PERMISSION: Permission = Permission::OperateFleet;
    const COLLECTION: &'static str = "/v1/instances";

    fn view(executed: Executed<Instance>) -> InstanceState {
        InstanceState {
            id: executed.event.event.aggregate_id,
            status: executed.state.status,
            capacity: executed.state.capacity,
            spec: executed.state.spec,
            position: executed.event.sequence,
            event_type: executed.event.event.event_type,
        }
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct CreateInstance {
    service_id: String,
    plan_id: String,
    cloud_provider: CloudProvider,
    region: String,
    deployment_cell: String,
    instance_type: String,
    capacity: i64,
    environment_type: EnvironmentType,
    name: Option<String>,
    customer_id: Option<String>,
    subscription_id: String,
}

async fn create_instance(
    State(state): State<AppState>,
    issuer: Issuer,
    ApiJson(body): ApiJson<CreateInstance>,
) -> Result<Accepted<InstanceState>, ApiError> {
    issuer.caller.require(Permission::OperateFleet)?;
    let spec = InstanceSpec {
        name: body.name,
        service_id: body.service_id,
        plan_id: body.plan_id,
        cloud_provider: body.cloud_provider.as_str().into(),
        region: body.region,
        deployment_cell: body.deployment_cell,
        instance_type: body.instance_type,
        environment_type: body.environment_type.as_str().into(),
        customer_id: body.customer_id,
        subscription_id: None,
        restored_from: None,
        adopted: false,
        tier_version: None,
    };
    let executed = fleet_app::instances::create_instance(
        &state.bus,
        &issuer.meta,
        &body.subscription_id,
        spec,
        body.capacity,
    )
    .await?;
    Ok(reply(executed))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct FailInstance {
    reason: String,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct FailOver {
    replica_id: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ChangeCapacity {
    delta: i64,
}

async fn delete_instance(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
) -> Result<Reply<InstanceState>, ApiError> {
    issuer.caller.require(Permission::OperateFleet)?;
    let id = parse_id(Instance::TYPE, &id)?;
    let executed = fleet_app::instances::delete_instance(&state.bus, &issuer.meta, &id.to_string())
        .await
        .map_err(|e| refusal_of::<Instance>(e, &id.to_string()))?;
    Ok(reply(executed))
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

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListInstances {
    status: Option<InstanceStatus>,
    cloud_provider: Option<CloudProvider>,
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
    let limit = pagination::page_size(query.page_size)?;
    let after = pagination::decode_token(query.page_token.as_deref())?;
    wait_for_position(&state, inventory::NAME, position).await?;
    let filter = InstanceFilter {
        status: query.status.map(|s| s.as_str().to_owned()),
        cloud_provider: query.cloud_provider.map(|p| p.as_str().to_owned()),
        region: query.region,
        deployment_cell: query.deployment_cell,
        customer_id: query.customer_id,
        subscription_id: query.subscription_id,
        ..Default::default()
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
