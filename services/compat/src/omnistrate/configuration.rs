//! Resource instances beyond their lifecycle (inventory-api): parameters, network type and
//! tags, custom DNS names (one owner per name in a tenant), debug mode and debug data, the
//! installer, one-off patches, linked instances, dependent components, and adoption.

use std::collections::BTreeMap;

use aide::axum::routing::{get_with, patch_with, post_with};
use aide::axum::ApiRouter;
use aide::transform::TransformOperation;
use axum::extract::{Path, State};
use axum::Json;
use fleet_api::auth::Permission;
use fleet_api::AppState;
use fleet_domain::host_cluster::{validate_id, HostCluster};
use fleet_domain::instance::{Configuration, Instance, InstanceCommand, InstanceSpec};
use fleet_domain::vocabulary::EnvironmentType;
use fleet_domain::Aggregate;
use fleet_events::instance::CustomTag;
use fleet_projections::inventory::{self, custom_dns, instances};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::instances::{read_instance, scoped, InstancePath};
use super::shapes::{Lookup, ResourceInstance};
use super::wire::{id, native_in, prefix, Body};
use super::{fresh, Agent, Answer, Done, GoaError};

fn op(summary: &'static str) -> impl FnOnce(TransformOperation) -> TransformOperation {
    super::operation("inventory-api", summary)
}

const SCOPE: &str = "/service/{serviceId}/environment/{environmentId}";

pub fn router() -> ApiRouter<AppState> {
    let item = |tail: &str| format!("{SCOPE}/instance/{{instanceId}}{tail}");
    ApiRouter::new()
        .api_route(&item(""), patch_with(update, op("UpdateResourceInstance")))
        .api_route(
            &format!("{SCOPE}/{{resourceKey}}/instance/{{instanceId}}/custom-dns"),
            post_with(add_custom_dns, op("AddCustomDNSToResourceInstance")).delete_with(
                remove_custom_dns,
                op("RemoveCustomDNSFromResourceInstance"),
            ),
        )
        .api_route(
            &item("/debug-mode"),
            post_with(debug_mode, op("UpdateResourceInstanceDebugMode")),
        )
        .api_route(&item("/debug"), get_with(debug, op("DebugResourceInstance")))
        .api_route(
            &item("/installer"),
            get_with(installer, op("DescribeResourceInstanceInstaller")),
        )
        .api_route(
            &item("/patch"),
            patch_with(one_off_patch, op("OneOffPatchResourceInstance")),
        )
        .api_route(
            &item("/linked-instances"),
            get_with(linked_instances, op("ListLinkedInstances")),
        )
        .api_route(
            &item("/dependent-components"),
            get_with(dependent_components, op("ListDependentComponents")),
        )
        .api_route(
            "/resource-instance/{serviceID}/{servicePlanID}/{hostClusterID}/{primaryResourceKey}/adopt",
            post_with(adopt, op("AdoptResourceInstance")),
        )
}

