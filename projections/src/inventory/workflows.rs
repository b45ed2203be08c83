//! Workflows in the inventory: each instance operation's run, with its steps as they stand.

use chrono::{DateTime, Utc};
use fleet_domain::workflow::{WorkflowEvent, WorkflowPlan};
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

/// Applies a batch of workflow events: the starts (one per instance command, the bulk) in one
/// set-based insert, then the rest in order.
pub(super) async fn apply_all(
    tx: &mut PgConnection,
    events: &[&EventEnvelope],
) -> Result<(), ApplyError> {
    let mut starts = Starts::default();
    let mut rest = Vec::new();
    for event in events {
        match event.decode::<WorkflowEvent>()? {
            WorkflowEvent::WorkflowStarted { plan } => starts.push(event, plan)?,
            decoded => rest.push((*event, decoded)),
        }
    }
    starts.insert(tx).await?;
    for (event, decoded) in rest {
        apply(tx, event, decoded).await?;
    }
    Ok(())
}

/// The columns of the workflows a batch starts.
#[derive(Default)]
struct Starts {
    tenant: Vec<String>,
    id: Vec<uuid::Uuid>,
    instance_id: Vec<String>,
    kind: Vec<String>,
    service_id: Vec<String>,
    plan_id: Vec<String>,
    cloud_provider: Vec<String>,
    region: Vec<String>,
    deployment_cell: Vec<String>,
    environment_type: Vec<String>,
    steps: Vec<Value>,
    on_failure: Vec<String>,
    target_status: Vec<String>,
    upgrade_path_id: Vec<Option<String>>,
    target_version: Vec<Option<String>>,
    started_by: Vec<String>,
    at: Vec<DateTime<Utc>>,
    version: Vec<i64>,
}

impl Starts {
    fn push(&mut self, event: &EventEnvelope, plan: WorkflowPlan) -> Result<(), ApplyError> {
        let at = event.event.occurred_at;
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
        self.tenant.push(event.event.tenant.clone());
        self.id.push(crate::uuid_of(event)?);
        self.instance_id.push(plan.instance_id);
        self.kind.push(plan.kind);
        self.service_id.push(plan.service_id);
        self.plan_id.push(plan.plan_id);
        self.cloud_provider.push(plan.cloud_provider);
        self.region.push(plan.region);
        self.deployment_cell.push(plan.deployment_cell);
        self.environment_type.push(plan.environment_type);
        self.steps.push(Value::Array(steps));
        self.on_failure.push(plan.on_failure);
        self.target_status.push(plan.target_status);
        self.upgrade_path_id.push(plan.upgrade_path_id);
        self.target_version.push(plan.target_version);
        self.started_by.push(event.event.actor.id.clone());
        self.at.push(at);
        self.version.push(event.sequence as i64);
        Ok(())
    }

    async fn insert(self, tx: &mut PgConnection) -> Result<(), sqlx::Error> {
        if self.id.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO workflows (tenant, id, instance_id, kind, service_id, plan_id,
                 cloud_provider, region, deployment_cell, environment_type, status, steps,
                 on_failure, target_status, upgrade_path_id, target_version, updated_by,
                 started_at, updated_at, version)
             SELECT t, i, inst, k, s, p, c, r, d, e, 'in_progress', st, f, ts, u, tv, b, a, a, v
               FROM UNNEST($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[],
                    $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::jsonb[],
                    $12::text[], $13::text[], $14::text[], $15::text[], $16::text[],
                    $17::timestamptz[], $18::int8[])
                 AS x(t, i, inst, k, s, p, c, r, d, e, st, f, ts, u, tv, b, a, v)
             ON CONFLICT (tenant, id) DO NOTHING",
        )
        .bind(self.tenant)
        .bind(self.id)
        .bind(self.instance_id)
        .bind(self.kind)
        .bind(self.service_id)
        .bind(self.plan_id)
        .bind(self.cloud_provider)
        .bind(self.region)
        .bind(self.deployment_cell)
        .bind(self.environment_type)
        .bind(self.steps)
        .bind(self.on_failure)
        .bind(self.target_status)
        .bind(self.upgrade_path_id)
        .bind(self.target_version)
        .bind(self.started_by)
        .bind(self.at)
        .bind(self.version)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

/// Applies one event that changes a started workflow.
async fn apply(
    tx: &mut PgConnection,
    event: &EventEnvelope,
    decoded: WorkflowEvent,
) -> Result<(), ApplyError> {
    let tenant = &event.event.tenant;
    let id = crate::uuid_of(event)?;
    let (at, version) = (event.event.occurred_at, event.sequence as i64);
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
        // Applied set-based by `apply_all`.
        WorkflowEvent::WorkflowStarted { .. } => return Ok(()),
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

/// Why each of these workflows failed, for those that did.
pub async fn failures(
    pool: &PgPool,
    tenant: &str,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, String>, sqlx::Error> {
    let rows: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT id, failure_reason FROM inventory.workflows
          WHERE tenant = $1 AND id = ANY($2) AND failure_reason IS NOT NULL",
    )
    .bind(tenant)
    .bind(ids)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().collect())
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
