//! Component usage per resource and billing period, as last reported (a report replaces the
//! period's amount; the usage stream carries the difference).

use chrono::{DateTime, NaiveDate, Utc};
use fleet_events::resource::ComponentUsage;
use fleet_events::EventEnvelope;
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::ApplyError;

pub(super) const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS component_usages (
    id           uuid NOT NULL,
    tenant       text NOT NULL,
    resource_id  uuid NOT NULL,
    component    text NOT NULL,
    period       date NOT NULL,
    usage        numeric NOT NULL,
    description  text NOT NULL,
    recurring    boolean NOT NULL,
    occurred_at  timestamptz NOT NULL,
    created_at   timestamptz NOT NULL,
    modified_at  timestamptz NOT NULL,
    modified_by  text NOT NULL,
    PRIMARY KEY (tenant, resource_id, period, component)
);
CREATE UNIQUE INDEX IF NOT EXISTS component_usages_by_id ON component_usages (id);
"#;

/// The id of a (resource, period, component) usage: the same for every report of it.
pub fn usage_id(resource_id: Uuid, period: NaiveDate, component: &str) -> Uuid {
    Uuid::new_v5(
        &resource_id,
        format!("component-usage:{period}:{component}").as_bytes(),
    )
}

pub(super) async fn apply_report(
    tx: &mut PgConnection,
    event: &EventEnvelope,
    resource_id: Uuid,
    period: NaiveDate,
    occurred_at: DateTime<Utc>,
    usages: &[ComponentUsage],
) -> Result<(), ApplyError> {
    for usage in usages {
        sqlx::query(
            "INSERT INTO component_usages (id, tenant, resource_id, component, period, usage,
                 description, recurring, occurred_at, created_at, modified_at, modified_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11)
             ON CONFLICT (tenant, resource_id, period, component) DO UPDATE SET
                 usage = EXCLUDED.usage, description = EXCLUDED.description,
                 recurring = EXCLUDED.recurring, occurred_at = EXCLUDED.occurred_at,
                 modified_at = EXCLUDED.modified_at, modified_by = EXCLUDED.modified_by",
        )
        .bind(usage_id(resource_id, period, &usage.component))
        .bind(&event.event.tenant)
        .bind(resource_id)
        .bind(&usage.component)
        .bind(period)
        .bind(usage.amount)
        .bind(&usage.description)
        .bind(usage.recurring)
        .bind(occurred_at)
        .bind(event.event.occurred_at)
        .bind(&event.event.actor.id)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct UsageView {
    pub id: Uuid,
    pub resource_id: Uuid,
    pub resource_name: String,
    pub offering_id: Uuid,
    pub offering_name: String,
    pub project_id: Uuid,
    pub project_name: String,
    pub customer_id: String,
    pub customer_name: String,
    pub component: String,
    pub component_name: String,
    pub measured_unit: String,
    pub period: NaiveDate,
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    pub usage: Decimal,
    pub description: String,
    pub recurring: bool,
    pub occurred_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub modified_by: String,
}

#[derive(Debug, Default, Clone)]
pub struct UsageFilter {
    pub id: Option<Uuid>,
    pub resource_id: Option<Uuid>,
    pub offering_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub customer_id: Option<String>,
    pub component: Option<String>,
    pub period: Option<NaiveDate>,
    pub date_from: Option<DateTime<Utc>>,
    pub date_before: Option<DateTime<Utc>>,
}

fn push_filter(q: &mut QueryBuilder<'_, Postgres>, tenant: &str, f: &UsageFilter) {
    q.push(" WHERE u.tenant = ")
        .push_bind(tenant.to_owned())
        .push(" AND NOT r.unlinked");
    if let Some(id) = f.id {
        q.push(" AND u.id = ").push_bind(id);
    }
    if let Some(id) = f.resource_id {
        q.push(" AND u.resource_id = ").push_bind(id);
    }
    if let Some(id) = f.offering_id {
        q.push(" AND r.offering_id = ").push_bind(id);
    }
    if let Some(id) = f.project_id {
        q.push(" AND r.project_id = ").push_bind(id);
    }
    if let Some(id) = &f.customer_id {
        q.push(" AND r.customer_id = ").push_bind(id.clone());
    }
    if let Some(component) = &f.component {
        q.push(" AND u.component = ").push_bind(component.clone());
    }
    if let Some(period) = f.period {
        q.push(" AND u.period = ").push_bind(period);
    }
    if let Some(at) = f.date_from {
        q.push(" AND u.occurred_at >= ").push_bind(at);
    }
    if let Some(at) = f.date_before {
        q.push(" AND u.occurred_at < ").push_bind(at);
    }
}

const FROM: &str = " FROM marketplace.component_usages u
    JOIN marketplace.resources r ON r.id = u.resource_id
    JOIN marketplace.offerings f ON f.id = r.offering_id
    JOIN marketplace.projects p ON p.id = r.project_id
    LEFT JOIN inventory.customers c ON c.id::text = r.customer_id";

/// How many component usages match.
pub async fn count_usages(
    pool: &PgPool,
    tenant: &str,
    filter: &UsageFilter,
) -> Result<i64, sqlx::Error> {
    let mut q = QueryBuilder::new(format!("SELECT count(*){FROM}"));
    push_filter(&mut q, tenant, filter);
    q.build_query_scalar().fetch_one(pool).await
}

/// One page of component usages, newest period first.
pub async fn list_usages(
    pool: &PgPool,
    tenant: &str,
    filter: &UsageFilter,
    offset: i64,
    limit: i64,
) -> Result<Vec<UsageView>, sqlx::Error> {
    let mut q = QueryBuilder::new(format!(
        "SELECT u.id, u.resource_id, r.name AS resource_name, r.offering_id,
             f.name AS offering_name, r.project_id, p.name AS project_name, r.customer_id,
             coalesce(c.name, '') AS customer_name, u.component,
             coalesce((SELECT x->>'name' FROM jsonb_array_elements(f.components) x
                       WHERE x->>'type' = u.component), u.component) AS component_name,
             coalesce((SELECT x->>'measured_unit' FROM jsonb_array_elements(f.components) x
                       WHERE x->>'type' = u.component), '') AS measured_unit,
             u.period, u.usage, u.description, u.recurring, u.occurred_at, u.created_at,
             u.modified_by{FROM}"
    ));
    push_filter(&mut q, tenant, filter);
    q.push(" ORDER BY u.period DESC, u.resource_id, u.component");
    q.push(" LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    q.build_query_as().fetch_all(pool).await
}
