//! Subscriptions in the inventory, with the count of their live instances.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use fleet_domain::subscription::{SubscriptionEvent, TRIAL_EXPIRED};
use fleet_events::EventEnvelope;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::expect_row;
use crate::uuid_of;
use crate::ApplyError;

pub(super) const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS subscriptions (
    id                 uuid PRIMARY KEY,
    tenant             text NOT NULL,
    customer_id        text NOT NULL,
    service_id         text NOT NULL,
    plan_id            text NOT NULL,
    terms              text NOT NULL,
    marketplace        text NOT NULL,
    max_instances      bigint NOT NULL,
    trial_ends_at      timestamptz,
    external_payer_id  text,
    payment_profile_id text,
    status             text NOT NULL,
    suspension_reason  text,
    request_id         text,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    ended_at           timestamptz,
    version            bigint NOT NULL
);
ALTER TABLE subscriptions ADD COLUMN IF NOT EXISTS owner_user_id text;
CREATE INDEX IF NOT EXISTS subscriptions_by_customer ON subscriptions (tenant, customer_id, id);
ALTER TABLE subscriptions ADD COLUMN IF NOT EXISTS grace_days bigint;
ALTER TABLE subscriptions ADD COLUMN IF NOT EXISTS reminder_days bigint;
ALTER TABLE subscriptions ADD COLUMN IF NOT EXISTS details jsonb;
ALTER TABLE subscriptions ADD COLUMN IF NOT EXISTS grace_ends_at timestamptz;
ALTER TABLE subscriptions ADD COLUMN IF NOT EXISTS reminded_at timestamptz;
ALTER TABLE subscriptions ADD COLUMN IF NOT EXISTS grace_ended_at timestamptz;
ALTER TABLE subscriptions ADD COLUMN IF NOT EXISTS created_by text;
ALTER TABLE subscriptions ADD COLUMN IF NOT EXISTS modified_by text;
-- The scheduler's other questions: whose grace is over, whose trial's end is to be announced?
CREATE INDEX IF NOT EXISTS subscriptions_graces_due ON subscriptions (grace_ends_at)
    WHERE grace_ends_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS subscriptions_reminders_due ON subscriptions (trial_ends_at)
    WHERE reminder_days >= 0 AND reminded_at IS NULL AND status = 'active';
-- The scheduler's question: which trials are due?
CREATE INDEX IF NOT EXISTS subscriptions_trials_due ON subscriptions (trial_ends_at)
    WHERE status = 'active' AND terms = 'trial';
"#;

