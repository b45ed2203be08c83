//! Notification channels, and the webhook deliveries they are owed.
//!
//! Channels are a read model like any other. For every event, the channels of its tenant that
//! want its type (and existed before it) get a delivery row in the `webhook_deliveries` outbox,
//! written in the same transaction as the checkpoint: an event is enqueued exactly once per
//! channel, however often the projection is rebuilt, and a slow endpoint never slows a command.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fleet_events::notification_channel::{NotificationChannelEvent, AGGREGATE_TYPE};
use fleet_events::EventEnvelope;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{ApplyError, Projection};

pub const NAME: &str = "notifications";

const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS channels (
    id                 uuid PRIMARY KEY,
    tenant             text NOT NULL,
    name               text NOT NULL,
    url                text NOT NULL,
    event_types        text[] NOT NULL,
    secret_fingerprint text NOT NULL,
    status             text NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    -- The sequence of its creation: it is owed the events after it.
    created_sequence   bigint NOT NULL,
    version            bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS channels_by_tenant ON channels (tenant, id);
"#;

#[derive(Debug, Clone)]
struct Target {
    id: Uuid,
    event_types: Vec<String>,
    created_sequence: i64,
}

pub struct Notifications;

#[async_trait]
impl Projection for Notifications {
    fn name(&self) -> &'static str {
        NAME
    }

    fn ddl(&self) -> Vec<&'static str> {
        vec![DDL]
    }

    fn handles(&self, _aggregate_type: &str) -> bool {
        true
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        events: &[EventEnvelope],
    ) -> Result<(), ApplyError> {
        let tenants: Vec<String> = events.iter().map(|e| e.event.tenant.clone()).collect();
        let rows: Vec<(String, Uuid, Vec<String>, i64)> = sqlx::query_as(
            "SELECT tenant, id, event_types, created_sequence FROM channels
             WHERE status = 'active' AND tenant = ANY($1)",
        )
        .bind(&tenants)
        .fetch_all(&mut *tx)
        .await?;
        let mut targets: HashMap<String, Vec<Target>> = HashMap::new();
        for (tenant, id, event_types, created_sequence) in rows {
            targets.entry(tenant).or_default().push(Target {
                id,
                event_types,
                created_sequence,
            });
        }
        let mut deliveries: (Vec<Uuid>, Vec<String>, Vec<Uuid>, Vec<i64>, Vec<String>) =
            Default::default();
        for event in events {
            let (tenant, sequence) = (&event.event.tenant, event.sequence as i64);
            if event.event.aggregate_type == AGGREGATE_TYPE {
                apply_channel_event(tx, event, targets.entry(tenant.clone()).or_default()).await?;
            }
            for target in targets.get(tenant).into_iter().flatten() {
                let wanted = target.event_types.is_empty()
                    || target.event_types.contains(&event.event.event_type);
                if wanted && sequence > target.created_sequence {
                    deliveries.0.push(Uuid::now_v7());
                    deliveries.1.push(tenant.clone());
                    deliveries.2.push(target.id);
                    deliveries.3.push(sequence);
                    deliveries.4.push(event.event.event_type.clone());
                }
            }
        }
        if !deliveries.0.is_empty() {
            sqlx::query(
                "INSERT INTO webhook_deliveries (id, tenant, channel_id, sequence, event_type)
                 SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::uuid[], $4::int8[], $5::text[])
                 ON CONFLICT (channel_id, sequence) WHERE NOT replay DO NOTHING",
            )
            .bind(&deliveries.0)
            .bind(&deliveries.1)
            .bind(&deliveries.2)
            .bind(&deliveries.3)
            .bind(&deliveries.4)
            .execute(&mut *tx)
            .await?;
        }
        Ok(())
    }
}

/// Keeps the channels table, and the batch's view of a tenant's targets, up to date.
async fn apply_channel_event(
    tx: &mut PgConnection,
    event: &EventEnvelope,
    targets: &mut Vec<Target>,
) -> Result<(), ApplyError> {
    let id = crate::uuid_of(event)?;
    let (at, version) = (event.event.occurred_at, event.sequence as i64);
    match event.decode::<NotificationChannelEvent>()? {
        NotificationChannelEvent::NotificationChannelCreated {
            name,
            url,
            event_types,
            secret_fingerprint,
        } => {
            sqlx::query(
                "INSERT INTO channels (id, tenant, name, url, event_types, secret_fingerprint,
                     status, created_at, updated_at, created_sequence, version)
                 VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $7, $8, $8)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(&event.event.tenant)
            .bind(name)
            .bind(url)
            .bind(&event_types)
            .bind(secret_fingerprint)
            .bind(at)
            .bind(version)
            .execute(&mut *tx)
            .await?;
            targets.push(Target {
                id,
                event_types,
                created_sequence: version,
            });
        }
        NotificationChannelEvent::NotificationChannelUpdated {
            name,
            url,
            event_types,
            secret_fingerprint,
        } => {
            sqlx::query(
                "UPDATE channels SET name = COALESCE($2, name), url = COALESCE($3, url),
                     event_types = COALESCE($4, event_types),
                     secret_fingerprint = COALESCE($5, secret_fingerprint),
                     updated_at = $6, version = $7
                 WHERE id = $1",
            )
            .bind(id)
            .bind(name)
            .bind(url)
            .bind(&event_types)
            .bind(secret_fingerprint)
            .bind(at)
            .bind(version)
            .execute(&mut *tx)
            .await?;
            if let (Some(types), Some(target)) =
                (event_types, targets.iter_mut().find(|t| t.id == id))
            {
                target.event_types = types;
            }
        }
        NotificationChannelEvent::NotificationChannelDeleted {} => {
            sqlx::query(
                "UPDATE channels SET status = 'deleted', updated_at = $2, version = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(at)
            .bind(version)
            .execute(&mut *tx)
            .await?;
            targets.retain(|t| t.id != id);
        }
    }
    Ok(())
}

// ---- queries ----

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct ChannelRow {
    pub id: Uuid,
    #[serde(skip)]
    pub tenant: String,
    pub name: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub secret_fingerprint: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

const COLUMNS: &str = "id, tenant, name, url, event_types, secret_fingerprint, status, \
    created_at, updated_at, version";

pub async fn get(pool: &PgPool, tenant: &str, id: Uuid) -> Result<Option<ChannelRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM notifications.channels WHERE tenant = $1 AND id = $2"
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional(pool)
    .await
}

pub async fn list(
    pool: &PgPool,
    tenant: &str,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ChannelRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM notifications.channels
         WHERE tenant = $1 AND status = 'active' AND ($2::uuid IS NULL OR id > $2)
         ORDER BY id LIMIT $3"
    ))
    .bind(tenant)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub sequence: i64,
    pub event_type: String,
    pub replay: bool,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A channel's deliveries, newest first.
pub async fn deliveries(
    pool: &PgPool,
    tenant: &str,
    channel_id: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<DeliveryRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, sequence, event_type, replay, status, attempts, next_attempt_at,
                last_status_code, last_error, created_at, delivered_at
         FROM webhook_deliveries
         WHERE tenant = $1 AND channel_id = $2 AND ($3::uuid IS NULL OR id < $3)
         ORDER BY id DESC LIMIT $4",
    )
    .bind(tenant)
    .bind(channel_id)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await
}
