//! Fleet health (operations-api): a deployment cell's instances one by one, and a service's
//! instances rolled up by cloud provider, region and cell, told from the instances' and the
//! cells' states in the inventory.
//!
//! An instance is HEALTHY when running, STOPPED when stopped, UNHEALTHY when failed and
//! UNKNOWN while deploying (PENDING_ADOPTION when adopted); a running instance in a cell that
//! failed or lost its agent is UNKNOWN. A level is Healthy while none below it is unhealthy.

use std::collections::BTreeMap;

use aide::axum::routing::get_with;
use aide::axum::ApiRouter;
use aide::transform::TransformOperation;
use axum::extract::State;
use axum::Json;
use fleet_api::AppState;
use fleet_projections::inventory::instances::{placements, Placement};
use fleet_projections::inventory::{host_clusters, NAME as INVENTORY};
use serde::{Deserialize, Serialize};

use super::wire::{id, prefix, Query};
use super::{fresh, Agent, GoaError};

const READS: &[&str] = &[
    fleet_events::instance::AGGREGATE_TYPE,
    fleet_events::host_cluster::AGGREGATE_TYPE,
];

fn op(summary: &'static str) -> impl FnOnce(TransformOperation) -> TransformOperation {
    super::operation("operations-api", summary)
}

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/operations/deployment-cell-health",
            get_with(cell_health, op("DeploymentCellHealth")),
        )
        .api_route(
            "/operations/service-health",
            get_with(service_health, op("ServiceHealth")),
        )
}

/// The cells whose agent cannot vouch for what runs there.
async fn unreachable_cells(state: &AppState, tenant: &str) -> Result<Vec<String>, GoaError> {
    Ok(host_clusters::list(&state.pool, tenant, None, None)
        .await?
        .into_iter()
        .filter(|c| matches!(c.status.as_str(), "FAILED" | "DISCONNECTED"))
        .map(|c| c.id)
        .collect())
}