pub(super) async fn apply(tx: &mut PgConnection, event: &EventEnvelope) -> Result<(), ApplyError> {
    use SubscriptionEvent as E;
    let id = uuid_of(event)?;
    let (at, version) = (event.event.occurred_at, event.sequence as i64);
    let by = &event.event.actor.id;
    let result =
        match event.decode::<SubscriptionEvent>()? {
            E::SubscriptionCreated { terms, request_id } => {
                sqlx::query(
                "INSERT INTO subscriptions (id, tenant, customer_id, service_id, plan_id, terms,
                     marketplace, max_instances, trial_ends_at, external_payer_id,
                     payment_profile_id, status, request_id, created_at, updated_at, version,
                     owner_user_id, grace_days, reminder_days, details, created_by, modified_by)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'active', $12, $13, $13, $14,
                     $15, $16, $17, $18, $19, $19)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(&event.event.tenant)
            .bind(&terms.customer_id)
            .bind(&terms.service_id)
            .bind(&terms.plan_id)
            .bind(&terms.terms)
            .bind(&terms.marketplace)
            .bind(terms.max_instances)
            .bind(terms.trial_ends_at)
            .bind(&terms.external_payer_id)
            .bind(&terms.payment_profile_id)
            .bind(&request_id)
            .bind(at)
            .bind(version)
            .bind(&terms.owner_user_id)
            .bind(terms.grace_days)
            .bind(terms.reminder_days)
            .bind(terms.details.as_ref().map(sqlx::types::Json))
            .bind(by)
            .execute(&mut *tx)
            .await?;
                return Ok(());
            }
            E::SubscriptionUpdated { changes } => {
                sqlx::query(
                    "UPDATE subscriptions SET plan_id = COALESCE($2, plan_id),
                     max_instances = COALESCE($3, max_instances),
                     external_payer_id = COALESCE($4, external_payer_id),
                     payment_profile_id = COALESCE($5, payment_profile_id),
                     updated_at = $6, version = $7,
                     grace_days = COALESCE($8, grace_days),
                     reminder_days = COALESCE($9, reminder_days),
                     trial_ends_at = COALESCE($10, trial_ends_at),
                     details = COALESCE($11, details),
                     modified_by = $12
                 WHERE id = $1",
                )
                .bind(id)
                .bind(&changes.plan_id)
                .bind(changes.max_instances)
                .bind(&changes.external_payer_id)
                .bind(&changes.payment_profile_id)
                .bind(at)
                .bind(version)
                .bind(changes.grace_days)
                .bind(changes.reminder_days)
                .bind(changes.trial_ends_at)
                .bind(changes.details.as_ref().map(sqlx::types::Json))
                .bind(by)
                .execute(&mut *tx)
                .await?
            }
            E::SubscriptionConvertedToPaid {
                payment_profile_id, ..
            } => sqlx::query(
                "UPDATE subscriptions SET terms = 'paid', trial_ends_at = NULL, status = 'active',
                     suspension_reason = NULL, grace_ends_at = NULL,
                     payment_profile_id = COALESCE(NULLIF($2, ''), payment_profile_id),
                     updated_at = $3, version = $4, modified_by = $5
                 WHERE id = $1",
            )
            .bind(id)
            .bind(&payment_profile_id)
            .bind(at)
            .bind(version)
            .bind(by)
            .execute(&mut *tx)
            .await?,
            // A place taken or freed changes none of the row's columns but its version.
            E::SubscriptionInstanceAdmitted { .. } | E::SubscriptionInstanceReleased { .. } => {
                sqlx::query("UPDATE subscriptions SET version = $2 WHERE id = $1")
                    .bind(id)
                    .bind(version)
                    .execute(&mut *tx)
                    .await?
            }
            E::SubscriptionTrialEndingAnnounced { .. } => {
                sqlx::query("UPDATE subscriptions SET reminded_at = $2, version = $3 WHERE id = $1")
                    .bind(id)
                    .bind(at)
                    .bind(version)
                    .execute(&mut *tx)
                    .await?
            }
            E::SubscriptionGraceEnded { .. } => {
                sqlx::query(
                    "UPDATE subscriptions SET grace_ends_at = NULL, grace_ended_at = $2,
                         updated_at = $2, version = $3
                     WHERE id = $1",
                )
                .bind(id)
                .bind(at)
                .bind(version)
                .execute(&mut *tx)
                .await?
            }
            other => {
                let (status, reason, grace_ends_at): (&str, Option<String>, _) = match other {
                    E::SubscriptionSuspended { reason } => ("suspended", Some(reason), None),
                    E::SubscriptionTrialExpired { grace_ends_at, .. } => {
                        ("suspended", Some(TRIAL_EXPIRED.into()), grace_ends_at)
                    }
                    E::SubscriptionResumed {} => ("active", None, None),
                    E::SubscriptionTerminated { reason } => ("terminated", reason, None),
                    E::SubscriptionCancelled {
                        reason,
                        grace_ends_at,
                    } => ("cancelled", reason, grace_ends_at),
                    E::SubscriptionDeleted {} => ("deleted", None, None),
                    _ => unreachable!("handled above"),
                };
                sqlx::query(
                    "UPDATE subscriptions SET status = $2, suspension_reason = $3, updated_at = $4,
                     version = $5, grace_ends_at = $6, modified_by = $7,
                     ended_at = CASE WHEN $2 IN ('terminated', 'cancelled', 'deleted') THEN $4 END
                 WHERE id = $1",
                )
                .bind(id)
                .bind(status)
                .bind(reason)
                .bind(at)
                .bind(version)
                .bind(grace_ends_at)
                .bind(by)
                .execute(&mut *tx)
                .await?
            }
        };
    expect_row(result, event)
}

// ---- queries ----

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct SubscriptionRow {
    pub id: Uuid,
    pub customer_id: String,
    pub service_id: String,
    pub plan_id: String,
    pub terms: String,
    pub marketplace: String,
    pub max_instances: i64,
    pub trial_ends_at: Option<DateTime<Utc>>,
    pub external_payer_id: Option<String>,
    pub payment_profile_id: Option<String>,
    pub status: String,
    pub suspension_reason: Option<String>,
    pub request_id: Option<String>,
    pub owner_user_id: Option<String>,
    /// Instances of the subscription that are not deleted.
    pub live_instances: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub version: i64,
    /// Days its instances run on after its trial expires or it is cancelled.
    pub grace_days: Option<i64>,
    /// Days before the trial's end at which its end is announced.
    pub reminder_days: Option<i64>,
    /// While a grace runs: when its instances are stopped.
    pub grace_ends_at: Option<DateTime<Utc>>,
    pub reminded_at: Option<DateTime<Utc>>,
    /// Payment references, limits, onboarding, unit costs and labels, when it has them.
    pub details: Option<serde_json::Value>,
    /// The principals that created it and last changed it.
    pub created_by: Option<String>,
    pub modified_by: Option<String>,
}

const SELECT: &str = "SELECT s.id, s.customer_id, s.service_id, s.plan_id, s.terms, s.marketplace,
        s.max_instances, s.trial_ends_at, s.external_payer_id, s.payment_profile_id, s.status,
        s.suspension_reason, s.request_id, s.owner_user_id,
        (SELECT count(*) FROM inventory.instances i
          WHERE i.tenant = s.tenant AND i.subscription_id = s.id::text
            AND i.status <> 'deleted') AS live_instances,
        s.created_at, s.updated_at, s.ended_at, s.version, s.grace_days, s.reminder_days,
        s.grace_ends_at, s.reminded_at, s.details, s.created_by, s.modified_by
    FROM inventory.subscriptions s";

