//! Upgrade paths in the inventory, with each instance's place on its path; the progress
//! counts are counted from the instances.

use chrono::{DateTime, NaiveDate, Utc};
use fleet_domain::upgrade_path::UpgradePathEvent;
use fleet_events::EventEnvelope;
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{expect_row, ApplyError};

pub(super) const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS upgrade_paths (
    tenant           text NOT NULL,
    id               uuid NOT NULL,
    service_id       text NOT NULL,
    plan_id          text NOT NULL,
    source_version   text NOT NULL,
    target_version   text NOT NULL,
    status           text NOT NULL,
    status_message   text,
    last_action      text,
    max_concurrent   bigint NOT NULL,
    notify_customer  boolean NOT NULL,
    scheduled_date   date,
    refused          jsonb NOT NULL DEFAULT '{}',
    overrides        jsonb,
    created_by       text NOT NULL,
    modified_by      text NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    released_at      timestamptz,
    paused_at        timestamptz,
    completed_at     timestamptz,
    version          bigint NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX IF NOT EXISTS upgrade_paths_by_tier ON upgrade_paths (tenant, service_id, plan_id, created_at);
CREATE TABLE IF NOT EXISTS upgrade_path_instances (
    tenant       text NOT NULL,
    path_id      uuid NOT NULL,
    instance_id  text NOT NULL,
    position     int NOT NULL,
    -- pending, in_progress, completed, failed, skipped
    status       text NOT NULL,
    reason       text,
    started_at   timestamptz,
    ended_at     timestamptz,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant, path_id, instance_id)
);
CREATE INDEX IF NOT EXISTS upgrade_path_instances_by_instance ON upgrade_path_instances (tenant, instance_id);
"#;