/// Runs a configuration change on the path's instance; answers with its position.
async fn configure(
    state: &AppState,
    agent: &Agent,
    path: &InstancePath,
    change: Configuration,
) -> Result<u64, GoaError> {
    agent.require(Permission::OperateFleet)?;
    let uuid = scoped(state, agent, path).await?;
    let executed = state
        .bus
        .execute::<Instance>(
            agent.meta(),
            &uuid.to_string(),
            InstanceCommand::Configure(change),
        )
        .await?;
    Ok(executed.event.sequence)
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Update {
    custom_tags: Option<Vec<CustomTag>>,
    #[serde(rename = "network_type")]
    network_type: Option<String>,
    request_params: Option<Value>,
    resource_id: String,
}

async fn update(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<InstancePath>,
    Body(body): Body<Update>,
) -> Result<Done, GoaError> {
    super::instances::resource_named(&body.resource_id)?;
    let change = Configuration::Update {
        params: body.request_params,
        network_type: body.network_type,
        custom_tags: body.custom_tags,
    };
    configure(&state, &agent, &path, change).await?;
    Ok(Done)
}

#[derive(Deserialize, schemars::JsonSchema)]
struct DnsPath {
    #[serde(rename = "serviceId")]
    service_id: String,
    #[serde(rename = "environmentId")]
    environment_id: String,
    #[serde(rename = "resourceKey")]
    resource_key: String,
    #[serde(rename = "instanceId")]
    instance_id: String,
}

impl DnsPath {
    fn instance(&self) -> InstancePath {
        InstancePath {
            service_id: self.service_id.clone(),
            environment_id: self.environment_id.clone(),
            instance_id: self.instance_id.clone(),
        }
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct AddDns {
    #[serde(rename = "customDNS")]
    custom_dns: String,
    target_port: Option<i64>,
}

async fn add_custom_dns(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<DnsPath>,
    Body(body): Body<AddDns>,
) -> Result<Done, GoaError> {
    agent.require(Permission::OperateFleet)?;
    let uuid = scoped(&state, &agent, &path.instance()).await?;
    fleet_app::custom_dns::add(
        &state,
        agent.meta(),
        &uuid.to_string(),
        &path.resource_key,
        &body.custom_dns,
        body.target_port,
    )
    .await?;
    Ok(Done)
}

async fn remove_custom_dns(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<DnsPath>,
) -> Result<Done, GoaError> {
    agent.require(Permission::OperateFleet)?;
    let uuid = scoped(&state, &agent, &path.instance()).await?;
    fleet_app::custom_dns::remove(&state, agent.meta(), &uuid.to_string(), &path.resource_key)
        .await?;
    Ok(Done)
}

#[derive(Deserialize, schemars::JsonSchema)]
struct DebugMode {
    enable: bool,
}

async fn debug_mode(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<InstancePath>,
    Body(body): Body<DebugMode>,
) -> Result<Done, GoaError> {
    let change = Configuration::SetDebugMode {
        enabled: body.enable,
    };
    configure(&state, &agent, &path, change).await?;
    Ok(Done)
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct DebugResource {
    resource_id: String,
    debug_data: Value,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Debug {
    instance_id: String,
    resources_debug: BTreeMap<String, DebugResource>,
}

/// What Fleetledger knows of the instance's resource: its state, capacity, last failure,
/// debug mode and custom DNS names.
async fn debug(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<InstancePath>,
) -> Result<Json<Debug>, GoaError> {
    let row = read_instance(&state, &agent, &path).await?;
    let names =
        custom_dns::of_instance(&state.pool, agent.tenant().as_str(), &row.id.to_string()).await?;
    let data = json!({
        "status": row.status,
        "capacity": row.capacity,
        "failureReason": row.failure_reason,
        "restarts": row.restarts,
        "failovers": row.failovers,
        "debugMode": row.debug_mode,
        "customDNS": names.iter().map(|n| json!({"name": n.name, "resourceKey": n.resource_key,
                                                "targetPort": n.target_port})).collect::<Vec<_>>(),
    });
    let key = row.instance_type.clone();
    Ok(Json(Debug {
        instance_id: id(prefix::INSTANCE, row.id),
        resources_debug: BTreeMap::from([(
            key.clone(),
            DebugResource {
                resource_id: format!("r-{key}"),
                debug_data: data,
            },
        )]),
    }))
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Installer {
    #[serde(rename = "installerURL")]
    installer_url: String,
    instance_id: String,
}

/// The installer its agent recorded (`POST /v1/instances/{id}/installer`); none is a 404.
async fn installer(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<InstancePath>,
) -> Result<Json<Installer>, GoaError> {
    let row = read_instance(&state, &agent, &path).await?;
    let url = row.installer_url.ok_or_else(|| {
        GoaError::NotFound(format!("instance {} has no installer", path.instance_id))
    })?;
    Ok(Json(Installer {
        installer_url: url,
        instance_id: id(prefix::INSTANCE, row.id),
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Patch {
    resource_id: String,
    resource_override_configuration: Option<Value>,
    target_tier_version: Option<String>,
}

/// Patches a running instance and answers it as it is now.
async fn one_off_patch(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<InstancePath>,
    Body(body): Body<Patch>,
) -> Result<Json<ResourceInstance>, GoaError> {
    super::instances::resource_named(&body.resource_id)?;
    let change = Configuration::Patch {
        tier_version: body.target_tier_version,
        overrides: body.resource_override_configuration,
    };
    configure(&state, &agent, &path, change).await?;
    let row = read_instance(&state, &agent, &path).await?;
    let mut lookup = Lookup::new(&state.pool, agent.tenant().as_str());
    Ok(Json(
        ResourceInstance::of(&row, &path.environment_id, &mut lookup).await?,
    ))
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Linked {
    environment_id: String,
    resource_instances: Vec<ResourceInstance>,
    service_id: String,
}

/// The instances a snapshot links to this one: restored from its snapshots, or the one it
/// was restored from.
async fn linked_instances(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<InstancePath>,
) -> Result<Json<Linked>, GoaError> {
    let row = read_instance(&state, &agent, &path).await?;
    fresh(
        &state,
        agent.tenant(),
        inventory::NAME,
        &[fleet_events::snapshot::AGGREGATE_TYPE],
    )
    .await?;
    let rows = instances::linked(&state.pool, agent.tenant().as_str(), row.id).await?;
    let mut lookup = Lookup::new(&state.pool, agent.tenant().as_str());
    let mut shaped = Vec::with_capacity(rows.len());
    for linked in &rows {
        shaped.push(ResourceInstance::of(linked, &path.environment_id, &mut lookup).await?);
    }
    Ok(Json(Linked {
        environment_id: path.environment_id,
        resource_instances: shaped,
        service_id: path.service_id,
    }))
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Component {
    environment_id: String,
    instance_count: i64,
    name: String,
    resource_id: String,
    service_id: String,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Components {
    environment_id: String,
    resources: Vec<Component>,
    service_id: String,
}

/// The resources the instance is made of: here, one, its kind.
async fn dependent_components(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<InstancePath>,
) -> Result<Json<Components>, GoaError> {
    let row = read_instance(&state, &agent, &path).await?;
    Ok(Json(Components {
        resources: vec![Component {
            environment_id: path.environment_id.clone(),
            instance_count: i64::from(row.status != "deleted"),
            name: row.instance_type.clone(),
            resource_id: format!("r-{}", row.instance_type),
            service_id: path.service_id.clone(),
        }],
        environment_id: path.environment_id,
        service_id: path.service_id,
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct AdoptPath {
    #[serde(rename = "serviceID")]
    service_id: String,
    #[serde(rename = "servicePlanID")]
    service_plan_id: String,
    #[serde(rename = "hostClusterID")]
    host_cluster_id: String,
    #[serde(rename = "primaryResourceKey")]
    primary_resource_key: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Adopt {
    #[serde(rename = "subscriptionID")]
    subscription_id: Option<String>,
    /// The environment the instance runs in; PROD when not given (Omnistrate's adoption
    /// names none).
    environment_type: Option<EnvironmentType>,
    #[allow(dead_code)]
    service_plan_version: Option<String>,
    #[allow(dead_code)]
    resource_adoption_configuration: Option<Value>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Adopted {
    id: String,
}

/// Brings an instance already running in a READY cell under management: it is created
/// adopted, in the cell's cloud and region, and its agent reports it ready.
async fn adopt(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<AdoptPath>,
    Body(body): Body<Adopt>,
) -> Result<Answer<Adopted, 202>, GoaError> {
    agent.require(Permission::OperateFleet)?;
    let subscription = body
        .subscription_id
        .as_deref()
        .ok_or_else(|| GoaError::required("subscriptionID"))?;
    let subscription = native_in(prefix::SUBSCRIPTION, "subscriptionID", subscription)?;
    validate_id(&path.host_cluster_id)
        .map_err(|_| GoaError::not_found("host cluster", &path.host_cluster_id))?;
    let cluster = state
        .bus
        .state::<HostCluster>(agent.tenant(), &path.host_cluster_id)
        .await
        .map_err(|e| GoaError::Unavailable(e.to_string()))?;
    if !cluster.exists() {
        return Err(GoaError::not_found("host cluster", &path.host_cluster_id));
    }
    fresh(
        &state,
        agent.tenant(),
        inventory::NAME,
        &[HostCluster::TYPE],
    )
    .await?;
    let cell =
        inventory::host_clusters::get(&state.pool, agent.tenant().as_str(), &path.host_cluster_id)
            .await?
            .ok_or_else(|| GoaError::not_found("host cluster", &path.host_cluster_id))?;
    let spec = InstanceSpec {
        name: None,
        service_id: path.service_id,
        plan_id: path.service_plan_id,
        cloud_provider: cell.cloud_provider,
        region: cell.region,
        deployment_cell: path.host_cluster_id,
        instance_type: path.primary_resource_key,
        environment_type: body
            .environment_type
            .unwrap_or(EnvironmentType::Prod)
            .as_str()
            .into(),
        customer_id: None,
        subscription_id: None,
        restored_from: None,
        adopted: true,
        tier_version: None,
    };
    let executed = fleet_app::instances::create_instance(
        &state.bus,
        agent.meta(),
        &subscription.to_string(),
        spec,
        1,
    )
    .await?;
    Ok(Answer(Adopted {
        id: id(prefix::INSTANCE, executed.event.event.aggregate_id),
    }))
}
