//! Upgrade paths (inventory-api): a product tier's instances rolled from one version to
//! another, managed as a whole (pause, resume, cancel, notify) and instance by instance
//! (skip). Paths answer with their progress counts, counted from their instances.

use std::collections::BTreeMap;

use aide::axum::routing::{get_with, post_with};
use aide::axum::ApiRouter;
use aide::transform::TransformOperation;
use axum::extract::{Path, State};
use axum::Json;
use chrono::NaiveDate;
use fleet_api::auth::Permission;
use fleet_api::AppState;
use fleet_app::upgrade_paths::UpgradeRequest;
use fleet_domain::upgrade_path::{UpgradePathCommand, ACTIONS};
use fleet_projections::inventory::upgrade_paths::{
    self, PathInstanceRow, UpgradePathFilter, UpgradePathRow,
};
use fleet_projections::inventory::NAME as INVENTORY;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::wire::{id, native, native_in, prefix, time, Body, Paging, Query};
use super::{applied, fresh, Agent, GoaError};

const TIER: &str = "/service/{serviceId}/productTier/{productTierId}";
const READS: &[&str] = &[
    fleet_events::upgrade_path::AGGREGATE_TYPE,
    fleet_events::instance::AGGREGATE_TYPE,
    fleet_events::workflow::AGGREGATE_TYPE,
];

fn op(summary: &'static str) -> impl FnOnce(TransformOperation) -> TransformOperation {
    super::operation("inventory-api", summary)
}

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            &format!("{TIER}/upgrade-path"),
            post_with(create, op("CreateUpgradePath")),
        )
        .api_route(
            &format!("{TIER}/upgrade-path/{{upgradePathId}}"),
            get_with(describe, op("DescribeUpgradePath")),
        )
        .api_route(
            &format!("{TIER}/upgrade-path/{{upgradePathId}}/cancel"),
            post_with(cancel, op("CancelUpgradePath")),
        )
        .api_route(
            &format!("{TIER}/upgrade-path/{{upgradePathId}}/eligible-instances"),
            get_with(eligible, op("ListEligibleInstancesPerUpgrade")),
        )
        .api_route(
            &format!("{TIER}/upgrade-path/{{upgradePathId}}/manage-lifecycle"),
            post_with(manage, op("ManageUpgradePath")),
        )
        .api_route(
            &format!("{TIER}/upgrade-paths"),
            get_with(list, op("ListUpgradePaths")),
        )
}

#[derive(Deserialize, schemars::JsonSchema)]
struct TierPath {
    #[serde(rename = "serviceId")]
    service_id: String,
    #[serde(rename = "productTierId")]
    product_tier_id: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct PathOfTier {
    #[serde(rename = "serviceId")]
    service_id: String,
    #[serde(rename = "productTierId")]
    product_tier_id: String,
    /// `up-…`.
    #[serde(rename = "upgradePathId")]
    upgrade_path_id: String,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Reason {
    reason: String,
}

/// `UpgradePath`.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct UpgradePath {
    upgrade_path_id: String,
    service_id: String,
    product_tier_id: String,
    /// UserDefined: made through this API.
    #[serde(rename = "type")]
    kind: String,
    source_version: String,
    source_version_name: String,
    target_version: String,
    target_version_name: String,
    /// SCHEDULED, IN_PROGRESS, PAUSED, COMPLETE, FAILED or CANCELLED.
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_requested_action: Option<String>,
    total_count: i64,
    pending_count: i64,
    scheduled_count: i64,
    in_progress_count: i64,
    completed_count: i64,
    failed_count: i64,
    skipped_count: i64,
    max_concurrent_upgrades: i64,
    notify_customer: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    planned_execution_date: Option<String>,
    created_at: String,
    created_by: String,
    last_modified_by: String,
    updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    released_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed_at: Option<String>,
    /// Instances asked for that cannot move, with why.
    failed_instance_reasons: BTreeMap<String, Reason>,
}

impl From<UpgradePathRow> for UpgradePath {
    fn from(row: UpgradePathRow) -> Self {
        let scheduled = row.status == "scheduled";
        let refused = row
            .refused
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        let reason = v.as_str().unwrap_or_default().to_owned();
                        (id(prefix::INSTANCE, k), Reason { reason })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            upgrade_path_id: id(prefix::UPGRADE_PATH, row.id),
            service_id: row.service_id,
            product_tier_id: row.plan_id,
            kind: "UserDefined".into(),
            source_version_name: row.source_version.clone(),
            source_version: row.source_version,
            target_version_name: row.target_version.clone(),
            target_version: row.target_version,
            status: row.status.to_ascii_uppercase(),
            status_message: row.status_message,
            last_requested_action: row.last_action,
            total_count: row.total,
            pending_count: if scheduled { 0 } else { row.pending },
            scheduled_count: if scheduled { row.pending } else { 0 },
            in_progress_count: row.in_progress,
            completed_count: row.completed,
            failed_count: row.failed,
            skipped_count: row.skipped,
            max_concurrent_upgrades: row.max_concurrent,
            notify_customer: row.notify_customer,
            planned_execution_date: row.scheduled_date.map(|d| d.to_string()),
            created_at: time(row.created_at),
            created_by: row.created_by,
            last_modified_by: row.modified_by,
            updated_at: time(row.updated_at),
            released_at: row.released_at.map(time),
            completed_at: row.completed_at.map(time),
            failed_instance_reasons: refused,
        }
    }
}

