//! Users of customers in the inventory.

use chrono::{DateTime, Utc};
use fleet_domain::user::UserEvent;
use fleet_events::EventEnvelope;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::expect_row;
use crate::uuid_of;
use crate::ApplyError;

pub(super) const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS users (
    id                uuid PRIMARY KEY,
    tenant            text NOT NULL,
    customer_id       text NOT NULL,
    email             text NOT NULL,
    name              text NOT NULL,
    role              text NOT NULL,
    status            text NOT NULL,
    suspension_reason text,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    deleted_at        timestamptz,
    version           bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS users_by_customer ON users (tenant, customer_id, id);
CREATE INDEX IF NOT EXISTS users_by_email ON users (tenant, email);
"#;

pub(super) async fn apply(tx: &mut PgConnection, event: &EventEnvelope) -> Result<(), ApplyError> {
    let id = uuid_of(event)?;
    let (at, version) = (event.event.occurred_at, event.sequence as i64);
    let change = |status: &'static str, reason: Option<String>| {
        sqlx::query(
            "UPDATE users SET status = $2, suspension_reason = $3, updated_at = $4, version = $5,
                 deleted_at = CASE WHEN $2 = 'deleted' THEN $4 ELSE deleted_at END
             WHERE id = $1",
        )
        .bind(id)
        .bind(status)
        .bind(reason)
        .bind(at)
        .bind(version)
    };
    let result = match event.decode::<UserEvent>()? {
        UserEvent::UserCreated {
            customer_id,
            email,
            name,
            role,
        } => {
            sqlx::query(
                "INSERT INTO users (id, tenant, customer_id, email, name, role, status, created_at,
                     updated_at, version)
                 VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $7, $8) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(&event.event.tenant)
            .bind(customer_id)
            .bind(email)
            .bind(name)
            .bind(role)
            .bind(at)
            .bind(version)
            .execute(&mut *tx)
            .await?;
            return Ok(());
        }
        UserEvent::UserSuspended { reason } => {
            change("suspended", reason).execute(&mut *tx).await?
        }
        UserEvent::UserUnsuspended {} => change("active", None).execute(&mut *tx).await?,
        UserEvent::UserDeleted {} => change("deleted", None).execute(&mut *tx).await?,
        // Announced to subscribers; the user's row does not change.
        UserEvent::UserVerificationEmailResent { .. } => return Ok(()),
    };
    expect_row(result, event)
}

// ---- queries ----

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct UserRow {
    pub id: Uuid,
    pub customer_id: String,
    pub email: String,
    pub name: String,
    pub role: String,
    pub status: String,
    pub suspension_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub version: i64,
}

const COLUMNS: &str = "id, customer_id, email, name, role, status, suspension_reason, created_at, \
    updated_at, deleted_at, version";

pub async fn get(pool: &PgPool, tenant: &str, id: Uuid) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM inventory.users WHERE tenant = $1 AND id = $2"
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional(pool)
    .await
}

pub async fn list(
    pool: &PgPool,
    tenant: &str,
    customer_id: &str,
    status: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM inventory.users
         WHERE tenant = $1 AND customer_id = $2 AND ($3::text IS NULL OR status = $3)
           AND ($4::uuid IS NULL OR id > $4)
         ORDER BY id LIMIT $5"
    ))
    .bind(tenant)
    .bind(customer_id)
    .bind(status)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// A user of the tenant, not deleted, with this email: emails identify people.
pub async fn live_user_with_email(
    pool: &PgPool,
    tenant: &str,
    email: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM inventory.users WHERE tenant = $1 AND email = lower($2)
           AND status <> 'deleted' LIMIT 1",
    )
    .bind(tenant)
    .bind(email)
    .fetch_optional(pool)
    .await
}

/// Users of the tenant that are not deleted, in id order; with `service_id`, only those whose
/// customer holds a live subscription to that service (that subscription, with
/// `subscription_id`).
pub async fn list_of_tenant(
    pool: &PgPool,
    tenant: &str,
    service_id: Option<&str>,
    subscription_id: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<UserRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM inventory.users u
         WHERE tenant = $1 AND status <> 'deleted'
           AND ($2::text IS NULL OR EXISTS (
               SELECT 1 FROM inventory.subscriptions s
                WHERE s.tenant = u.tenant AND s.customer_id = u.customer_id
                  AND s.service_id = $2 AND ($3::uuid IS NULL OR s.id = $3)
                  AND s.status IN ('active', 'suspended')))
           AND ($4::uuid IS NULL OR id > $4)
         ORDER BY id LIMIT $5"
    ))
    .bind(tenant)
    .bind(service_id)
    .bind(subscription_id)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}