fn health(instance: &Placement, unreachable: &[String]) -> &'static str {
    match instance.status.as_str() {
        "running" if unreachable.contains(&instance.deployment_cell) => "UNKNOWN",
        "running" => "HEALTHY",
        "stopped" => "STOPPED",
        "failed" => "UNHEALTHY",
        _ if instance.adopted => "PENDING_ADOPTION",
        _ => "UNKNOWN",
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
struct CellQuery {
    #[serde(rename = "hostClusterID")]
    host_cluster_id: Option<String>,
    #[serde(rename = "serviceID")]
    service_id: Option<String>,
    /// Environments are not entities here: narrows nothing.
    #[serde(rename = "serviceEnvironmentID")]
    #[allow(dead_code)]
    service_environment_id: Option<String>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ResourceHealth {
    #[serde(rename = "resourceID")]
    resource_id: String,
    resource_key: String,
    resource_type: String,
    status: String,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct InstanceHealth {
    #[serde(rename = "instanceID")]
    instance_id: String,
    life_cycle_status: String,
    status: String,
    resources_health: BTreeMap<String, ResourceHealth>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct CellHealth {
    cloud_provider: String,
    #[serde(rename = "hostClusterID")]
    host_cluster_id: String,
    instance_health: BTreeMap<String, InstanceHealth>,
    region_code: String,
    service_environment_name: String,
    service_name: String,
}

async fn cell_health(
    State(state): State<AppState>,
    agent: Agent,
    Query(query): Query<CellQuery>,
) -> Result<Json<CellHealth>, GoaError> {
    let cell = query
        .host_cluster_id
        .ok_or_else(|| GoaError::required("hostClusterID"))?;
    fresh(&state, agent.tenant(), INVENTORY, READS).await?;
    let tenant = agent.tenant().as_str();
    let known = host_clusters::get(&state.pool, tenant, &cell).await?;
    let instances = placements(
        &state.pool,
        tenant,
        query.service_id.as_deref(),
        Some(&cell),
    )
    .await?;
    if known.is_none() && instances.is_empty() {
        return Err(GoaError::not_found("host cluster", &cell));
    }
    let unreachable = unreachable_cells(&state, tenant).await?;
    let instance_health = instances
        .iter()
        .map(|i| {
            let status = health(i, &unreachable).to_owned();
            let shown = id(prefix::INSTANCE, i.id);
            let resource = ResourceHealth {
                resource_id: format!("r-{}", i.instance_type),
                resource_key: i.instance_type.clone(),
                resource_type: "compute".into(),
                status: status.clone(),
            };
            let health = InstanceHealth {
                instance_id: shown.clone(),
                life_cycle_status: i.status.to_ascii_uppercase(),
                status,
                resources_health: BTreeMap::from([(resource.resource_id.clone(), resource)]),
            };
            (shown, health)
        })
        .collect();
    let first = instances.first();
    Ok(Json(CellHealth {
        cloud_provider: known
            .as_ref()
            .map(|c| c.cloud_provider.clone())
            .or_else(|| first.map(|i| i.cloud_provider.clone()))
            .unwrap_or_default(),
        host_cluster_id: cell,
        instance_health,
        region_code: known
            .as_ref()
            .map(|c| c.region.clone())
            .or_else(|| first.map(|i| i.region.clone()))
            .unwrap_or_default(),
        service_environment_name: first
            .map(|i| i.environment_type.to_ascii_lowercase())
            .unwrap_or_default(),
        service_name: query
            .service_id
            .or_else(|| first.map(|i| i.service_id.clone()))
            .unwrap_or_default(),
    }))
}

/// A provider's regions, each with its counts and its cells'.
type Regions = BTreeMap<String, (Counts, BTreeMap<String, Counts>)>;

/// Counts at one level, and its children.
#[derive(Default, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Counts {
    total_instances: i64,
    healthy_instances: i64,
    unhealthy_instances: i64,
    unknown_instances: i64,
    deploying_instances: i64,
}

impl Counts {
    fn add(&mut self, status: &str, deploying: bool) {
        self.total_instances += 1;
        match status {
            "HEALTHY" | "STOPPED" => self.healthy_instances += 1,
            "UNHEALTHY" => self.unhealthy_instances += 1,
            _ if deploying => self.deploying_instances += 1,
            _ => self.unknown_instances += 1,
        }
    }

    fn status(&self) -> &'static str {
        if self.unhealthy_instances > 0 {
            "Unhealthy"
        } else {
            "Healthy"
        }
    }
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct CellSummary {
    #[serde(rename = "hostClusterID")]
    host_cluster_id: String,
    status: String,
    message: String,
    #[serde(flatten)]
    counts: Counts,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct RegionSummary {
    region: String,
    status: String,
    message: String,
    #[serde(flatten)]
    counts: Counts,
    deployment_cell_health_summary: BTreeMap<String, CellSummary>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ProviderSummary {
    cloud_provider: String,
    status: String,
    message: String,
    #[serde(flatten)]
    counts: Counts,
    regional_health_summary: BTreeMap<String, RegionSummary>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ServiceHealth {
    cloud_provider_health_summary: BTreeMap<String, ProviderSummary>,
    healthy_instances: i64,
    message: String,
    #[serde(rename = "serviceEnvironmentID")]
    service_environment_id: String,
    #[serde(rename = "serviceID")]
    service_id: String,
    status: String,
    total_instances: i64,
    unhealthy_instances: i64,
    unknown_instances: i64,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ServiceQuery {
    #[serde(rename = "serviceID")]
    service_id: Option<String>,
    #[serde(rename = "serviceEnvironmentID")]
    service_environment_id: Option<String>,
}

fn message(level: &str, counts: &Counts) -> String {
    if counts.unhealthy_instances > 0 {
        format!(
            "{level} has {} unhealthy instances",
            counts.unhealthy_instances
        )
    } else {
        format!("{level} is healthy")
    }
}

async fn service_health(
    State(state): State<AppState>,
    agent: Agent,
    Query(query): Query<ServiceQuery>,
) -> Result<Json<ServiceHealth>, GoaError> {
    let service_id = query
        .service_id
        .ok_or_else(|| GoaError::required("serviceID"))?;
    let environment = query
        .service_environment_id
        .ok_or_else(|| GoaError::required("serviceEnvironmentID"))?;
    fresh(&state, agent.tenant(), INVENTORY, READS).await?;
    let tenant = agent.tenant().as_str();
    let instances = placements(&state.pool, tenant, Some(&service_id), None).await?;
    let unreachable = unreachable_cells(&state, tenant).await?;
    let mut total = Counts::default();
    let mut providers: BTreeMap<String, (Counts, Regions)> = BTreeMap::new();
    for i in &instances {
        let status = health(i, &unreachable);
        let deploying = i.status == "deploying";
        total.add(status, deploying);
        let provider = providers.entry(i.cloud_provider.clone()).or_default();
        provider.0.add(status, deploying);
        let region = provider.1.entry(i.region.clone()).or_default();
        region.0.add(status, deploying);
        region
            .1
            .entry(i.deployment_cell.clone())
            .or_default()
            .add(status, deploying);
    }
    let cloud_provider_health_summary = providers
        .into_iter()
        .map(|(provider, (counts, regions))| {
            let regional_health_summary = regions
                .into_iter()
                .map(|(region, (counts, cells))| {
                    let cells = cells
                        .into_iter()
                        .map(|(cell, counts)| {
                            let summary = CellSummary {
                                host_cluster_id: cell.clone(),
                                status: counts.status().into(),
                                message: message("Cell", &counts),
                                counts,
                            };
                            (cell, summary)
                        })
                        .collect();
                    let summary = RegionSummary {
                        region: region.clone(),
                        status: counts.status().into(),
                        message: message("Region", &counts),
                        counts,
                        deployment_cell_health_summary: cells,
                    };
                    (region, summary)
                })
                .collect();
            let summary = ProviderSummary {
                cloud_provider: provider.clone(),
                status: counts.status().into(),
                message: message("Cloud provider", &counts),
                counts,
                regional_health_summary,
            };
            (provider, summary)
        })
        .collect();
    Ok(Json(ServiceHealth {
        cloud_provider_health_summary,
        healthy_instances: total.healthy_instances,
        message: message("Service", &total),
        service_environment_id: environment,
        service_id,
        status: total.status().into(),
        total_instances: total.total_instances,
        unhealthy_instances: total.unhealthy_instances,
        unknown_instances: total.unknown_instances + total.deploying_instances,
    }))
}
