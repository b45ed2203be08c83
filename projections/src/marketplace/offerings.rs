//! Offerings with their plans and components.

use chrono::{DateTime, Utc};
use fleet_events::offering::{OfferingComponent, OfferingEvent, OfferingPlan};
use fleet_events::EventEnvelope;
use serde::Serialize;
use sqlx::types::Json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::{uuid_of, ApplyError};

pub(super) const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS offerings (
    id               uuid PRIMARY KEY,
    tenant           text NOT NULL,
    name             text NOT NULL,
    slug             text NOT NULL,
    description      text NOT NULL,
    offering_type    text NOT NULL,
    shared           boolean NOT NULL,
    billable         boolean NOT NULL,
    consumer_review  boolean NOT NULL,
    options_by_order boolean NOT NULL,
    components       jsonb NOT NULL,
    plans            jsonb NOT NULL,
    plugin_options   jsonb NOT NULL,
    created_at       timestamptz NOT NULL,
    version          bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS offerings_by_tenant ON offerings (tenant, created_at, id);
"#;

pub(super) async fn apply(
    tx: &mut sqlx::PgConnection,
    event: &EventEnvelope,
) -> Result<(), ApplyError> {
    let id = uuid_of(event)?;
    let OfferingEvent::OfferingCreated {
        name,
        slug,
        description,
        offering_type,
        shared,
        billable,
        consumer_review,
        options_by_order,
        components,
        plans,
        plugin_options,
    } = event.decode::<OfferingEvent>()?;
    sqlx::query(
        "INSERT INTO offerings (id, tenant, name, slug, description, offering_type, shared,
             billable, consumer_review, options_by_order, components, plans, plugin_options,
             created_at, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(&event.event.tenant)
    .bind(name)
    .bind(slug)
    .bind(description)
    .bind(offering_type)
    .bind(shared)
    .bind(billable)
    .bind(consumer_review)
    .bind(options_by_order)
    .bind(Json(components))
    .bind(Json(plans))
    .bind(Json(plugin_options))
    .bind(event.event.occurred_at)
    .bind(event.sequence as i64)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct OfferingRow {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub offering_type: String,
    pub shared: bool,
    pub billable: bool,
    pub consumer_review: bool,
    pub options_by_order: bool,
    #[schemars(with = "Vec<OfferingComponent>")]
    pub components: Json<Vec<OfferingComponent>>,
    #[schemars(with = "Vec<OfferingPlan>")]
    pub plans: Json<Vec<OfferingPlan>>,
    #[schemars(with = "serde_json::Value")]
    pub plugin_options: Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub version: i64,
}

const COLUMNS: &str = "id, name, slug, description, offering_type, shared, billable, \
    consumer_review, options_by_order, components, plans, plugin_options, created_at, version";

pub async fn get(
    pool: &PgPool,
    tenant: &str,
    id: Uuid,
) -> Result<Option<OfferingRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM marketplace.offerings WHERE tenant = $1 AND id = $2"
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional(pool)
    .await
}

pub async fn list(pool: &PgPool, tenant: &str) -> Result<Vec<OfferingRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM marketplace.offerings WHERE tenant = $1 ORDER BY created_at, id"
    ))
    .bind(tenant)
    .fetch_all(pool)
    .await
}
