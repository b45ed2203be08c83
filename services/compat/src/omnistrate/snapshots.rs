//! Snapshots (inventory-api): taken of a running instance (manual or automated), copied to
//! another region, listed, described, deleted, and restored into a new instance, from a
//! snapshot or to a point in time (the latest snapshot completed by then).

use aide::axum::routing::{get_with, post_with};
use aide::axum::ApiRouter;
use aide::transform::TransformOperation;
use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use fleet_api::auth::Permission;
use fleet_api::AppState;
use fleet_domain::snapshot::{Snapshot as SnapshotAggregate, SnapshotCommand};
use fleet_projections::inventory::snapshots::{self, SnapshotRow};
use fleet_projections::inventory::NAME as INVENTORY;
use serde::{Deserialize, Serialize};

use super::instances::{scoped, InstancePath};
use super::wire::{id, native, prefix, time, Body, Query};
use super::{fresh, Agent, Answer, GoaError};

fn op(summary: &'static str) -> impl FnOnce(TransformOperation) -> TransformOperation {
    super::operation("inventory-api", summary)
}

const SCOPE: &str = "/service/{serviceId}/environment/{environmentId}";

pub fn router() -> ApiRouter<AppState> {
    let item = |tail: &str| format!("{SCOPE}/instance/{{instanceId}}{tail}");
    ApiRouter::new()
        .api_route(
            &item("/snapshot"),
            post_with(create, op("CreateResourceInstanceSnapshot"))
                .get_with(list, op("ListResourceInstanceSnapshots")),
        )
        .api_route(
            &item("/autosnapshot"),
            post_with(
                create_automated,
                op("TriggerAutomaticResourceInstanceSnapshotCreation"),
            ),
        )
        .api_route(
            &item("/copy-snapshot"),
            post_with(copy, op("CopyResourceInstanceSnapshot")),
        )
        .api_route(
            &item("/snapshot/{snapshotId}"),
            get_with(describe, op("DescribeResourceInstanceSnapshot")),
        )
        .api_route(
            &item("/restore"),
            post_with(restore_to_time, op("RestoreResourceInstance"))
                .get_with(serving, op("DescribeResourceInstanceSnapshotFromTime")),
        )
        .api_route(
            &format!("{SCOPE}/snapshot/{{snapshotId}}"),
            aide::axum::routing::delete_with(delete, op("DeleteResourceInstanceSnapshot")),
        )
        .api_route(
            &format!("{SCOPE}/snapshot/{{snapshotId}}/restore"),
            post_with(restore, op("RestoreResourceInstanceFromSnapshot")),
        )
}

const READS: &[&str] = &[fleet_events::snapshot::AGGREGATE_TYPE];

/// `FleetDescribeInstanceSnapshotResult`.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Snapshot {
    #[serde(skip_serializing_if = "Option::is_none")]
    complete_time: Option<String>,
    created_time: String,
    environment_id: String,
    product_tier_id: String,
    /// 0 until completed, then 100.
    progress: i64,
    region: String,
    service_id: String,
    snapshot_id: String,
    /// AutomatedSnapshot or ManualSnapshot.
    snapshot_type: String,
    source_instance_id: String,
    /// creating, completed or failed.
    status: String,
}

