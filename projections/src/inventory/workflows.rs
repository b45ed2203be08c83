//! Workflows in the inventory: each instance operation's run, with its steps as they stand.

use chrono::{DateTime, Utc};
use fleet_domain::workflow::WorkflowEvent;
use fleet_events::EventEnvelope;
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{expect_row, ApplyError};

pub(super) const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS workflows (
    tenant           text NOT NULL,
    id               uuid NOT NULL,
    instance_id      text NOT NULL,
    kind             text NOT NULL,
    service_id       text NOT NULL,
    plan_id          text NOT NULL,
    cloud_provider   text NOT NULL,
    region           text NOT NULL,
    deployment_cell  text NOT NULL,
    environment_type text NOT NULL,
    status           text NOT NULL,
    -- [{name, status, message, started_at, ended_at}]
    steps            jsonb NOT NULL,
    current_step     int NOT NULL DEFAULT 0,
    on_failure       text NOT NULL,
    target_status    text NOT NULL,
    upgrade_path_id  text,
    target_version   text,
    failure_reason   text,
    updated_by       text,
    updated_reason   text,
    started_at       timestamptz NOT NULL,
    ended_at         timestamptz,
    updated_at       timestamptz NOT NULL,
    version          bigint NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX IF NOT EXISTS workflows_by_service ON workflows (tenant, service_id, started_at DESC, id);
CREATE INDEX IF NOT EXISTS workflows_by_instance ON workflows (tenant, instance_id, started_at DESC);
"#;

fn step(name: &str, status: &str, at: Option<DateTime<Utc>>) -> Value {
    json!({"name": name, "status": status, "message": null, "started_at": at, "ended_at": null})
}

pub(super) async fn apply(tx: &mut PgConnection, event: &EventEnvelope) -> Result<(), ApplyError> {
    let tenant = &event.event.tenant;
    let id = crate::uuid_of(event)?;
    let (at, version) = (event.event.occurred_at, event.sequence as i64);
    let decoded = event.decode::<WorkflowEvent>()?;
    if let WorkflowEvent::WorkflowStarted { plan } = &decoded {
        let steps: Vec<Value> = plan
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if i == 0 {
                    step(s, "in_progress", Some(at))
                } else {
                    step(s, "pending", None)
                }
            })
            .collect();
        sqlx::query(
            "INSERT INTO workflows (tenant, id, instance_id, kind, service_id, plan_id,
                 cloud_provider, region, deployment_cell, environment_type, status, steps,
                 on_failure, target_status, upgrade_path_id, target_version, updated_by,
                 started_at, updated_at, version)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'in_progress', $11, $12, $13,
                 $14, $15, $16, $17, $17, $18)
             ON CONFLICT (tenant, id) DO NOTHING",
        )
        .bind(tenant)
        .bind(id)
        .bind(&plan.instance_id)
        .bind(&plan.kind)
        .bind(&plan.service_id)
        .bind(&plan.plan_id)
        .bind(&plan.cloud_provider)
        .bind(&plan.region)
        .bind(&plan.deployment_cell)
        .bind(&plan.environment_type)
        .bind(Value::Array(steps))
        .bind(&plan.on_failure)
        .bind(&plan.target_status)
        .bind(&plan.upgrade_path_id)
        .bind(&plan.target_version)
        .bind(&event.event.actor.id)
        .bind(at)
        .bind(version)
        .execute(&mut *tx)
        .await?;
        return Ok(());
    }
    let row: Option<(Value, i32, i64)> = sqlx::query_as(
        "SELECT steps, current_step, version FROM workflows WHERE tenant = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((mut steps, mut current, seen)) = row else {
        return expect_row(Default::default(), event);
    };
    if seen >= version {
        return Ok(());
    }
    let total = steps.as_array().map_or(0, Vec::len) as i32;
    let mut set_step = |index: i32, status: &str, message: Option<&str>, started: bool| {
        if let Some(s) = steps.get_mut(index as usize) {
            s["status"] = json!(status);
            if let Some(m) = message {
                s["message"] = json!(m);
            }
            if started {
                s["started_at"] = json!(at);
            } else {
                s["ended_at"] = json!(at);
            }
        }
    };
    let (mut status, mut ended, mut reason, mut by) = (None, false, None, None);
    match &decoded {
        WorkflowEvent::WorkflowStarted { .. } => unreachable!("handled above"),
        WorkflowEvent::WorkflowStepCompleted {
            message, completed, ..
        } => {
            if *completed {
                for i in current..total {
                    set_step(i, "completed", message.as_deref(), false);
                }
                current = total;
                status = Some("completed");
                ended = true;
            } else {
                set_step(current, "completed", message.as_deref(), false);
                current += 1;
                set_step(current, "in_progress", None, true);
            }
        }
        WorkflowEvent::WorkflowStepFailed { reason: why, .. } => {
            set_step(current, "failed", Some(why), false);
            status = Some("failed");
            reason = Some(why.clone());
            ended = true;
        }
        WorkflowEvent::WorkflowPaused {} => status = Some("paused"),
        WorkflowEvent::WorkflowResumed {} => status = Some("in_progress"),
        WorkflowEvent::WorkflowRetried { .. } => {
            set_step(current, "in_progress", None, true);
            status = Some("in_progress");
        }
        WorkflowEvent::WorkflowTerminated {
            reason: why,
            by: who,
        } => {
            status = Some("terminated");
            reason = Some(why.clone());
            by = Some(who.clone());
            ended = true;
        }
    }
    let actor = by.unwrap_or_else(|| event.event.actor.id.clone());
    let result = sqlx::query(
        "UPDATE workflows SET steps = $3, current_step = $4, status = coalesce($5, status),
             failure_reason = CASE WHEN $5 = 'failed' THEN $6 ELSE failure_reason END,
             updated_reason = coalesce($6, updated_reason), updated_by = $7,
             ended_at = CASE WHEN $8 THEN $9 WHEN $5 = 'in_progress' THEN NULL ELSE ended_at END,
             updated_at = $9, version = $10
         WHERE tenant = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .bind(steps)
    .bind(current)
    .bind(status)
    .bind(reason)
    .bind(actor)
    .bind(ended)
    .bind(at)
    .bind(version)
    .execute(&mut *tx)
    .await?;
    expect_row(result, event)
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct WorkflowRow {
    pub id: Uuid,
    pub instance_id: String,
    pub kind: String,
    pub service_id: String,
    pub plan_id: String,
    pub cloud_provider: String,
    pub region: String,
    pub deployment_cell: String,
    pub environment_type: String,
    pub status: String,
    pub steps: Value,
    pub on_failure: String,
    pub target_status: String,
    pub upgrade_path_id: Option<String>,
    pub target_version: Option<String>,
    pub failure_reason: Option<String>,
    pub updated_by: Option<String>,
    pub updated_reason: Option<String>,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

const SELECT: &str = "SELECT id, instance_id, kind, service_id, plan_id, cloud_provider, region,
    deployment_cell, environment_type, status, steps, on_failure, target_status,
    upgrade_path_id, target_version, failure_reason, updated_by, updated_reason, started_at,
    ended_at, updated_at FROM inventory.workflows";

pub async fn get(
    pool: &PgPool,
    tenant: &str,
    id: Uuid,
) -> Result<Option<WorkflowRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE tenant = $1 AND id = $2"))
        .bind(tenant)
        .bind(id)
        .fetch_optional(pool)
        .await
}

#[derive(Debug, Clone, Default)]
pub struct WorkflowFilter {
    pub service_id: Option<String>,
    pub instance_id: Option<String>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

/// Newest first; `after` is the last (started_at, id) of the previous page.
pub async fn list(
    pool: &PgPool,
    tenant: &str,
    filter: &WorkflowFilter,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<WorkflowRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE tenant = $1
           AND ($2::text IS NULL OR service_id = $2)
           AND ($3::text IS NULL OR instance_id = $3)
           AND ($4::timestamptz IS NULL OR started_at >= $4)
           AND ($5::timestamptz IS NULL OR started_at < $5)
           AND ($6::timestamptz IS NULL OR (started_at, id) < ($6, $7))
         ORDER BY started_at DESC, id DESC LIMIT $8"
    ))
    .bind(tenant)
    .bind(&filter.service_id)
    .bind(&filter.instance_id)
    .bind(filter.start)
    .bind(filter.end)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The service's workflows of the last 24 hours: (active, completed, failed).
pub async fn summary(
    pool: &PgPool,
    tenant: &str,
    service_id: &str,
) -> Result<(i64, i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status IN ('in_progress', 'paused')),
                count(*) FILTER (WHERE status = 'completed'),
                count(*) FILTER (WHERE status = 'failed')
           FROM inventory.workflows
          WHERE tenant = $1 AND service_id = $2 AND updated_at > now() - interval '24 hours'",
    )
    .bind(tenant)
    .bind(service_id)
    .fetch_one(pool)
    .await
}
