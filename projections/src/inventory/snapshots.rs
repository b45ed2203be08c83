//! Snapshots in the inventory, deleted ones kept (a deleted snapshot is still named by the
//! instances restored from it).

use chrono::{DateTime, Utc};
use fleet_domain::snapshot::SnapshotEvent;
use fleet_events::EventEnvelope;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::expect_row;
use crate::uuid_of;
use crate::ApplyError;

pub(super) const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS snapshots (
    id                 uuid PRIMARY KEY,
    tenant             text NOT NULL,
    source_instance_id text NOT NULL,
    service_id         text NOT NULL,
    plan_id            text NOT NULL,
    kind               text NOT NULL,
    region             text NOT NULL,
    copied_from        text,
    status             text NOT NULL,
    failure_reason     text,
    created_at         timestamptz NOT NULL,
    completed_at       timestamptz,
    updated_at         timestamptz NOT NULL,
    version            bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS snapshots_by_instance
    ON snapshots (tenant, source_instance_id, completed_at);
"#;

pub(super) async fn apply(tx: &mut PgConnection, event: &EventEnvelope) -> Result<(), ApplyError> {
    let id = uuid_of(event)?;
    let (at, version) = (event.event.occurred_at, event.sequence as i64);
    let change = |status: &'static str, reason: Option<String>| {
        sqlx::query(
            "UPDATE snapshots SET status = $2, failure_reason = COALESCE($3, failure_reason),
                 completed_at = CASE WHEN $2 = 'completed' THEN $4 ELSE completed_at END,
                 updated_at = $4, version = $5
             WHERE id = $1",
        )
        .bind(id)
        .bind(status)
        .bind(reason)
        .bind(at)
        .bind(version)
    };
    let result = match event.decode::<SnapshotEvent>()? {
        SnapshotEvent::SnapshotRequested {
            source_instance_id,
            source,
            kind,
            region,
            copied_from,
            ..
        } => {
            sqlx::query(
                "INSERT INTO snapshots (id, tenant, source_instance_id, service_id, plan_id, kind,
                     region, copied_from, status, created_at, updated_at, version)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'creating', $9, $9, $10)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(&event.event.tenant)
            .bind(source_instance_id)
            .bind(source.service_id)
            .bind(source.plan_id)
            .bind(kind)
            .bind(region)
            .bind(copied_from)
            .bind(at)
            .bind(version)
            .execute(&mut *tx)
            .await?;
            return Ok(());
        }
        SnapshotEvent::SnapshotCompleted {} => change("completed", None).execute(&mut *tx).await?,
        SnapshotEvent::SnapshotFailed { reason } => {
            change("failed", Some(reason)).execute(&mut *tx).await?
        }
        SnapshotEvent::SnapshotDeleted { .. } => change("deleted", None).execute(&mut *tx).await?,
    };
    expect_row(result, event)
}

// ---- queries ----

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct SnapshotRow {
    pub id: Uuid,
    pub source_instance_id: String,
    pub service_id: String,
    pub plan_id: String,
    /// `manual` or `automated`.
    pub kind: String,
    pub region: String,
    pub copied_from: Option<String>,
    /// creating, completed, failed or deleted.
    pub status: String,
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

const COLUMNS: &str = "id, source_instance_id, service_id, plan_id, kind, region, copied_from, \
    status, failure_reason, created_at, completed_at, updated_at, version";

pub async fn get(
    pool: &PgPool,
    tenant: &str,
    id: Uuid,
) -> Result<Option<SnapshotRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM inventory.snapshots WHERE tenant = $1 AND id = $2"
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// The instance's snapshots that are not deleted, oldest first.
pub async fn of_instance(
    pool: &PgPool,
    tenant: &str,
    instance_id: &str,
) -> Result<Vec<SnapshotRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM inventory.snapshots
         WHERE tenant = $1 AND source_instance_id = $2 AND status <> 'deleted'
         ORDER BY id"
    ))
    .bind(tenant)
    .bind(instance_id)
    .fetch_all(pool)
    .await
}

/// The snapshot that serves a restore of the instance to `at`: its latest completed at or
/// before then.
pub async fn serving(
    pool: &PgPool,
    tenant: &str,
    instance_id: &str,
    at: DateTime<Utc>,
) -> Result<Option<SnapshotRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM inventory.snapshots
         WHERE tenant = $1 AND source_instance_id = $2 AND status = 'completed'
           AND completed_at <= $3
         ORDER BY completed_at DESC, id DESC LIMIT 1"
    ))
    .bind(tenant)
    .bind(instance_id)
    .bind(at)
    .fetch_optional(pool)
    .await
}