impl Snapshot {
    fn of(row: &SnapshotRow, environment_id: &str) -> Self {
        Self {
            complete_time: row.completed_at.map(time),
            created_time: time(row.created_at),
            environment_id: environment_id.to_owned(),
            product_tier_id: row.plan_id.clone(),
            progress: if row.status == "completed" { 100 } else { 0 },
            region: row.region.clone(),
            service_id: row.service_id.clone(),
            snapshot_id: id(prefix::SNAPSHOT, row.id),
            snapshot_type: if row.kind == "automated" {
                "AutomatedSnapshot"
            } else {
                "ManualSnapshot"
            }
            .into(),
            source_instance_id: id(prefix::INSTANCE, &row.source_instance_id),
            status: row.status.clone(),
        }
    }
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Taken {
    environment_id: String,
    service_id: String,
    snapshot_id: String,
}

async fn take(
    state: &AppState,
    agent: &Agent,
    path: &InstancePath,
    kind: &str,
) -> Result<Answer<Taken, 202>, GoaError> {
    agent.require(Permission::OperateFleet)?;
    let instance = scoped(state, agent, path).await?;
    let executed =
        fleet_app::snapshots::take_snapshot(state, agent.meta(), &instance.to_string(), kind)
            .await?;
    Ok(Answer(Taken {
        environment_id: path.environment_id.clone(),
        service_id: path.service_id.clone(),
        snapshot_id: id(prefix::SNAPSHOT, &executed.event.event.aggregate_id),
    }))
}

async fn create(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<InstancePath>,
) -> Result<Answer<Taken, 202>, GoaError> {
    take(&state, &agent, &path, "manual").await
}

async fn create_automated(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<InstancePath>,
) -> Result<Answer<Taken, 202>, GoaError> {
    take(&state, &agent, &path, "automated").await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Copy {
    /// The snapshot to copy; by default the instance's latest completed one.
    source_snapshot_id: Option<String>,
    target_region: String,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Copied {
    snapshot_id: String,
}

async fn copy(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<InstancePath>,
    Body(body): Body<Copy>,
) -> Result<Answer<Copied, 202>, GoaError> {
    agent.require(Permission::OperateFleet)?;
    if body.target_region.trim().is_empty() {
        return Err(GoaError::field("targetRegion", "must not be empty"));
    }
    let instance = scoped(&state, &agent, &path).await?;
    let source = match &body.source_snapshot_id {
        Some(shown) => of_instance(&state, &agent, &path, shown).await?,
        None => latest(&state, &agent, &instance.to_string(), Utc::now())
            .await?
            .ok_or_else(|| {
                GoaError::InvalidState(format!(
                    "instance {} has no completed snapshot to copy",
                    path.instance_id
                ))
            })?,
    };
    let executed = fleet_app::snapshots::copy_snapshot(
        &state,
        agent.meta(),
        &source.id.to_string(),
        &body.target_region,
    )
    .await?;
    Ok(Answer(Copied {
        snapshot_id: id(prefix::SNAPSHOT, &executed.event.event.aggregate_id),
    }))
}

/// A snapshot of the path's instance, from the inventory once it is fresh.
async fn of_instance(
    state: &AppState,
    agent: &Agent,
    path: &InstancePath,
    shown: &str,
) -> Result<SnapshotRow, GoaError> {
    let instance = native(prefix::INSTANCE, "instance", &path.instance_id)?;
    let uuid = native(prefix::SNAPSHOT, "snapshot", shown)?;
    fresh(state, agent.tenant(), INVENTORY, READS).await?;
    snapshots::get(&state.pool, agent.tenant().as_str(), uuid)
        .await?
        .filter(|s| s.source_instance_id == instance.to_string() && s.status != "deleted")
        .ok_or_else(|| GoaError::not_found("snapshot", shown))
}

async fn latest(
    state: &AppState,
    agent: &Agent,
    instance: &str,
    at: DateTime<Utc>,
) -> Result<Option<SnapshotRow>, GoaError> {
    fresh(state, agent.tenant(), INVENTORY, READS).await?;
    Ok(snapshots::serving(&state.pool, agent.tenant().as_str(), instance, at).await?)
}

#[derive(Serialize, schemars::JsonSchema)]
struct SnapshotList {
    snapshots: Vec<Snapshot>,
}

async fn list(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<InstancePath>,
) -> Result<Json<SnapshotList>, GoaError> {
    let instance = scoped(&state, &agent, &path).await?;
    fresh(&state, agent.tenant(), INVENTORY, READS).await?;
    let rows =
        snapshots::of_instance(&state.pool, agent.tenant().as_str(), &instance.to_string()).await?;
    Ok(Json(SnapshotList {
        snapshots: rows
            .iter()
            .map(|r| Snapshot::of(r, &path.environment_id))
            .collect(),
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct SnapshotOfInstancePath {
    #[serde(rename = "serviceId")]
    service_id: String,
    #[serde(rename = "environmentId")]
    environment_id: String,
    #[serde(rename = "instanceId")]
    instance_id: String,
    #[serde(rename = "snapshotId")]
    snapshot_id: String,
}

async fn describe(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<SnapshotOfInstancePath>,
) -> Result<Json<Snapshot>, GoaError> {
    let instance = InstancePath {
        service_id: path.service_id,
        environment_id: path.environment_id,
        instance_id: path.instance_id,
    };
    let row = of_instance(&state, &agent, &instance, &path.snapshot_id).await?;
    Ok(Json(Snapshot::of(&row, &instance.environment_id)))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct SnapshotPath {
    #[serde(rename = "serviceId")]
    service_id: String,
    #[serde(rename = "environmentId")]
    #[allow(dead_code)]
    environment_id: String,
    #[serde(rename = "snapshotId")]
    snapshot_id: String,
}

/// The snapshot's native id, once its history shows it is of the path's service.
async fn scoped_snapshot(
    state: &AppState,
    agent: &Agent,
    path: &SnapshotPath,
) -> Result<String, GoaError> {
    let uuid = native(prefix::SNAPSHOT, "snapshot", &path.snapshot_id)?.to_string();
    let snapshot = state
        .bus
        .state::<SnapshotAggregate>(agent.tenant(), &uuid)
        .await
        .map_err(|e| GoaError::Unavailable(e.to_string()))?;
    match snapshot.taken {
        Some(taken) if taken.source.service_id == path.service_id => Ok(uuid),
        _ => Err(GoaError::not_found("snapshot", &path.snapshot_id)),
    }
}

async fn delete(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<SnapshotPath>,
) -> Result<super::Done<202>, GoaError> {
    agent.require(Permission::OperateFleet)?;
    let uuid = scoped_snapshot(&state, &agent, &path).await?;
    state
        .bus
        .execute::<SnapshotAggregate>(agent.meta(), &uuid, SnapshotCommand::Delete)
        .await?;
    Ok(super::Done)
}

#[derive(Serialize, schemars::JsonSchema)]
struct Restored {
    /// The new instance.
    id: String,
}

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct RestoreOptions {
    #[serde(rename = "network_type")]
    network_type: Option<String>,
    /// A restore brings back the snapshot's own version and parameters here; overrides are
    /// refused rather than dropped.
    product_tier_version_override: Option<String>,
    input_parameters_override: Option<serde_json::Value>,
    #[serde(rename = "custom_network_id")]
    custom_network_id: Option<String>,
}

impl RestoreOptions {
    fn check(&self) -> Result<(), GoaError> {
        if let Some(network) = &self.network_type {
            if !["PUBLIC", "INTERNAL"].contains(&network.as_str()) {
                return Err(GoaError::field(
                    "network_type",
                    "must be PUBLIC or INTERNAL",
                ));
            }
        }
        for (field, given) in [
            (
                "productTierVersionOverride",
                self.product_tier_version_override.is_some(),
            ),
            (
                "inputParametersOverride",
                self.input_parameters_override.is_some(),
            ),
            ("custom_network_id", self.custom_network_id.is_some()),
        ] {
            if given {
                return Err(GoaError::field(
                    field,
                    "is not supported: a restore recreates the snapshot's instance as it was",
                ));
            }
        }
        Ok(())
    }
}

async fn restored(
    state: &AppState,
    agent: &Agent,
    snapshot: &str,
) -> Result<Answer<Restored, 202>, GoaError> {
    let executed = fleet_app::snapshots::restore(state, agent.meta(), snapshot).await?;
    Ok(Answer(Restored {
        id: id(prefix::INSTANCE, &executed.event.event.aggregate_id),
    }))
}

async fn restore(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<SnapshotPath>,
    Body(body): Body<RestoreOptions>,
) -> Result<Answer<Restored, 202>, GoaError> {
    agent.require(Permission::OperateFleet)?;
    body.check()?;
    let uuid = scoped_snapshot(&state, &agent, &path).await?;
    restored(&state, &agent, &uuid).await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ToTime {
    target_restore_time: DateTime<Utc>,
    #[serde(flatten)]
    options: RestoreOptions,
}

/// The snapshot a restore to `at` starts from; none is a 409.
async fn serving_at(
    state: &AppState,
    agent: &Agent,
    path: &InstancePath,
    at: DateTime<Utc>,
) -> Result<SnapshotRow, GoaError> {
    let instance = scoped(state, agent, path).await?;
    latest(state, agent, &instance.to_string(), at)
        .await?
        .ok_or_else(|| {
            GoaError::InvalidState(format!(
                "instance {} has no snapshot completed by {}",
                path.instance_id,
                time(at)
            ))
        })
}

async fn restore_to_time(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<InstancePath>,
    Body(body): Body<ToTime>,
) -> Result<Answer<Restored, 202>, GoaError> {
    agent.require(Permission::OperateFleet)?;
    body.options.check()?;
    let snapshot = serving_at(&state, &agent, &path, body.target_restore_time).await?;
    restored(&state, &agent, &snapshot.id.to_string()).await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct TimeQuery {
    target_restore_time: Option<DateTime<Utc>>,
}

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct TimeBody {
    target_restore_time: Option<DateTime<Utc>>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Serving {
    complete_time: String,
    environment_id: String,
    product_tier_id: String,
    service_id: String,
    snapshot_id: String,
    status: String,
}

/// Which snapshot a restore to the time would use. Omnistrate sends the time in a body on
/// this GET; the query parameter of the same name is read too.
async fn serving(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<InstancePath>,
    Query(query): Query<TimeQuery>,
    Body(body): Body<TimeBody>,
) -> Result<Json<Serving>, GoaError> {
    let at = body
        .target_restore_time
        .or(query.target_restore_time)
        .ok_or_else(|| GoaError::required("targetRestoreTime"))?;
    let row = serving_at(&state, &agent, &path, at).await?;
    Ok(Json(Serving {
        complete_time: row.completed_at.map(time).unwrap_or_default(),
        environment_id: path.environment_id,
        product_tier_id: row.plan_id.clone(),
        service_id: row.service_id.clone(),
        snapshot_id: id(prefix::SNAPSHOT, row.id),
        status: row.status,
    }))
}
