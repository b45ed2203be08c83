//! Services orchestration (inventory-api): several services deployed together from one
//! description, base64-encoded JSON:
//!
//! ```json
//! {"deployments": [
//!   {"alias": "db", "serviceId": "s-postgres", "productTierId": "pt-standard",
//!    "subscriptionId": "sub-…", "cloudProvider": "aws", "region": "us-east-1",
//!    "resourceKey": "postgres"},
//!   {"alias": "app", …, "dependsOn": ["db"]}]}
//! ```
//! Each deployment is an instance, created once those it depends on run; a modification adds
//! deployments; a deletion deletes the instances.

use aide::axum::routing::get_with;
use aide::axum::ApiRouter;
use aide::transform::TransformOperation;
use axum::extract::{Path, State};
use axum::Json;
use fleet_api::auth::Permission;
use fleet_api::AppState;
use fleet_domain::orchestration::{Deployment, OrchestrationCommand};
use fleet_domain::vocabulary::{CloudProvider, EnvironmentType};
use fleet_projections::inventory::orchestrations::{self, OrchestrationRow};
use fleet_projections::inventory::NAME as INVENTORY;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::wire::{id, native, native_in, prefix, time, Body, Query};
use super::{fresh, Agent, Answer, GoaError};

const READS: &[&str] = &[fleet_events::orchestration::AGGREGATE_TYPE];

