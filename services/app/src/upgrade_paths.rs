//! Upgrade paths: which of the instances asked for can move, decided when the path is made.
//!
//! An instance can move when it is of the path's service and tier, running, on the source
//! version (an instance with no recorded version runs the tier's first, which any source
//! version names), and on no other path that is not over. The others are kept on the path
//! with the reason, as Omnistrate's `failedInstanceReasons`.

use std::collections::BTreeMap;

use chrono::{NaiveDate, Utc};
use fleet_domain::instance::{Instance, InstanceStatus};
use fleet_domain::upgrade_path::{UpgradePath, UpgradePathCommand, UpgradePlan};
use fleet_domain::Aggregate;
use fleet_projections::inventory::{upgrade_paths, NAME as INVENTORY};
use uuid::Uuid;

use crate::command_bus::{CommandMeta, Executed};
use crate::{App, AppError};

/// What a caller asks for.
#[derive(Debug, Clone)]
pub struct UpgradeRequest {
    pub service_id: String,
    pub plan_id: String,
    pub source_version: String,
    pub target_version: String,
    pub instance_ids: Vec<Uuid>,
    pub max_concurrent: Option<i64>,
    pub notify_customer: bool,
    pub scheduled_date: Option<NaiveDate>,
    pub overrides: Option<serde_json::Value>,
}

/// Without a setting, one instance moves at a time: the safest roll.
pub const DEFAULT_CONCURRENCY: i64 = 1;

pub async fn create(
    app: &App,
    meta: &CommandMeta,
    request: UpgradeRequest,
) -> Result<Executed<UpgradePath>, AppError> {
    app.caught_up_on(&meta.tenant, UpgradePath::TYPE, INVENTORY)
        .await?;
    let mut asked: Vec<String> = Vec::new();
    for id in &request.instance_ids {
        let id = id.to_string();
        if !asked.contains(&id) {
            asked.push(id);
        }
    }
    if asked.is_empty() {
        return Err(AppError::unprocessable(
            "upgradeFilters",
            "INSTANCE_IDS must name at least one instance",
        ));
    }
    let held: BTreeMap<String, Uuid> = upgrade_paths::held(&app.pool, meta.tenant.as_str(), &asked)
        .await?
        .into_iter()
        .collect();
    let (mut movable, mut refused) = (Vec::new(), BTreeMap::new());
    for id in asked {
        let instance = app.bus.state::<Instance>(&meta.tenant, &id).await?;
        let reason = match &instance.spec {
            None => Some("instance is not found".to_owned()),
            Some(spec)
                if spec.service_id != request.service_id || spec.plan_id != request.plan_id =>
            {
                Some("instance is not of this service and product tier".to_owned())
            }
            Some(_)
                if matches!(
                    instance.status,
                    InstanceStatus::Deleted | InstanceStatus::Failed
                ) =>
            {
                Some("instance is in a terminal state".to_owned())
            }
            Some(_) if instance.status != InstanceStatus::Running => {
                Some(format!("instance is {}, not running", instance.status))
            }
            Some(_)
                if instance
                    .tier_version
                    .as_ref()
                    .is_some_and(|v| *v != request.source_version) =>
            {
                Some(format!(
                    "instance runs version {}, not {}",
                    instance.tier_version.clone().unwrap_or_default(),
                    request.source_version
                ))
            }
            Some(_) => held
                .get(&id)
                .map(|path| format!("instance has a pending upgrade on upgrade path up-{path}")),
        };
        match reason {
            Some(reason) => {
                refused.insert(id, reason);
            }
            None => movable.push(id),
        }
    }
    let plan = UpgradePlan {
        service_id: request.service_id,
        plan_id: request.plan_id,
        source_version: request.source_version,
        target_version: request.target_version,
        instance_ids: movable,
        refused,
        max_concurrent: request.max_concurrent.unwrap_or(DEFAULT_CONCURRENCY),
        notify_customer: request.notify_customer,
        scheduled_date: request.scheduled_date,
        overrides: request.overrides,
    };
    let command = UpgradePathCommand::Create {
        plan: Box::new(plan),
        today: Utc::now().date_naive(),
    };
    let id = Uuid::now_v7().to_string();
    Ok(app
        .bus
        .execute_on_new::<UpgradePath>(meta, &id, command)
        .await?)
}

/// Runs a management command on a path of the tier.
pub async fn manage(
    app: &App,
    meta: &CommandMeta,
    path_id: Uuid,
    service_id: &str,
    plan_id: &str,
    command: UpgradePathCommand,
) -> Result<Executed<UpgradePath>, AppError> {
    let path = app
        .bus
        .state::<UpgradePath>(&meta.tenant, &path_id.to_string())
        .await?;
    match &path.plan {
        Some(p) if p.service_id == service_id && p.plan_id == plan_id => {}
        _ => {
            return Err(AppError::NotFound(format!(
                "upgrade path up-{path_id} not found"
            )))
        }
    }
    Ok(app
        .bus
        .execute::<UpgradePath>(meta, &path_id.to_string(), command)
        .await?)
}
