//! Custom networks (fleet-custom-network-api): CIDR blocks of a tenant per cloud region.
//! Ranges are validated, and an overlap with another network of the same tenant and region
//! is refused; only the name changes afterwards.

use aide::axum::routing::get_with;
use aide::axum::ApiRouter;
use aide::transform::TransformOperation;
use axum::extract::{Path, State};
use axum::Json;
use fleet_api::auth::Permission;
use fleet_api::AppState;
use fleet_domain::network_space::CustomNetwork;
use fleet_domain::vocabulary::CloudProvider;
use fleet_projections::inventory::networks::{self, NetworkRow};
use fleet_projections::inventory::NAME as INVENTORY;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use super::wire::{id, native, native_opt, prefix, Body, Query};
use super::{applied, fresh, Agent, Done, GoaError};

const READS: &[&str] = &[fleet_events::network_space::AGGREGATE_TYPE];

fn op(summary: &'static str) -> impl FnOnce(TransformOperation) -> TransformOperation {
    super::operation("fleet-custom-network-api", summary)
}

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/custom-network",
            get_with(list, op("ListCustomNetworks")).post_with(create, op("CreateCustomNetwork")),
        )
        .api_route(
            "/custom-network/{id}",
            get_with(describe, op("DescribeCustomNetwork"))
                .patch_with(rename, op("UpdateCustomNetwork"))
                .delete_with(delete, op("DeleteCustomNetwork")),
        )
}

/// `CustomNetwork`.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Network {
    id: String,
    name: String,
    cidr: String,
    cloud_provider_name: String,
    cloud_provider_region: String,
    /// Custom: made through this API.
    network_definition_type: String,
    network_features_configuration: Value,
    /// Where cells were deployed into it: none are placed by network here.
    network_instances: Vec<Value>,
    #[serde(rename = "owningOrgID", skip_serializing_if = "Option::is_none")]
    owning_org_id: Option<String>,
    #[serde(rename = "owningUserID")]
    owning_user_id: String,
    status: String,
}

impl From<NetworkRow> for Network {
    fn from(row: NetworkRow) -> Self {
        Self {
            id: id(prefix::NETWORK, &row.id),
            name: row.name,
            cidr: row.cidr,
            cloud_provider_name: row.cloud_provider,
            cloud_provider_region: row.region,
            network_definition_type: "Custom".into(),
            network_features_configuration: json!({"isPrivateLinkEnabled": row.private_link}),
            network_instances: Vec::new(),
            owning_org_id: row.customer_id.map(|c| id(prefix::ORG, c)),
            owning_user_id: row.created_by,
            status: "READY".into(),
        }
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
struct IdPath {
    /// `n-…`.
    id: String,
}

async fn read(
    state: &AppState,
    agent: &Agent,
    uuid: Uuid,
    shown: &str,
    position: Option<u64>,
) -> Result<Network, GoaError> {
    match position {
        Some(p) => applied(state, INVENTORY, p).await?,
        None => fresh(state, agent.tenant(), INVENTORY, READS).await?,
    }
    networks::get(&state.pool, agent.tenant().as_str(), &uuid.to_string())
        .await?
        .map(Network::from)
        .ok_or_else(|| GoaError::not_found("custom network", shown))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Features {
    #[serde(default)]
    is_private_link_enabled: bool,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Create {
    /// IPv4, in its network form; `10.0.0.0/16` when left out.
    cidr: Option<String>,
    cloud_provider_name: CloudProvider,
    cloud_provider_region: String,
    name: Option<String>,
    network_features_configuration: Option<Features>,
}

async fn create(
    State(state): State<AppState>,
    agent: Agent,
    Body(body): Body<Create>,
) -> Result<Json<Network>, GoaError> {
    agent.require(Permission::OperateFleet)?;
    let uuid = Uuid::now_v7();
    let cidr = body.cidr.unwrap_or_else(|| "10.0.0.0/16".into());
    let network = CustomNetwork {
        network_id: uuid.to_string(),
        name: body
            .name
            .unwrap_or_else(|| format!("{} {}", body.cloud_provider_region, cidr)),
        cidr,
        cloud_provider: body.cloud_provider_name.as_str().into(),
        region: body.cloud_provider_region,
        private_link: body
            .network_features_configuration
            .is_some_and(|f| f.is_private_link_enabled),
        customer_id: None,
    };
    let executed = fleet_app::networks::create(&state, agent.meta(), network)
        .await
        .map_err(GoaError::from)?;
    let shown = id(prefix::NETWORK, uuid);
    Ok(Json(
        read(&state, &agent, uuid, &shown, Some(executed.event.sequence)).await?,
    ))
}

async fn describe(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<IdPath>,
) -> Result<Json<Network>, GoaError> {
    let uuid = native(prefix::NETWORK, "custom network", &path.id)?;
    Ok(Json(read(&state, &agent, uuid, &path.id, None).await?))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct Rename {
    name: String,
}

async fn rename(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<IdPath>,
    Body(body): Body<Rename>,
) -> Result<Json<Network>, GoaError> {
    agent.require(Permission::OperateFleet)?;
    let uuid = native(prefix::NETWORK, "custom network", &path.id)?;
    let position =
        match fleet_app::networks::change(&state, agent.meta(), &uuid.to_string(), Some(body.name))
            .await
        {
            Ok(executed) => Some(executed.event.sequence),
            // The same name again changes nothing.
            Err(fleet_app::AppError::Conflict { .. }) => None,
            Err(e) => return Err(GoaError::failed(e, "custom network", &path.id)),
        };
    Ok(Json(read(&state, &agent, uuid, &path.id, position).await?))
}

async fn delete(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<IdPath>,
) -> Result<Done, GoaError> {
    agent.require(Permission::OperateFleet)?;
    let uuid = native(prefix::NETWORK, "custom network", &path.id)?;
    fleet_app::networks::change(&state, agent.meta(), &uuid.to_string(), None)
        .await
        .map_err(|e| GoaError::failed(e, "custom network", &path.id))?;
    Ok(Done)
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    cloud_provider_name: Option<String>,
    cloud_provider_region: Option<String>,
    /// Every network here is custom: either value lists them.
    #[allow(dead_code)]
    custom_networks_only: Option<bool>,
    #[serde(rename = "owningOrgID")]
    owning_org_id: Option<String>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Listed {
    custom_networks: Vec<Network>,
}

async fn list(
    State(state): State<AppState>,
    agent: Agent,
    Query(query): Query<ListQuery>,
) -> Result<Json<Listed>, GoaError> {
    let org = native_opt(prefix::ORG, "owningOrgID", query.owning_org_id.as_deref())?;
    fresh(&state, agent.tenant(), INVENTORY, READS).await?;
    let rows = networks::list(
        &state.pool,
        agent.tenant().as_str(),
        query.cloud_provider_name.as_deref(),
        query.cloud_provider_region.as_deref(),
        org.map(|o| o.to_string()).as_deref(),
    )
    .await?;
    Ok(Json(Listed {
        custom_networks: rows.into_iter().map(Network::from).collect(),
    }))
}
