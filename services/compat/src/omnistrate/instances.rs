//! Resource instances (inventory-api): create, list, describe, delete, and every lifecycle
//! operation: start, stop, restart, failover, capacity added and removed, and the instance's
//! events.

use aide::axum::routing::{get_with, post_with};
use aide::axum::ApiRouter;
use aide::transform::TransformOperation;
use axum::extract::{Path, State};
use axum::Json;
use fleet_api::auth::Permission;
use fleet_api::AppState;
use fleet_domain::instance::{Instance, InstanceCommand, InstanceSpec};
use fleet_domain::vocabulary::{CloudProvider, EnvironmentType};
use fleet_projections::inventory::{self, InstanceFilter, InstanceRow};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::shapes::{Lookup, ResourceInstance};
use super::wire::{self, id, native, prefix, Body, Paging, Query};
use super::{fresh, Agent, Answer, Done, GoaError};

fn op(summary: &'static str) -> impl FnOnce(TransformOperation) -> TransformOperation {
    super::operation("inventory-api", summary)
}

const SCOPE: &str = "/service/{serviceId}/environment/{environmentId}";

pub fn router() -> ApiRouter<AppState> {
    let item = |tail: &str| format!("{SCOPE}/instance/{{instanceId}}{tail}");
    ApiRouter::new()
        .api_route(
            "/resource-instance/{serviceProviderId}/{serviceKey}/{serviceAPIVersion}/{serviceEnvironmentKey}/{serviceModelKey}/{productTierKey}/{resourceKey}",
            post_with(create, op("CreateResourceInstance")),
        )
        .api_route(
            &format!("{SCOPE}/instances/"),
            get_with(list, op("ListResourceInstances")),
        )
        .api_route(
            "/host-clusters/{hostClusterId}/instances",
            get_with(list_in_host_cluster, op("ListAllInstancesInHostCluster")),
        )
        .api_route(
            &item(""),
            get_with(describe, op("DescribeResourceInstance"))
                .delete_with(delete, op("DeleteResourceInstance")),
        )
        .api_route(&item("/start"), post_with(start, op("StartResourceInstance")))
        .api_route(&item("/stop"), post_with(stop, op("StopResourceInstance")))
        .api_route(
            &item("/restart"),
            post_with(restart, op("RestartResourceInstance")),
        )
        .api_route(
            &item("/failover"),
            post_with(failover, op("FailoverResourceInstance")),
        )
        .api_route(
            &item("/add-capacity"),
            post_with(add_capacity, op("AddCapacityToResourceInstance")),
        )
        .api_route(
            &item("/remove-capacity"),
            post_with(remove_capacity, op("RemoveCapacityFromResourceInstance")),
        )
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct Scope {
    #[serde(rename = "serviceId")]
    pub service_id: String,
    #[serde(rename = "environmentId")]
    pub environment_id: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct InstancePath {
    #[serde(rename = "serviceId")]
    pub service_id: String,
    #[serde(rename = "environmentId")]
    pub environment_id: String,
    #[serde(rename = "instanceId")]
    pub instance_id: String,
}

/// The instance's native id, once its history shows it belongs to the path's service.
pub async fn scoped(
    state: &AppState,
    agent: &Agent,
    path: &InstancePath,
) -> Result<Uuid, GoaError> {
    let uuid = native(prefix::INSTANCE, "instance", &path.instance_id)?;
    let instance = state
        .bus
        .state::<Instance>(agent.tenant(), &uuid.to_string())
        .await
        .map_err(|e| GoaError::Unavailable(e.to_string()))?;
    match instance.spec {
        Some(spec) if spec.service_id == path.service_id => Ok(uuid),
        _ => Err(GoaError::not_found("instance", &path.instance_id)),
    }
}

/// Runs `command` on the instance of `path`; an illegal transition is a 409 `invalid_state`.
async fn command(
    state: &AppState,
    agent: &Agent,
    path: &InstancePath,
    command: InstanceCommand,
) -> Result<u64, GoaError> {
    agent.require(Permission::OperateFleet)?;
    let uuid = scoped(state, agent, path).await?;
    let executed = match &command {
        InstanceCommand::Delete => {
            fleet_app::instances::delete_instance(&state.bus, agent.meta(), &uuid.to_string())
                .await
                .map_err(GoaError::from)?
        }
        _ => state
            .bus
            .execute::<Instance>(agent.meta(), &uuid.to_string(), command)
            .await
            .map_err(|e| GoaError::refused(e, "instance", &path.instance_id))?,
    };
    Ok(executed.event.sequence)
}

/// The body of every per-resource command: the resource it is for.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ForResource {
    resource_id: String,
}

pub fn resource_named(resource_id: &str) -> Result<(), GoaError> {
    if resource_id.trim().is_empty() {
        return Err(GoaError::field("resourceId", "must not be empty"));
    }
    Ok(())
}

macro_rules! lifecycle {
    ($name:ident, $command:expr) => {
        async fn $name(
            State(state): State<AppState>,
            agent: Agent,
            Path(path): Path<InstancePath>,
            Body(body): Body<ForResource>,
        ) -> Result<Done, GoaError> {
            resource_named(&body.resource_id)?;
            command(&state, &agent, &path, $command).await?;
            Ok(Done)
        }
    };
}

lifecycle!(start, InstanceCommand::Start);
lifecycle!(stop, InstanceCommand::Stop);
lifecycle!(restart, InstanceCommand::Restart);
lifecycle!(delete, InstanceCommand::Delete);

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Failover {
    #[serde(rename = "failedReplicaID")]
    failed_replica_id: String,
    /// FAILOVER_ONLY (the default), FAILOVER_AND_RESTART or FAILOVER_AND_RECREATE.
    failed_replica_action: Option<String>,
}

async fn failover(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<InstancePath>,
    Body(body): Body<Failover>,
) -> Result<Done, GoaError> {
    if body.failed_replica_id.trim().is_empty() {
        return Err(GoaError::field("failedReplicaID", "must not be empty"));
    }
    let failover = InstanceCommand::Failover {
        replica_id: Some(body.failed_replica_id),
        action: Some(
            body.failed_replica_action
                .unwrap_or_else(|| "FAILOVER_ONLY".into()),
        ),
    };
    command(&state, &agent, &path, failover).await?;
    Ok(Done)
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct AddCapacity {
    capacity_to_be_added: i64,
    resource_id: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct RemoveCapacity {
    capacity_to_be_removed: i64,
    resource_id: String,
}

async fn add_capacity(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<InstancePath>,
    Body(body): Body<AddCapacity>,
) -> Result<Done, GoaError> {
    resource_named(&body.resource_id)?;
    change_capacity(
        &state,
        &agent,
        &path,
        "capacityToBeAdded",
        body.capacity_to_be_added,
    )
    .await
}

async fn remove_capacity(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<InstancePath>,
    Body(body): Body<RemoveCapacity>,
) -> Result<Done, GoaError> {
    resource_named(&body.resource_id)?;
    let count = body.capacity_to_be_removed;
    change_capacity(&state, &agent, &path, "capacityToBeRemoved", count).await
}

/// Replicas added (positive) or removed (the field's count, negated).
async fn change_capacity(
    state: &AppState,
    agent: &Agent,
    path: &InstancePath,
    field: &str,
    count: i64,
) -> Result<Done, GoaError> {
    if count < 1 {
        return Err(GoaError::field(field, "must be at least 1"));
    }
    let delta = if field == "capacityToBeRemoved" {
        -count
    } else {
        count
    };
    command(
        state,
        agent,
        path,
        InstanceCommand::ChangeCapacity { delta },
    )
    .await
    .map_err(|e| match e {
        GoaError::BadRequest(reason) => GoaError::BadRequest(reason.replace("delta", field)),
        other => other,
    })?;
    Ok(Done)
}

#[derive(Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct Keys {
    #[serde(rename = "serviceProviderId")]
    service_provider_id: String,
    #[serde(rename = "serviceKey")]
    service_key: String,
    #[serde(rename = "serviceAPIVersion")]
    service_api_version: String,
    #[serde(rename = "serviceEnvironmentKey")]
    service_environment_key: String,
    #[serde(rename = "serviceModelKey")]
    service_model_key: String,
    #[serde(rename = "productTierKey")]
    product_tier_key: String,
    #[serde(rename = "resourceKey")]
    resource_key: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Create {
    #[serde(rename = "cloud_provider")]
    cloud_provider: CloudProvider,
    region: String,
    subscription_id: Option<String>,
    /// The instance's parameters: `instanceType`, `replicas` and `deploymentCellID` are read;
    /// the rest is kept by the caller.
    request_params: Option<Value>,
    #[serde(rename = "network_type")]
    network_type: Option<String>,
    /// The tier version it runs (upgrade paths move it); none: the tier's first.
    product_tier_version: Option<String>,
    custom_tags: Option<Vec<Value>>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Created {
    id: String,
}

/// Creates an instance of the service and tier the keys name, under the subscription given:
/// `serviceKey` is its service, `productTierKey` its plan, `serviceEnvironmentKey` its
/// environment type.
async fn create(
    State(state): State<AppState>,
    agent: Agent,
    Path(keys): Path<Keys>,
    Body(body): Body<Create>,
) -> Result<Answer<Created, 202>, GoaError> {
    agent.require(Permission::OperateFleet)?;
    let environment = EnvironmentType::parse(&keys.service_environment_key).ok_or_else(|| {
        GoaError::field(
            "serviceEnvironmentKey",
            format!(
                "must name an environment type: {}",
                EnvironmentType::WORDS.join(", ")
            ),
        )
    })?;
    if let Some(network) = &body.network_type {
        if !["PUBLIC", "INTERNAL"].contains(&network.as_str()) {
            return Err(GoaError::field(
                "network_type",
                "must be PUBLIC or INTERNAL",
            ));
        }
    }
    if body.custom_tags.as_ref().is_some_and(|t| !t.is_empty()) {
        return Err(GoaError::field(
            "customTags",
            "tags are not kept by Fleetledger yet",
        ));
    }
    let subscription = body
        .subscription_id
        .as_deref()
        .ok_or_else(|| GoaError::required("subscriptionId"))?;
    let subscription = wire::native_in(prefix::SUBSCRIPTION, "subscriptionId", subscription)?;
    let params = body.request_params.unwrap_or(Value::Null);
    let text = |key: &str| params.get(key).and_then(Value::as_str).map(str::to_owned);
    let capacity = match params.get("replicas") {
        None => 1,
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| GoaError::field("requestParams.replicas", "must be an integer"))?,
    };
    let spec = InstanceSpec {
        name: text("name"),
        service_id: keys.service_key,
        plan_id: keys.product_tier_key,
        cloud_provider: body.cloud_provider.as_str().into(),
        region: body.region,
        deployment_cell: text("deploymentCellID").unwrap_or_else(|| "default".into()),
        instance_type: text("instanceType").unwrap_or(keys.resource_key),
        environment_type: environment.as_str().into(),
        customer_id: None,
        subscription_id: None,
        restored_from: None,
        adopted: false,
        tier_version: body.product_tier_version.clone(),
    };
    let executed = fleet_app::instances::create_instance(
        &state.bus,
        agent.meta(),
        &subscription.to_string(),
        spec,
        capacity,
    )
    .await
    .map_err(|e| match GoaError::from(e) {
        GoaError::BadRequest(reason) => GoaError::BadRequest(
            reason
                .replace("subscription_id", "subscriptionId")
                .replace("capacity", "requestParams.replicas"),
        ),
        other => other,
    })?;
    Ok(Answer(Created {
        id: id(prefix::INSTANCE, executed.event.event.aggregate_id),
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ListQuery {
    #[serde(rename = "ProductTierId")]
    product_tier_id: Option<String>,
    #[serde(rename = "ProductTierVersion")]
    #[allow(dead_code)]
    product_tier_version: Option<String>,
    #[serde(rename = "SubscriptionId")]
    subscription_id: Option<String>,
    /// onlyCloudAccounts or excludeCloudAccounts. No instance is a cloud account here.
    #[serde(rename = "Filter")]
    filter: Option<String>,
    #[serde(rename = "ExcludeDetail")]
    #[allow(dead_code)]
    exclude_detail: Option<bool>,
    #[serde(rename = "nextPageToken")]
    next_page_token: Option<String>,
    #[serde(rename = "pageSize")]
    page_size: Option<i64>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct InstanceList {
    environment_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
    resource_instances: Vec<ResourceInstance>,
    service_id: String,
}

async fn list(
    State(state): State<AppState>,
    agent: Agent,
    Path(scope): Path<Scope>,
    Query(query): Query<ListQuery>,
) -> Result<Json<InstanceList>, GoaError> {
    let paging = Paging::read(query.page_size, query.next_page_token.as_deref())?;
    let only_accounts = match query.filter.as_deref() {
        None | Some("excludeCloudAccounts") => false,
        Some("onlyCloudAccounts") => true,
        Some(_) => {
            return Err(GoaError::field(
                "Filter",
                "must be onlyCloudAccounts or excludeCloudAccounts",
            ))
        }
    };
    let subscription_id = wire::native_opt(
        prefix::SUBSCRIPTION,
        "SubscriptionId",
        query.subscription_id.as_deref(),
    )?;
    let filter = InstanceFilter {
        service_id: Some(scope.service_id.clone()),
        plan_id: query.product_tier_id,
        subscription_id: subscription_id.map(|s| s.to_string()),
        ..Default::default()
    };
    let (resource_instances, next_page_token) = if only_accounts {
        (Vec::new(), None)
    } else {
        listed(&state, &agent, &filter, &paging, &scope.environment_id).await?
    };
    Ok(Json(InstanceList {
        environment_id: scope.environment_id,
        next_page_token,
        resource_instances,
        service_id: scope.service_id,
    }))
}

async fn listed(
    state: &AppState,
    agent: &Agent,
    filter: &InstanceFilter,
    paging: &Paging,
    environment_id: &str,
) -> Result<(Vec<ResourceInstance>, Option<String>), GoaError> {
    fresh(state, agent.tenant(), inventory::NAME, READS).await?;
    let rows = inventory::list_instances(
        &state.pool,
        agent.tenant().as_str(),
        filter,
        paging.after,
        paging.limit + 1,
    )
    .await?;
    let (rows, token) = paging.page(rows, |r| r.id);
    let mut lookup = Lookup::new(&state.pool, agent.tenant().as_str());
    let mut shaped = Vec::with_capacity(rows.len());
    for row in &rows {
        shaped.push(ResourceInstance::of(row, environment_id, &mut lookup).await?);
    }
    Ok((shaped, token))
}

/// What an instance's answer reads: the instance, its subscription, customer and users.
const READS: &[&str] = &[
    fleet_events::instance::AGGREGATE_TYPE,
    fleet_events::subscription::AGGREGATE_TYPE,
    fleet_events::customer::AGGREGATE_TYPE,
    fleet_events::user::AGGREGATE_TYPE,
];

#[derive(Deserialize, schemars::JsonSchema)]
struct HostClusterPath {
    #[serde(rename = "hostClusterId")]
    host_cluster_id: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct PageQuery {
    next_page_token: Option<String>,
    page_size: Option<i64>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct HostClusterInstances {
    instances: Vec<ResourceInstance>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

/// The instances placed in a deployment cell (`deploymentCellID`).
async fn list_in_host_cluster(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<HostClusterPath>,
    Query(query): Query<PageQuery>,
) -> Result<Json<HostClusterInstances>, GoaError> {
    let paging = Paging::read(query.page_size, query.next_page_token.as_deref())?;
    let filter = InstanceFilter {
        deployment_cell: Some(path.host_cluster_id),
        ..Default::default()
    };
    let (instances, next_page_token) = listed(&state, &agent, &filter, &paging, "").await?;
    Ok(Json(HostClusterInstances {
        instances,
        next_page_token,
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct DescribeQuery {
    #[allow(dead_code)]
    detail: Option<bool>,
}

async fn describe(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<InstancePath>,
    Query(_): Query<DescribeQuery>,
) -> Result<Json<ResourceInstance>, GoaError> {
    let row = read_instance(&state, &agent, &path).await?;
    let mut lookup = Lookup::new(&state.pool, agent.tenant().as_str());
    Ok(Json(
        ResourceInstance::of(&row, &path.environment_id, &mut lookup).await?,
    ))
}

/// The instance of `path` from the inventory, once it holds every write acknowledged.
pub async fn read_instance(
    state: &AppState,
    agent: &Agent,
    path: &InstancePath,
) -> Result<InstanceRow, GoaError> {
    let uuid = native(prefix::INSTANCE, "instance", &path.instance_id)?;
    fresh(state, agent.tenant(), inventory::NAME, READS).await?;
    inventory::get_instance(&state.pool, agent.tenant().as_str(), uuid)
        .await?
        .filter(|row| row.service_id == path.service_id)
        .ok_or_else(|| GoaError::not_found("instance", &path.instance_id))
}
