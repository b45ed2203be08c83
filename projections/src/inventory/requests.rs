//! Subscription requests in the inventory.

use chrono::{DateTime, Utc};
use fleet_domain::subscription_request::SubscriptionRequestEvent;
use fleet_events::EventEnvelope;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::expect_row;
use crate::uuid_of;
use crate::ApplyError;

pub(super) const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS subscription_requests (
    id                   uuid PRIMARY KEY,
    tenant               text NOT NULL,
    customer_id          text NOT NULL,
    service_id           text NOT NULL,
    plan_id              text NOT NULL,
    requested_by_user_id text,
    status               text NOT NULL,
    subscription_id      text,
    deny_reason          text,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    version              bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_by_status ON subscription_requests (tenant, status, id);
"#;

pub(super) async fn apply(tx: &mut PgConnection, event: &EventEnvelope) -> Result<(), ApplyError> {
    use SubscriptionRequestEvent as E;
    let id = uuid_of(event)?;
    let (at, version) = (event.event.occurred_at, event.sequence as i64);
    let (status, subscription_id, reason) = match event.decode::<SubscriptionRequestEvent>()? {
        E::SubscriptionRequestCreated {
            customer_id,
            service_id,
            plan_id,
            requested_by_user_id,
        } => {
            sqlx::query(
                "INSERT INTO subscription_requests (id, tenant, customer_id, service_id, plan_id,
                     requested_by_user_id, status, created_at, updated_at, version)
                 VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7, $8) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(&event.event.tenant)
            .bind(customer_id)
            .bind(service_id)
            .bind(plan_id)
            .bind(requested_by_user_id)
            .bind(at)
            .bind(version)
            .execute(&mut *tx)
            .await?;
            return Ok(());
        }
        E::SubscriptionRequestApproved {
            subscription_id, ..
        } => ("approved", Some(subscription_id), None),
        E::SubscriptionRequestDenied { reason } => ("denied", None, Some(reason)),
        E::SubscriptionRequestCancelled {} => ("cancelled", None, None),
    };
    let result = sqlx::query(
        "UPDATE subscription_requests SET status = $2, subscription_id = COALESCE($3, subscription_id),
             deny_reason = $4, updated_at = $5, version = $6
         WHERE id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(subscription_id)
    .bind(reason)
    .bind(at)
    .bind(version)
    .execute(&mut *tx)
    .await?;
    expect_row(result, event)
}

// ---- queries ----

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct RequestRow {
    pub id: Uuid,
    pub customer_id: String,
    pub service_id: String,
    pub plan_id: String,
    pub requested_by_user_id: Option<String>,
    pub status: String,
    pub subscription_id: Option<String>,
    pub deny_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

const COLUMNS: &str = "id, customer_id, service_id, plan_id, requested_by_user_id, status, \
    subscription_id, deny_reason, created_at, updated_at, version";

pub async fn get(pool: &PgPool, tenant: &str, id: Uuid) -> Result<Option<RequestRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM inventory.subscription_requests WHERE tenant = $1 AND id = $2"
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional(pool)
    .await
}

pub async fn list(
    pool: &PgPool,
    tenant: &str,
    status: Option<&str>,
    customer_id: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<RequestRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM inventory.subscription_requests
         WHERE tenant = $1 AND ($2::text IS NULL OR status = $2)
           AND ($3::text IS NULL OR customer_id = $3)
           AND ($4::uuid IS NULL OR id > $4)
         ORDER BY id LIMIT $5"
    ))
    .bind(tenant)
    .bind(status)
    .bind(customer_id)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}