fn op(summary: &'static str) -> impl FnOnce(TransformOperation) -> TransformOperation {
    super::operation("inventory-api", summary)
}

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/services-orchestration",
            get_with(list, op("ListServicesOrchestrations"))
                .post_with(create, op("CreateServicesOrchestration")),
        )
        .api_route(
            "/services-orchestration/{id}",
            get_with(describe, op("DescribeServicesOrchestration"))
                .patch_with(modify, op("ModifyServicesOrchestration"))
                .delete_with(delete, op("DeleteServicesOrchestration")),
        )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DslDeployment {
    alias: String,
    service_id: String,
    product_tier_id: String,
    subscription_id: String,
    cloud_provider: CloudProvider,
    region: String,
    resource_key: String,
    #[serde(default)]
    depends_on: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Dsl {
    #[serde(rename = "environmentType")]
    environment_type: Option<String>,
    deployments: Vec<DslDeployment>,
}

/// Decodes and reads a description; what cannot be read is a 400 naming the field.
fn read_dsl(field: &str, encoded: &str) -> Result<(Option<String>, Vec<Deployment>), GoaError> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| GoaError::field(field, "is not base64"))?;
    let dsl: Dsl = serde_json::from_slice(&bytes)
        .map_err(|e| GoaError::field(field, format!("is not a description: {e}")))?;
    let deployments = dsl
        .deployments
        .into_iter()
        .map(|d| {
            let subscription = native_in(prefix::SUBSCRIPTION, field, &d.subscription_id)?;
            Ok(Deployment {
                alias: d.alias,
                service_id: d.service_id,
                plan_id: d.product_tier_id,
                subscription_id: subscription.to_string(),
                cloud_provider: d.cloud_provider.as_str().into(),
                region: d.region,
                instance_type: d.resource_key,
                depends_on: d.depends_on,
                instance_id: String::new(),
            })
        })
        .collect::<Result<Vec<_>, GoaError>>()?;
    Ok((dsl.environment_type, deployments))
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Topology {
    instance_deployment_alias: String,
    service_id: String,
    subscription_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance_id: Option<String>,
    depends_on_deployment: Vec<String>,
    /// PENDING, RUNNING or FAILED.
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    failed_reason: Option<String>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Orchestration {
    id: String,
    /// PENDING, DEPLOYING, RUNNING, FAILED or DELETED.
    status: String,
    created_at: String,
    updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    orchestration_failed_reason: Option<String>,
    #[serde(rename = "ServicesTopology")]
    services_topology: Vec<Topology>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Described {
    access_services_orchestration: Orchestration,
}

impl From<OrchestrationRow> for Described {
    fn from(row: OrchestrationRow) -> Self {
        let deployments: Vec<Deployment> =
            serde_json::from_value(row.deployments).unwrap_or_default();
        let settled = |alias: &str| row.settled.get(alias);
        let topology: Vec<Topology> = deployments
            .iter()
            .map(|d| {
                let s = settled(&d.alias);
                let status = match s.map(|s| s["deployed"] == true) {
                    Some(true) => "RUNNING",
                    Some(false) => "FAILED",
                    None => "PENDING",
                };
                Topology {
                    instance_deployment_alias: d.alias.clone(),
                    service_id: d.service_id.clone(),
                    subscription_id: id(prefix::SUBSCRIPTION, &d.subscription_id),
                    instance_id: s
                        .filter(|s| s["deployed"] == true)
                        .map(|_| id(prefix::INSTANCE, &d.instance_id)),
                    depends_on_deployment: d.depends_on.clone(),
                    status: status.into(),
                    failed_reason: s.and_then(|s| s["reason"].as_str().map(str::to_owned)),
                }
            })
            .collect();
        let failed = topology.iter().find(|t| t.status == "FAILED");
        let status = fleet_domain::orchestration::status_of(
            row.deleted,
            deployments.len(),
            row.settled
                .as_object()
                .into_iter()
                .flatten()
                .map(|(_, s)| s["deployed"] == true),
        );
        Self {
            access_services_orchestration: Orchestration {
                id: id(prefix::ORCHESTRATION, row.id),
                status: status.into(),
                created_at: time(row.created_at),
                updated_at: time(row.updated_at),
                orchestration_failed_reason: failed.map(|f| {
                    format!(
                        "deployment {} failed: {}",
                        f.instance_deployment_alias,
                        f.failed_reason.clone().unwrap_or_default()
                    )
                }),
                services_topology: topology,
            },
        }
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
struct Create {
    /// Base64 of the JSON description.
    #[serde(rename = "orchestrationCreateDSL")]
    dsl: Option<String>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Created {
    id: String,
}

async fn create(
    State(state): State<AppState>,
    agent: Agent,
    Body(body): Body<Create>,
) -> Result<Answer<Created, 202>, GoaError> {
    agent.require(Permission::OperateFleet)?;
    let encoded = body
        .dsl
        .ok_or_else(|| GoaError::required("orchestrationCreateDSL"))?;
    let (environment, deployments) = read_dsl("orchestrationCreateDSL", &encoded)?;
    let environment = EnvironmentType::parse(environment.as_deref().unwrap_or("DEV"))
        .ok_or_else(|| GoaError::field("orchestrationCreateDSL", "environmentType is not one"))?;
    let executed = fleet_app::orchestrations::create(
        &state,
        agent.meta(),
        environment.as_str().into(),
        deployments,
    )
    .await
    .map_err(GoaError::from)?;
    Ok(Answer(Created {
        id: id(prefix::ORCHESTRATION, executed.event.event.aggregate_id),
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct IdPath {
    /// `so-…`.
    id: String,
}

async fn describe(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<IdPath>,
) -> Result<Json<Described>, GoaError> {
    let uuid = native(prefix::ORCHESTRATION, "services orchestration", &path.id)?;
    fresh(&state, agent.tenant(), INVENTORY, READS).await?;
    orchestrations::get(&state.pool, agent.tenant().as_str(), uuid)
        .await?
        .map(|r| Json(r.into()))
        .ok_or_else(|| GoaError::not_found("services orchestration", &path.id))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct Modify {
    #[serde(rename = "orchestrationModifyDSL")]
    dsl: String,
}

async fn change(
    state: &AppState,
    agent: &Agent,
    shown: &str,
    command: OrchestrationCommand,
) -> Result<Answer<Value, 202>, GoaError> {
    agent.require(Permission::OperateFleet)?;
    let uuid = native(prefix::ORCHESTRATION, "services orchestration", shown)?;
    fleet_app::orchestrations::change(state, agent.meta(), uuid, command)
        .await
        .map_err(|e| GoaError::failed(e, "services orchestration", shown))?;
    Ok(Answer(serde_json::json!({})))
}

/// Adds the description's deployments to the orchestration.
async fn modify(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<IdPath>,
    Body(body): Body<Modify>,
) -> Result<Answer<Value, 202>, GoaError> {
    let (_, added) = read_dsl("orchestrationModifyDSL", &body.dsl)?;
    change(
        &state,
        &agent,
        &path.id,
        OrchestrationCommand::Modify { added },
    )
    .await
}

async fn delete(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<IdPath>,
) -> Result<Answer<Value, 202>, GoaError> {
    change(&state, &agent, &path.id, OrchestrationCommand::Delete).await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    environment_type: Option<String>,
}

/// A bare array, as Omnistrate answers it.
async fn list(
    State(state): State<AppState>,
    agent: Agent,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<Described>>, GoaError> {
    let environment = query
        .environment_type
        .ok_or_else(|| GoaError::required("environmentType"))?;
    let environment = EnvironmentType::parse(&environment).ok_or_else(|| {
        GoaError::field(
            "environmentType",
            format!("must be one of {}", EnvironmentType::WORDS.join(", ")),
        )
    })?;
    fresh(&state, agent.tenant(), INVENTORY, READS).await?;
    let rows =
        orchestrations::list(&state.pool, agent.tenant().as_str(), environment.as_str()).await?;
    Ok(Json(rows.into_iter().map(Described::from).collect()))
}
