//! Services orchestrations in the inventory: their deployments and how each settled.

use chrono::{DateTime, Utc};
use fleet_domain::orchestration::OrchestrationEvent;
use fleet_events::EventEnvelope;
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::ApplyError;

pub(super) const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS orchestrations (
    tenant           text NOT NULL,
    id               uuid NOT NULL,
    environment_type text NOT NULL,
    deployments      jsonb NOT NULL,
    -- {alias: {deployed, reason}}
    settled          jsonb NOT NULL DEFAULT '{}',
    deleted          boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    version          bigint NOT NULL,
    PRIMARY KEY (tenant, id)
);
"#;

pub(super) async fn apply(tx: &mut PgConnection, event: &EventEnvelope) -> Result<(), ApplyError> {
    let tenant = event.event.tenant.as_str();
    let id = crate::uuid_of(event)?;
    let (at, version) = (event.event.occurred_at, event.sequence as i64);
    let set = match event.decode::<OrchestrationEvent>()? {
        OrchestrationEvent::OrchestrationCreated {
            environment_type,
            deployments,
        } => {
            sqlx::query(
                "INSERT INTO orchestrations (tenant, id, environment_type, deployments,
                     created_at, updated_at, version)
                 VALUES ($1, $2, $3, $4, $5, $5, $6) ON CONFLICT (tenant, id) DO NOTHING",
            )
            .bind(tenant)
            .bind(id)
            .bind(environment_type)
            .bind(serde_json::to_value(deployments).unwrap_or_default())
            .bind(at)
            .bind(version)
            .execute(&mut *tx)
            .await?;
            return Ok(());
        }
        OrchestrationEvent::OrchestrationModified { added } => (
            "deployments = deployments || $3",
            serde_json::to_value(added).unwrap_or_default(),
        ),
        OrchestrationEvent::OrchestrationDeploymentSettled {
            alias,
            deployed,
            reason,
        } => (
            "settled = settled || $3",
            json!({ alias: {"deployed": deployed, "reason": reason} }),
        ),
        // Every change binds a JSON value: an empty one merged is no change.
        OrchestrationEvent::OrchestrationDeleted {} => {
            ("deleted = true, settled = settled || $3", json!({}))
        }
    };
    let result = sqlx::query(&format!(
        "UPDATE orchestrations SET {}, updated_at = $4, version = $5
         WHERE tenant = $1 AND id = $2 AND version < $5",
        set.0
    ))
    .bind(tenant)
    .bind(id)
    .bind(set.1)
    .bind(at)
    .bind(version)
    .execute(&mut *tx)
    .await?;
    crate::changed_or_seen(tx, "orchestrations", tenant, id, result, event).await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct OrchestrationRow {
    pub id: Uuid,
    pub environment_type: String,
    pub deployments: Value,
    pub settled: Value,
    pub deleted: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const SELECT: &str = "SELECT id, environment_type, deployments, settled, deleted, created_at,
    updated_at FROM inventory.orchestrations";

pub async fn get(
    pool: &PgPool,
    tenant: &str,
    id: Uuid,
) -> Result<Option<OrchestrationRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE tenant = $1 AND id = $2"))
        .bind(tenant)
        .bind(id)
        .fetch_optional(pool)
        .await
}

pub async fn list(
    pool: &PgPool,
    tenant: &str,
    environment_type: &str,
) -> Result<Vec<OrchestrationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE tenant = $1 AND environment_type = $2 AND NOT deleted
         ORDER BY created_at, id LIMIT 1000"
    ))
    .bind(tenant)
    .bind(environment_type)
    .fetch_all(pool)
    .await
}
