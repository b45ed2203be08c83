//! Projects of customer organisations.

use chrono::{DateTime, NaiveDate, Utc};
use fleet_events::project::ProjectEvent;
use fleet_events::EventEnvelope;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{uuid_of, ApplyError};

pub(super) const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS projects (
    id          uuid PRIMARY KEY,
    tenant      text NOT NULL,
    customer_id text NOT NULL,
    name        text NOT NULL,
    description text NOT NULL,
    slug        text NOT NULL,
    end_date    date,
    created_at  timestamptz NOT NULL,
    version     bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS projects_by_customer ON projects (tenant, customer_id, id);
"#;

pub(super) async fn apply(
    tx: &mut sqlx::PgConnection,
    event: &EventEnvelope,
) -> Result<(), ApplyError> {
    let id = uuid_of(event)?;
    let ProjectEvent::ProjectCreated {
        customer_id,
        name,
        description,
        slug,
        end_date,
    } = event.decode::<ProjectEvent>()?;
    sqlx::query(
        "INSERT INTO projects (id, tenant, customer_id, name, description, slug, end_date,
             created_at, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(&event.event.tenant)
    .bind(customer_id)
    .bind(name)
    .bind(description)
    .bind(slug)
    .bind(end_date)
    .bind(event.event.occurred_at)
    .bind(event.sequence as i64)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct ProjectRow {
    pub id: Uuid,
    pub customer_id: String,
    pub name: String,
    pub description: String,
    pub slug: String,
    pub end_date: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
    pub version: i64,
}

const COLUMNS: &str = "id, customer_id, name, description, slug, end_date, created_at, version";

pub async fn get(pool: &PgPool, tenant: &str, id: Uuid) -> Result<Option<ProjectRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM marketplace.projects WHERE tenant = $1 AND id = $2"
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional(pool)
    .await
}

pub async fn list(
    pool: &PgPool,
    tenant: &str,
    customer_id: Option<&str>,
) -> Result<Vec<ProjectRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM marketplace.projects
         WHERE tenant = $1 AND ($2::text IS NULL OR customer_id = $2)
         ORDER BY created_at, id"
    ))
    .bind(tenant)
    .bind(customer_id)
    .fetch_all(pool)
    .await
}