pub async fn get(
    pool: &PgPool,
    tenant: &str,
    id: Uuid,
) -> Result<Option<SubscriptionRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE s.tenant = $1 AND s.id = $2"))
        .bind(tenant)
        .bind(id)
        .fetch_optional(pool)
        .await
}

#[derive(Debug, Default, Clone)]
pub struct SubscriptionFilter {
    pub customer_id: Option<String>,
    pub status: Option<String>,
    pub plan_id: Option<String>,
    pub service_id: Option<String>,
    pub terms: Option<String>,
    pub marketplace: Option<String>,
}

pub async fn list(
    pool: &PgPool,
    tenant: &str,
    filter: &SubscriptionFilter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<SubscriptionRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE s.tenant = $1
           AND ($2::text IS NULL OR s.customer_id = $2)
           AND ($3::text IS NULL OR s.status = $3)
           AND ($4::text IS NULL OR s.plan_id = $4)
           AND ($5::text IS NULL OR s.service_id = $5)
           AND ($6::text IS NULL OR s.terms = $6)
           AND ($7::text IS NULL OR s.marketplace = $7)
           AND ($8::uuid IS NULL OR s.id > $8)
         ORDER BY s.id LIMIT $9"
    ))
    .bind(tenant)
    .bind(&filter.customer_id)
    .bind(&filter.status)
    .bind(&filter.plan_id)
    .bind(&filter.service_id)
    .bind(&filter.terms)
    .bind(&filter.marketplace)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Subscriptions of a customer that have not ended (they block its deletion).
pub async fn live_of_customer(
    pool: &PgPool,
    tenant: &str,
    customer_id: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id::text FROM inventory.subscriptions
         WHERE tenant = $1 AND customer_id = $2 AND status IN ('active', 'suspended')
         ORDER BY id",
    )
    .bind(tenant)
    .bind(customer_id)
    .fetch_all(pool)
    .await
}

/// Subscriptions of a customer that were deleted with their charges: their unbilled usage is
/// never billed.
pub async fn deleted_of_customer(
    executor: impl sqlx::PgExecutor<'_>,
    tenant: &str,
    customer_id: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id::text FROM inventory.subscriptions
         WHERE tenant = $1 AND customer_id = $2 AND status = 'deleted' ORDER BY id",
    )
    .bind(tenant)
    .bind(customer_id)
    .fetch_all(executor)
    .await
}

/// Every subscription of a customer that is not deleted, oldest first.
pub async fn of_customer(
    pool: &PgPool,
    tenant: &str,
    customer_id: &str,
    limit: i64,
) -> Result<Vec<SubscriptionRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE s.tenant = $1 AND s.customer_id = $2 AND s.status <> 'deleted'
         ORDER BY s.created_at, s.id LIMIT $3"
    ))
    .bind(tenant)
    .bind(customer_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Graces that are over: (tenant, id, when the grace ended).
pub async fn graces_due(
    pool: &PgPool,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(String, Uuid, DateTime<Utc>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT tenant, id, grace_ends_at FROM inventory.subscriptions
         WHERE grace_ends_at IS NOT NULL AND grace_ends_at <= $1
         ORDER BY grace_ends_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Trials whose end is to be announced now: (tenant, id).
pub async fn reminders_due(
    pool: &PgPool,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(String, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT tenant, id FROM inventory.subscriptions
         WHERE reminder_days >= 0 AND reminded_at IS NULL AND status = 'active'
           AND terms = 'trial'
           AND trial_ends_at - make_interval(days => reminder_days::int) <= $1
         ORDER BY trial_ends_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Trials whose end has passed while they are still active: (tenant, id).
pub async fn trials_due(
    pool: &PgPool,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(String, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT tenant, id FROM inventory.subscriptions
         WHERE status = 'active' AND terms = 'trial' AND trial_ends_at <= $1
         ORDER BY trial_ends_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(pool)
    .await
}

#[derive(Debug, Default, Serialize, schemars::JsonSchema)]
pub struct SubscriptionSummary {
    pub total: i64,
    pub by_status: HashMap<String, i64>,
    /// Live (active or suspended) subscriptions by plan.
    pub by_plan: HashMap<String, i64>,
}

pub async fn summary(pool: &PgPool, tenant: &str) -> Result<SubscriptionSummary, sqlx::Error> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT 'status', status, count(*) FROM inventory.subscriptions WHERE tenant = $1
          GROUP BY status
         UNION ALL
         SELECT 'plan', plan_id, count(*) FROM inventory.subscriptions
          WHERE tenant = $1 AND status IN ('active', 'suspended') GROUP BY plan_id",
    )
    .bind(tenant)
    .fetch_all(pool)
    .await?;
    let mut summary = SubscriptionSummary::default();
    for (dimension, key, count) in rows {
        if dimension == "status" {
            summary.total += count;
            summary.by_status.insert(key, count);
        } else {
            summary.by_plan.insert(key, count);
        }
    }
    Ok(summary)
}
