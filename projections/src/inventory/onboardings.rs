//! Customer onboardings in the inventory, with their stages.

use chrono::{DateTime, Utc};
use fleet_domain::onboarding::OnboardingEvent;
use fleet_events::EventEnvelope;
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::ApplyError;

pub(super) const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS onboardings (
    tenant          text NOT NULL,
    id              uuid NOT NULL,
    name            text NOT NULL,
    onboarding_type text NOT NULL,
    -- [{name, status}]
    stages          jsonb NOT NULL,
    completed       boolean NOT NULL DEFAULT false,
    service_id      text,
    created_by      text NOT NULL,
    deleted         boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    version         bigint NOT NULL,
    PRIMARY KEY (tenant, id)
);
"#;

pub(super) async fn apply(tx: &mut PgConnection, event: &EventEnvelope) -> Result<(), ApplyError> {
    let tenant = event.event.tenant.as_str();
    let id = crate::uuid_of(event)?;
    let (at, version) = (event.event.occurred_at, event.sequence as i64);
    let result = match event.decode::<OnboardingEvent>()? {
        OnboardingEvent::OnboardingCreated {
            name,
            onboarding_type,
            stages,
        } => {
            let stages: Vec<Value> = stages
                .iter()
                .map(|s| json!({"name": s, "status": "NOT_STARTED"}))
                .collect();
            sqlx::query(
                "INSERT INTO onboardings (tenant, id, name, onboarding_type, stages, created_by,
                     created_at, updated_at, version)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) ON CONFLICT (tenant, id) DO NOTHING",
            )
            .bind(tenant)
            .bind(id)
            .bind(name)
            .bind(onboarding_type)
            .bind(Value::Array(stages))
            .bind(&event.event.actor.id)
            .bind(at)
            .bind(version)
            .execute(&mut *tx)
            .await?;
            return Ok(());
        }
        OnboardingEvent::OnboardingStageSet {
            stage,
            status,
            completed,
        } => {
            sqlx::query(
                "UPDATE onboardings SET completed = $5,
                     stages = (SELECT jsonb_agg(CASE WHEN s->>'name' = $3
                                   THEN jsonb_set(s, '{status}', to_jsonb($4::text)) ELSE s END
                                   ORDER BY n)
                                 FROM jsonb_array_elements(stages) WITH ORDINALITY AS t(s, n)),
                     updated_at = $6, version = $7
                 WHERE tenant = $1 AND id = $2 AND version < $7",
            )
            .bind(tenant)
            .bind(id)
            .bind(stage)
            .bind(status)
            .bind(completed)
            .bind(at)
            .bind(version)
            .execute(&mut *tx)
            .await?
        }
        OnboardingEvent::OnboardingServiceLinked { service_id } => {
            sqlx::query(
                "UPDATE onboardings SET service_id = $3, updated_at = $4, version = $5
                 WHERE tenant = $1 AND id = $2 AND version < $5",
            )
            .bind(tenant)
            .bind(id)
            .bind(service_id)
            .bind(at)
            .bind(version)
            .execute(&mut *tx)
            .await?
        }
        OnboardingEvent::OnboardingDeleted {} => {
            sqlx::query(
                "UPDATE onboardings SET deleted = true, updated_at = $3, version = $4
                 WHERE tenant = $1 AND id = $2 AND version < $4",
            )
            .bind(tenant)
            .bind(id)
            .bind(at)
            .bind(version)
            .execute(&mut *tx)
            .await?
        }
    };
    crate::changed_or_seen(tx, "onboardings", tenant, id, result, event).await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct OnboardingRow {
    pub id: Uuid,
    pub name: String,
    pub onboarding_type: String,
    pub stages: Value,
    pub completed: bool,
    pub service_id: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const SELECT: &str = "SELECT id, name, onboarding_type, stages, completed, service_id, created_by,
    created_at, updated_at FROM inventory.onboardings";

pub async fn get(
    pool: &PgPool,
    tenant: &str,
    id: Uuid,
) -> Result<Option<OnboardingRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE tenant = $1 AND id = $2 AND NOT deleted"
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional(pool)
    .await
}

pub async fn list(
    pool: &PgPool,
    tenant: &str,
    pending_only: bool,
) -> Result<Vec<OnboardingRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE tenant = $1 AND NOT deleted AND (NOT $2 OR NOT completed)
         ORDER BY created_at, id LIMIT 1000"
    ))
    .bind(tenant)
    .bind(pending_only)
    .fetch_all(pool)
    .await
}