async fn set_instances(
    tx: &mut PgConnection,
    tenant: &str,
    path: Uuid,
    ids: &[String],
    status: &str,
    reason: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE upgrade_path_instances SET status = $4, reason = coalesce($5, reason),
             started_at = CASE WHEN $4 = 'in_progress' THEN $6 ELSE started_at END,
             ended_at = CASE WHEN $4 IN ('completed', 'failed') THEN $6 ELSE ended_at END,
             updated_at = $6
         WHERE tenant = $1 AND path_id = $2 AND instance_id = ANY($3)",
    )
    .bind(tenant)
    .bind(path)
    .bind(ids)
    .bind(status)
    .bind(reason)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub(super) async fn apply(tx: &mut PgConnection, event: &EventEnvelope) -> Result<(), ApplyError> {
    let tenant = event.event.tenant.as_str();
    let id = crate::uuid_of(event)?;
    let (at, version) = (event.event.occurred_at, event.sequence as i64);
    let actor = &event.event.actor.id;
    let decoded = event.decode::<UpgradePathEvent>()?;
    if let UpgradePathEvent::UpgradePathCreated { plan, started } = &decoded {
        let inserted = sqlx::query(
            "INSERT INTO upgrade_paths (tenant, id, service_id, plan_id, source_version,
                 target_version, status, max_concurrent, notify_customer, scheduled_date, refused,
                 overrides, created_by, modified_by, created_at, updated_at, released_at, version)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, $14,
                 CASE WHEN $10::date IS NULL THEN $14 END, $15)
             ON CONFLICT (tenant, id) DO NOTHING",
        )
        .bind(tenant)
        .bind(id)
        .bind(&plan.service_id)
        .bind(&plan.plan_id)
        .bind(&plan.source_version)
        .bind(&plan.target_version)
        .bind(if plan.scheduled_date.is_some() {
            "scheduled"
        } else {
            "in_progress"
        })
        .bind(plan.max_concurrent)
        .bind(plan.notify_customer)
        .bind(plan.scheduled_date)
        .bind(serde_json::to_value(&plan.refused).unwrap_or_default())
        .bind(&plan.overrides)
        .bind(actor)
        .bind(at)
        .bind(version)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(());
        }
        let positions: Vec<i32> = (0..plan.instance_ids.len() as i32).collect();
        sqlx::query(
            "INSERT INTO upgrade_path_instances (tenant, path_id, instance_id, position, status,
                 updated_at)
             SELECT $1, $2, i, p, 'pending', $5 FROM UNNEST($3::text[], $4::int[]) AS t(i, p)
             ON CONFLICT DO NOTHING",
        )
        .bind(tenant)
        .bind(id)
        .bind(&plan.instance_ids)
        .bind(&positions)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        set_instances(tx, tenant, id, started, "in_progress", None, at).await?;
        return Ok(());
    }
    let seen: Option<i64> =
        sqlx::query_scalar("SELECT version FROM upgrade_paths WHERE tenant = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    match seen {
        None => return expect_row(Default::default(), event),
        Some(seen) if seen >= version => return Ok(()),
        Some(_) => {}
    }
    // (status, last action, message, column stamped now)
    let (status, action, message, stamp): (
        Option<&str>,
        Option<&str>,
        Option<String>,
        Option<&str>,
    ) = match &decoded {
        UpgradePathEvent::UpgradePathCreated { .. } => unreachable!("handled above"),
        UpgradePathEvent::UpgradePathReleased { started } => {
            set_instances(tx, tenant, id, started, "in_progress", None, at).await?;
            (Some("in_progress"), None, None, Some("released_at"))
        }
        UpgradePathEvent::UpgradePathPaused {} => {
            (Some("paused"), Some("pause"), None, Some("paused_at"))
        }
        UpgradePathEvent::UpgradePathResumed { started } => {
            set_instances(tx, tenant, id, started, "in_progress", None, at).await?;
            (Some("in_progress"), Some("resume"), None, None)
        }
        UpgradePathEvent::UpgradePathCancelled { reason } => (
            Some("cancelled"),
            Some("cancel"),
            Some(reason.clone()),
            Some("completed_at"),
        ),
        UpgradePathEvent::UpgradeInstancesSkipped {
            instance_ids,
            status,
        } => {
            set_instances(tx, tenant, id, instance_ids, "skipped", None, at).await?;
            (
                status.as_deref(),
                Some("skip-instances"),
                None,
                status.as_ref().map(|_| "completed_at"),
            )
        }
        UpgradePathEvent::UpgradePathCustomerNotified {} => {
            sqlx::query(
                "UPDATE upgrade_paths SET notify_customer = true WHERE tenant = $1 AND id = $2",
            )
            .bind(tenant)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            (None, Some("notify-customer"), None, None)
        }
        UpgradePathEvent::UpgradeInstanceFinished {
            instance_id,
            succeeded,
            reason,
            started,
            status,
        } => {
            let outcome = if *succeeded { "completed" } else { "failed" };
            let one = [instance_id.clone()];
            set_instances(tx, tenant, id, &one, outcome, reason.as_deref(), at).await?;
            set_instances(tx, tenant, id, started, "in_progress", None, at).await?;
            (
                status.as_deref(),
                None,
                None,
                status.as_ref().map(|_| "completed_at"),
            )
        }
    };
    let stamp = stamp.map_or(String::new(), |c| format!(", {c} = $3"));
    let result = sqlx::query(&format!(
        "UPDATE upgrade_paths SET status = coalesce($5, status),
             last_action = coalesce($6, last_action), status_message = coalesce($7, status_message),
             modified_by = CASE WHEN $6 IS NULL THEN modified_by ELSE $8 END,
             updated_at = $3, version = $4 {stamp}
         WHERE tenant = $1 AND id = $2"
    ))
    .bind(tenant)
    .bind(id)
    .bind(at)
    .bind(version)
    .bind(status)
    .bind(action)
    .bind(message)
    .bind(actor)
    .execute(&mut *tx)
    .await?;
    expect_row(result, event)
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct UpgradePathRow {
    pub id: Uuid,
    pub service_id: String,
    pub plan_id: String,
    pub source_version: String,
    pub target_version: String,
    pub status: String,
    pub status_message: Option<String>,
    pub last_action: Option<String>,
    pub max_concurrent: i64,
    pub notify_customer: bool,
    pub scheduled_date: Option<NaiveDate>,
    pub refused: Value,
    pub created_by: String,
    pub modified_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub released_at: Option<DateTime<Utc>>,
    pub paused_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub total: i64,
    pub pending: i64,
    pub in_progress: i64,
    pub completed: i64,
    pub failed: i64,
    pub skipped: i64,
}

const SELECT: &str = "SELECT p.id, p.service_id, p.plan_id, p.source_version, p.target_version,
    p.status, p.status_message, p.last_action, p.max_concurrent, p.notify_customer,
    p.scheduled_date, p.refused, p.created_by, p.modified_by, p.created_at, p.updated_at,
    p.released_at, p.paused_at, p.completed_at,
    c.total, c.pending, c.in_progress, c.completed, c.failed, c.skipped
    FROM inventory.upgrade_paths p
    CROSS JOIN LATERAL (
        SELECT count(*) AS total,
               count(*) FILTER (WHERE status = 'pending') AS pending,
               count(*) FILTER (WHERE status = 'in_progress') AS in_progress,
               count(*) FILTER (WHERE status = 'completed') AS completed,
               count(*) FILTER (WHERE status = 'failed') AS failed,
               count(*) FILTER (WHERE status = 'skipped') AS skipped
          FROM inventory.upgrade_path_instances i
         WHERE i.tenant = p.tenant AND i.path_id = p.id) c";

