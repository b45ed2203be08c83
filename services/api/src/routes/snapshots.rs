//! `/v1/snapshots`: point-in-time copies of instances, copies to other regions, and restores
//! into new instances. The provisioning agent reports a snapshot complete or failed, as it
//! reports an instance ready.

use aide::axum::routing::{get_with, post_with};
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use fleet_app::command_bus::Executed;
use fleet_domain::instance::Instance;
use fleet_domain::snapshot::{Snapshot, SnapshotCommand};
use fleet_domain::Aggregate;
use fleet_projections::inventory::snapshots::{self, SnapshotRow};
use fleet_projections::inventory::NAME as INVENTORY;
use serde::{Deserialize, Serialize};

use crate::auth::{Caller, Permission};
use crate::docs::summary;
use crate::extract::{ApiJson, OptionalJson, ReadPosition};
use crate::pagination::Items;
use crate::routes::commands::{action, action_with, removal, reply, Accepted, Exposed};
use crate::routes::instances::InstanceState;
use crate::routes::{history_route, parse_id, wait_for_position, Issuer};
use crate::{ApiError, AppState};

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/instances/{id}/snapshots",
            post_with(
                take_snapshot,
                summary("Snapshot a running instance; the agent reports it complete"),
            )
            .get_with(list_snapshots, summary("The instance's snapshots")),
        )
        .api_route(
            "/snapshots/{id}",
            get_with(get_snapshot, summary("Get a snapshot")).merge(removal::<Snapshot>(
                "Delete a snapshot (any state but deleted)",
                || SnapshotCommand::Delete,
            )),
        )
        .api_route("/snapshots/{id}/events", history_route::<Snapshot>())
        .api_route(
            "/snapshots/{id}/complete",
            action::<Snapshot>("The agent took it: creating -> completed", || {
                SnapshotCommand::Complete
            }),
        )
        .api_route(
            "/snapshots/{id}/fail",
            action_with::<Snapshot, FailSnapshot>("creating -> failed", |body| {
                Ok(SnapshotCommand::Fail {
                    reason: body.reason,
                })
            }),
        )
        .api_route(
            "/snapshots/{id}/copy",
            post_with(
                copy_snapshot,
                summary("Copy a completed snapshot to another region"),
            ),
        )
        .api_route(
            "/snapshots/{id}/restore",
            post_with(
                restore_snapshot,
                summary("Restore a completed snapshot into a new instance"),
            ),
        )
        .with_path_items(|item| item.tag("snapshots"))
}

/// A snapshot as a command leaves it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SnapshotState {
    id: String,
    status: String,
    source_instance_id: Option<String>,
    region: Option<String>,
    copied_from: Option<String>,
    position: u64,
    event_type: String,
}

impl Exposed for Snapshot {
    type View = SnapshotState;
    const PERMISSION: Permission = Permission::OperateFleet;
    const COLLECTION: &'static str = "/v1/snapshots";

    fn view(executed: Executed<Snapshot>) -> SnapshotState {
        let taken = executed.state.taken;
        SnapshotState {
            id: executed.event.event.aggregate_id,
            status: executed.state.status.to_string(),
            source_instance_id: taken.as_ref().map(|t| t.source_instance_id.clone()),
            region: taken.as_ref().map(|t| t.region.clone()),
            copied_from: taken.and_then(|t| t.copied_from),
            position: executed.event.sequence,
            event_type: executed.event.event.event_type,
        }
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct FailSnapshot {
    reason: String,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct TakeSnapshot {
    /// `manual` (the default) or `automated`.
    kind: Option<String>,
}

async fn take_snapshot(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<TakeSnapshot>,
) -> Result<Accepted<SnapshotState>, ApiError> {
    issuer.caller.require(Permission::OperateFleet)?;
    let instance = parse_id(Instance::TYPE, &id)?;
    let kind = body.kind.unwrap_or_else(|| "manual".into());
    let executed =
        fleet_app::snapshots::take_snapshot(&state, &issuer.meta, &instance.to_string(), &kind)
            .await?;
    Ok(reply(executed))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct CopySnapshot {
    target_region: String,
}

async fn copy_snapshot(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CopySnapshot>,
) -> Result<Accepted<SnapshotState>, ApiError> {
    issuer.caller.require(Permission::OperateFleet)?;
    let snapshot = parse_id(Snapshot::TYPE, &id)?;
    let executed = fleet_app::snapshots::copy_snapshot(
        &state,
        &issuer.meta,
        &snapshot.to_string(),
        &body.target_region,
    )
    .await?;
    Ok(reply(executed))
}

async fn restore_snapshot(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
) -> Result<Accepted<InstanceState>, ApiError> {
    issuer.caller.require(Permission::OperateFleet)?;
    let snapshot = parse_id(Snapshot::TYPE, &id)?;
    let executed =
        fleet_app::snapshots::restore(&state, &issuer.meta, &snapshot.to_string()).await?;
    Ok(reply(executed))
}

async fn get_snapshot(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    Path(id): Path<String>,
) -> Result<Json<SnapshotRow>, ApiError> {
    let uuid = parse_id(Snapshot::TYPE, &id)?;
    wait_for_position(&state, INVENTORY, position).await?;
    snapshots::get(&state.pool, caller.tenant.as_str(), uuid)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("snapshot {id} not found")))
}

async fn list_snapshots(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    Path(id): Path<String>,
) -> Result<Json<Items<SnapshotRow>>, ApiError> {
    let uuid = parse_id(Instance::TYPE, &id)?;
    // Another tenant's instance, or none, is not found: not an empty list.
    let instance =
        fleet_app::policies::load::<Instance>(&state, &caller.tenant, &uuid.to_string()).await?;
    if !instance.exists() {
        return Err(ApiError::NotFound(format!("instance {id} not found")));
    }
    wait_for_position(&state, INVENTORY, position).await?;
    let items =
        snapshots::of_instance(&state.pool, caller.tenant.as_str(), &uuid.to_string()).await?;
    Ok(Json(Items { items }))
}