async fn read(
    state: &AppState,
    agent: &Agent,
    tier: (&str, &str),
    shown: &str,
    position: Option<u64>,
) -> Result<UpgradePath, GoaError> {
    let uuid = native(prefix::UPGRADE_PATH, "upgrade path", shown)?;
    match position {
        Some(p) => applied(state, INVENTORY, p).await?,
        None => fresh(state, agent.tenant(), INVENTORY, READS).await?,
    }
    upgrade_paths::get(&state.pool, agent.tenant().as_str(), uuid)
        .await?
        .filter(|p| p.service_id == tier.0 && p.plan_id == tier.1)
        .map(UpgradePath::from)
        .ok_or_else(|| GoaError::not_found("upgrade path", shown))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Create {
    source_version: String,
    target_version: String,
    /// `{"INSTANCE_IDS": ["instance-…", …]}`.
    upgrade_filters: BTreeMap<String, Vec<String>>,
    max_concurrent_upgrades: Option<i64>,
    #[serde(default)]
    notify_customer: bool,
    /// A future date (`2027-01-15`); none for now.
    scheduled_date: Option<String>,
    configuration_overrides: Option<Value>,
}

async fn create(
    State(state): State<AppState>,
    agent: Agent,
    Path(tier): Path<TierPath>,
    Body(body): Body<Create>,
) -> Result<Json<UpgradePath>, GoaError> {
    agent.require(Permission::OperateFleet)?;
    if let Some(other) = body.upgrade_filters.keys().find(|k| *k != "INSTANCE_IDS") {
        return Err(GoaError::field(
            "upgradeFilters",
            format!("{other} is not a filter: use INSTANCE_IDS"),
        ));
    }
    let instance_ids = body
        .upgrade_filters
        .get("INSTANCE_IDS")
        .into_iter()
        .flatten()
        .map(|i| native_in(prefix::INSTANCE, "upgradeFilters.INSTANCE_IDS", i))
        .collect::<Result<Vec<Uuid>, _>>()?;
    let scheduled_date = body
        .scheduled_date
        .filter(|d| !d.is_empty())
        .map(|d| {
            NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                .map_err(|_| GoaError::field("scheduledDate", "must be a date such as 2027-01-15"))
        })
        .transpose()?;
    let request = UpgradeRequest {
        service_id: tier.service_id.clone(),
        plan_id: tier.product_tier_id.clone(),
        source_version: body.source_version,
        target_version: body.target_version,
        instance_ids,
        max_concurrent: body.max_concurrent_upgrades,
        notify_customer: body.notify_customer,
        scheduled_date,
        overrides: body.configuration_overrides,
    };
    let executed = fleet_app::upgrade_paths::create(&state, agent.meta(), request)
        .await
        .map_err(GoaError::from)?;
    let shown = id(prefix::UPGRADE_PATH, &executed.event.event.aggregate_id);
    let tier = (tier.service_id.as_str(), tier.product_tier_id.as_str());
    Ok(Json(
        read(&state, &agent, tier, &shown, Some(executed.event.sequence)).await?,
    ))
}

async fn describe(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<PathOfTier>,
) -> Result<Json<UpgradePath>, GoaError> {
    let tier = (path.service_id.as_str(), path.product_tier_id.as_str());
    Ok(Json(
        read(&state, &agent, tier, &path.upgrade_path_id, None).await?,
    ))
}

async fn command(
    state: &AppState,
    agent: &Agent,
    path: &PathOfTier,
    command: UpgradePathCommand,
) -> Result<Json<UpgradePath>, GoaError> {
    agent.require(Permission::OperateFleet)?;
    let uuid = native(prefix::UPGRADE_PATH, "upgrade path", &path.upgrade_path_id)?;
    let executed = fleet_app::upgrade_paths::manage(
        state,
        agent.meta(),
        uuid,
        &path.service_id,
        &path.product_tier_id,
        command,
    )
    .await
    .map_err(|e| GoaError::failed(e, "upgrade path", &path.upgrade_path_id))?;
    let tier = (path.service_id.as_str(), path.product_tier_id.as_str());
    Ok(Json(
        read(
            state,
            agent,
            tier,
            &path.upgrade_path_id,
            Some(executed.event.sequence),
        )
        .await?,
    ))
}

async fn cancel(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<PathOfTier>,
) -> Result<Json<UpgradePath>, GoaError> {
    let reason = "Upgrade path cancelled on request".to_owned();
    command(&state, &agent, &path, UpgradePathCommand::Cancel { reason }).await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Manage {
    /// pause, resume, cancel, skip-instances or notify-customer.
    action: String,
    /// For skip-instances: `{"resource-ids": "instance-1,instance-2"}`.
    action_payload: Option<BTreeMap<String, Value>>,
}

async fn manage(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<PathOfTier>,
    Body(body): Body<Manage>,
) -> Result<Json<UpgradePath>, GoaError> {
    let order = match body.action.as_str() {
        "pause" => UpgradePathCommand::Pause,
        "resume" => UpgradePathCommand::Resume,
        "cancel" => UpgradePathCommand::Cancel {
            reason: "Upgrade path cancelled on request".into(),
        },
        "notify-customer" => UpgradePathCommand::NotifyCustomer,
        "skip-instances" => {
            let ids = body
                .action_payload
                .as_ref()
                .and_then(|p| p.get("resource-ids"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    GoaError::field(
                        "actionPayload.resource-ids",
                        "name the instances to skip, comma-separated",
                    )
                })?;
            let instance_ids = ids
                .split(',')
                .map(str::trim)
                .filter(|i| !i.is_empty())
                .map(|i| {
                    native_in(prefix::INSTANCE, "actionPayload.resource-ids", i)
                        .map(|u| u.to_string())
                })
                .collect::<Result<Vec<_>, _>>()?;
            UpgradePathCommand::Skip { instance_ids }
        }
        _ => {
            return Err(GoaError::field(
                "action",
                format!("must be one of {}", ACTIONS.join(", ")),
            ))
        }
    };
    command(&state, &agent, &path, order).await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    source_product_tier_version: Option<String>,
    target_product_tier_version: Option<String>,
    status: Option<String>,
    /// Only UserDefined paths are made here.
    #[serde(rename = "type")]
    kind: Option<String>,
    next_page_token: Option<String>,
    page_size: Option<i64>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct PathList {
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
    upgrade_paths: Vec<UpgradePath>,
}

async fn list(
    State(state): State<AppState>,
    agent: Agent,
    Path(tier): Path<TierPath>,
    Query(query): Query<ListQuery>,
) -> Result<Json<PathList>, GoaError> {
    let paging = Paging::read(query.page_size, query.next_page_token.as_deref())?;
    fresh(&state, agent.tenant(), INVENTORY, READS).await?;
    if query.kind.as_deref().is_some_and(|k| k != "UserDefined") {
        return Ok(Json(PathList {
            next_page_token: None,
            upgrade_paths: Vec::new(),
        }));
    }
    let filter = UpgradePathFilter {
        source_version: query.source_product_tier_version,
        target_version: query.target_product_tier_version,
        status: query.status.map(|s| s.to_ascii_lowercase()),
    };
    let rows = upgrade_paths::list(
        &state.pool,
        agent.tenant().as_str(),
        &tier.service_id,
        &tier.product_tier_id,
        &filter,
        paging.after,
        paging.limit + 1,
    )
    .await?;
    let (rows, next_page_token) = paging.page(rows, |r| r.id);
    Ok(Json(PathList {
        next_page_token,
        upgrade_paths: rows.into_iter().map(UpgradePath::from).collect(),
    }))
}

/// `InstanceUpgrade`.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct InstanceUpgrade {
    instance_id: String,
    /// PENDING, SCHEDULED, IN_PROGRESS, COMPLETED, FAILED or SKIPPED.
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// The instance's own state now (RUNNING, STOPPED…).
    #[serde(skip_serializing_if = "Option::is_none")]
    lifecycle_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tier_version: Option<String>,
    #[serde(rename = "workflowID", skip_serializing_if = "Option::is_none")]
    workflow_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upgrade_start_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upgrade_end_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cloud_provider_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cloud_provider_region: Option<String>,
    updated_at: String,
}

impl InstanceUpgrade {
    fn from(row: PathInstanceRow, scheduled: bool) -> Self {
        let status = match row.status.as_str() {
            "pending" if scheduled => "SCHEDULED".to_owned(),
            other => other.to_ascii_uppercase(),
        };
        Self {
            instance_id: id(prefix::INSTANCE, &row.instance_id),
            status,
            reason: row.reason,
            lifecycle_status: row.lifecycle_status.map(|s| s.to_ascii_uppercase()),
            tier_version: row.tier_version,
            workflow_id: row.workflow_id.map(|w| id(prefix::WORKFLOW, w)),
            upgrade_start_time: row.started_at.map(time),
            upgrade_end_time: row.ended_at.map(time),
            cloud_provider_name: row.cloud_provider,
            cloud_provider_region: row.region,
            updated_at: time(row.updated_at),
        }
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct PageQuery {
    next_page_token: Option<String>,
    page_size: Option<i64>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Eligible {
    instances: Vec<InstanceUpgrade>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
    product_tier_id: String,
    service_id: String,
    upgrade_path_id: String,
}

/// The path's instances in the order they move, with where each stands.
async fn eligible(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<PathOfTier>,
    Query(query): Query<PageQuery>,
) -> Result<Json<Eligible>, GoaError> {
    let tier = (path.service_id.as_str(), path.product_tier_id.as_str());
    let upgrade = read(&state, &agent, tier, &path.upgrade_path_id, None).await?;
    let limit = Paging::read(query.page_size, None)?.limit;
    let after = query
        .next_page_token
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<i32>()
                .map_err(|_| GoaError::field("nextPageToken", "is not a token this API returned"))
        })
        .transpose()?;
    let uuid = native(prefix::UPGRADE_PATH, "upgrade path", &path.upgrade_path_id)?;
    let mut rows =
        upgrade_paths::instances(&state.pool, agent.tenant().as_str(), uuid, after, limit + 1)
            .await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_page_token = more
        .then(|| rows.last().map(|r| r.position.to_string()))
        .flatten();
    let scheduled = upgrade.status == "SCHEDULED";
    Ok(Json(Eligible {
        instances: rows
            .into_iter()
            .map(|r| InstanceUpgrade::from(r, scheduled))
            .collect(),
        next_page_token,
        product_tier_id: path.product_tier_id,
        service_id: path.service_id,
        upgrade_path_id: path.upgrade_path_id,
    }))
}
