//! A host cluster's entities (hostcluster-api): the Kubernetes objects Fleetledger knows in
//! it, one namespace per instance placed there, named by the instance's id as Omnistrate
//! deploys them. Deleting an instance's namespace deletes the instance.

use aide::axum::routing::get_with;
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use fleet_api::auth::Permission;
use fleet_api::AppState;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::host_clusters::read;
use super::{Agent, Done, GoaError};

pub fn router() -> ApiRouter<AppState> {
    let op = |summary| super::operation("hostcluster-api", summary);
    ApiRouter::new()
        .api_route(
            "/host-cluster/{hostClusterID}/entityType/{entityType}",
            get_with(entities, op("ListHostClusterEntities")),
        )
        .api_route(
            "/host-cluster/{hostClusterID}/entityType/{entityType}/entityID/{entityID}",
            get_with(describe_entity, op("DescribeHostClusterEntity"))
                .delete_with(delete_entity, op("DeleteEntity")),
        )
}

/// Only namespaces are known.
fn entity_type(kind: &str) -> Result<(), GoaError> {
    if kind.eq_ignore_ascii_case("NAMESPACE") {
        Ok(())
    } else {
        Err(GoaError::field(
            "entityType",
            "only NAMESPACE entities are known here: one per instance in the cluster",
        ))
    }
}

#[derive(Serialize, schemars::JsonSchema)]
struct Entity {
    identifier: String,
    #[serde(rename = "type")]
    kind: String,
    properties: Value,
}

fn entity(row: &fleet_projections::inventory::InstanceRow) -> Entity {
    Entity {
        identifier: super::wire::id(super::wire::prefix::INSTANCE, row.id),
        kind: "NAMESPACE".into(),
        properties: serde_json::json!({
            "serviceId": row.service_id,
            "productTierId": row.plan_id,
            "status": super::shapes::instance_status(&row.status),
            "replicas": row.capacity,
        }),
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
struct EntitiesPath {
    #[serde(rename = "hostClusterID")]
    host_cluster_id: String,
    #[serde(rename = "entityType")]
    entity_type: String,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Entities {
    entities: Vec<Entity>,
}

/// The live instances of the cell, each as the namespace it runs in.
async fn live_in(
    state: &AppState,
    agent: &Agent,
    cell: &str,
) -> Result<Vec<fleet_projections::inventory::InstanceRow>, GoaError> {
    read(state, agent, cell).await?;
    let filter = fleet_projections::inventory::InstanceFilter {
        deployment_cell: Some(cell.to_owned()),
        ..Default::default()
    };
    let rows = fleet_projections::inventory::list_instances(
        &state.pool,
        agent.tenant().as_str(),
        &filter,
        None,
        10_000,
    )
    .await?;
    Ok(rows.into_iter().filter(|r| r.status != "deleted").collect())
}

async fn entities(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<EntitiesPath>,
) -> Result<Json<Entities>, GoaError> {
    entity_type(&path.entity_type)?;
    let rows = live_in(&state, &agent, &path.host_cluster_id).await?;
    Ok(Json(Entities {
        entities: rows.iter().map(entity).collect(),
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct EntityPath {
    #[serde(rename = "hostClusterID")]
    host_cluster_id: String,
    #[serde(rename = "entityType")]
    entity_type: String,
    #[serde(rename = "entityID")]
    entity_id: String,
}

async fn find_entity(
    state: &AppState,
    agent: &Agent,
    path: &EntityPath,
) -> Result<fleet_projections::inventory::InstanceRow, GoaError> {
    entity_type(&path.entity_type)?;
    let wanted = super::wire::native(super::wire::prefix::INSTANCE, "entity", &path.entity_id)?;
    live_in(state, agent, &path.host_cluster_id)
        .await?
        .into_iter()
        .find(|r| r.id == wanted)
        .ok_or_else(|| GoaError::not_found("entity", &path.entity_id))
}

async fn describe_entity(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<EntityPath>,
) -> Result<Json<Entity>, GoaError> {
    Ok(Json(entity(&find_entity(&state, &agent, &path).await?)))
}

/// Deleting an instance's namespace deletes the instance.
async fn delete_entity(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<EntityPath>,
) -> Result<Done, GoaError> {
    agent.require(Permission::OperateFleet)?;
    let row = find_entity(&state, &agent, &path).await?;
    fleet_app::instances::delete_instance(&state.bus, agent.meta(), &row.id.to_string()).await?;
    Ok(Done)
}