pub async fn get(
    pool: &PgPool,
    tenant: &str,
    id: Uuid,
) -> Result<Option<UpgradePathRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE p.tenant = $1 AND p.id = $2"))
        .bind(tenant)
        .bind(id)
        .fetch_optional(pool)
        .await
}

#[derive(Debug, Clone, Default)]
pub struct UpgradePathFilter {
    pub source_version: Option<String>,
    pub target_version: Option<String>,
    pub status: Option<String>,
}

/// The tier's paths, oldest first, after the id `after`.
pub async fn list(
    pool: &PgPool,
    tenant: &str,
    service_id: &str,
    plan_id: &str,
    filter: &UpgradePathFilter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<UpgradePathRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE p.tenant = $1 AND p.service_id = $2 AND p.plan_id = $3
           AND ($4::text IS NULL OR p.source_version = $4)
           AND ($5::text IS NULL OR p.target_version = $5)
           AND ($6::text IS NULL OR p.status = $6)
           AND ($7::uuid IS NULL OR p.id > $7)
         ORDER BY p.id LIMIT $8"
    ))
    .bind(tenant)
    .bind(service_id)
    .bind(plan_id)
    .bind(&filter.source_version)
    .bind(&filter.target_version)
    .bind(&filter.status)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct PathInstanceRow {
    pub instance_id: String,
    pub position: i32,
    pub status: String,
    pub reason: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// The instance as the inventory has it now.
    pub lifecycle_status: Option<String>,
    pub cloud_provider: Option<String>,
    pub region: Option<String>,
    pub tier_version: Option<String>,
    /// Its upgrade's workflow, once it started.
    pub workflow_id: Option<Uuid>,
}

/// The path's instances in the order they move, after position `after`.
pub async fn instances(
    pool: &PgPool,
    tenant: &str,
    path: Uuid,
    after: Option<i32>,
    limit: i64,
) -> Result<Vec<PathInstanceRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.instance_id, u.position, u.status, u.reason, u.started_at, u.ended_at,
                u.updated_at, i.status AS lifecycle_status, i.cloud_provider, i.region,
                i.tier_version,
                (SELECT w.id FROM inventory.workflows w
                  WHERE w.tenant = u.tenant AND w.instance_id = u.instance_id
                    AND w.upgrade_path_id = u.path_id::text
                  ORDER BY w.started_at DESC LIMIT 1) AS workflow_id
           FROM inventory.upgrade_path_instances u
           LEFT JOIN inventory.instances i ON i.id::text = u.instance_id
          WHERE u.tenant = $1 AND u.path_id = $2 AND ($3::int IS NULL OR u.position > $3)
          ORDER BY u.position LIMIT $4",
    )
    .bind(tenant)
    .bind(path)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Of `instance_ids`, those pending or moving on a path that is not over, with the path.
pub async fn held(
    pool: &PgPool,
    tenant: &str,
    instance_ids: &[String],
) -> Result<Vec<(String, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT i.instance_id, i.path_id FROM inventory.upgrade_path_instances i
           JOIN inventory.upgrade_paths p ON p.tenant = i.tenant AND p.id = i.path_id
          WHERE i.tenant = $1 AND i.instance_id = ANY($2)
            AND i.status IN ('pending', 'in_progress')
            AND p.status IN ('scheduled', 'in_progress', 'paused')",
    )
    .bind(tenant)
    .bind(instance_ids)
    .fetch_all(pool)
    .await
}

/// Paths the scheduler must act on: (tenant, id) of scheduled ones due by `today`, and of
/// paused ones paused before `paused_before`.
pub async fn due(
    pool: &PgPool,
    today: NaiveDate,
    paused_before: DateTime<Utc>,
) -> Result<(Vec<(String, Uuid)>, Vec<(String, Uuid)>), sqlx::Error> {
    let released = sqlx::query_as(
        "SELECT tenant, id FROM inventory.upgrade_paths
          WHERE status = 'scheduled' AND scheduled_date <= $1 LIMIT 500",
    )
    .bind(today)
    .fetch_all(pool)
    .await?;
    let stale = sqlx::query_as(
        "SELECT tenant, id FROM inventory.upgrade_paths
          WHERE status = 'paused' AND paused_at < $1 LIMIT 500",
    )
    .bind(paused_before)
    .fetch_all(pool)
    .await?;
    Ok((released, stale))
}
