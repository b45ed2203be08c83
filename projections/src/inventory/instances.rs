//! Instances in the inventory: one row per instance, current state, deleted ones kept.
//!
//! A batch is applied set-based: the rows it touches are read in one statement, the events
//! are folded into them in memory, and the changed rows are written back in one
//! `INSERT … SELECT FROM UNNEST … ON CONFLICT` statement.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use fleet_domain::instance::{InstanceEvent, InstanceStatus};
use fleet_events::EventEnvelope;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::ApplyError;

pub(super) const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS instances (
    id               uuid PRIMARY KEY,
    tenant           text NOT NULL,
    name             text,
    service_id       text NOT NULL,
    plan_id          text NOT NULL,
    cloud_provider   text NOT NULL,
    region           text NOT NULL,
    deployment_cell  text NOT NULL,
    instance_type    text NOT NULL,
    environment_type text NOT NULL,
    customer_id      text,
    subscription_id  text,
    status           text NOT NULL,
    capacity         bigint NOT NULL,
    failure_reason   text,
    restarts         bigint NOT NULL,
    failovers        bigint NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    deleted_at       timestamptz,
    -- The stream sequence of the last event applied to the row.
    version          bigint NOT NULL
);
ALTER TABLE instances ADD COLUMN IF NOT EXISTS restored_from text;
ALTER TABLE instances ADD COLUMN IF NOT EXISTS adopted boolean NOT NULL DEFAULT false;
ALTER TABLE instances ADD COLUMN IF NOT EXISTS network_type text;
ALTER TABLE instances ADD COLUMN IF NOT EXISTS params jsonb NOT NULL DEFAULT '{}';
ALTER TABLE instances ADD COLUMN IF NOT EXISTS custom_tags jsonb NOT NULL DEFAULT '[]';
ALTER TABLE instances ADD COLUMN IF NOT EXISTS debug_mode boolean NOT NULL DEFAULT false;
ALTER TABLE instances ADD COLUMN IF NOT EXISTS tier_version text;
ALTER TABLE instances ADD COLUMN IF NOT EXISTS installer_url text;
ALTER TABLE instances ADD COLUMN IF NOT EXISTS reseller_metadata jsonb NOT NULL DEFAULT '{}';
"#;

/// The inventory's queries: by tenant, status and subscription.
pub(super) const READER_INDEXES: &str = r#"
CREATE INDEX IF NOT EXISTS instances_by_tenant ON instances (tenant, id);
CREATE INDEX IF NOT EXISTS instances_by_status ON instances (tenant, status, id);
CREATE INDEX IF NOT EXISTS instances_by_subscription ON instances (tenant, subscription_id);
"#;

/// An instance as the inventory shows it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct InstanceRow {
    pub id: Uuid,
    #[serde(skip)]
    pub tenant: String,
    pub name: Option<String>,
    pub service_id: String,
    pub plan_id: String,
    pub cloud_provider: String,
    pub region: String,
    pub deployment_cell: String,
    pub instance_type: String,
    pub environment_type: String,
    pub customer_id: Option<String>,
    pub subscription_id: Option<String>,
    pub status: String,
    pub capacity: i64,
    pub failure_reason: Option<String>,
    pub restarts: i64,
    pub failovers: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub version: i64,
    /// The snapshot the instance was restored from.
    pub restored_from: Option<String>,
    pub adopted: bool,
    /// `PUBLIC` or `INTERNAL`, once set.
    pub network_type: Option<String>,
    pub params: serde_json::Value,
    /// `[{"key": …, "value": …}]`.
    pub custom_tags: serde_json::Value,
    pub debug_mode: bool,
    /// The tier version a one-off patch moved it to.
    pub tier_version: Option<String>,
    pub installer_url: Option<String>,
    /// The reseller's own data about the instance as a billable resource.
    pub reseller_metadata: serde_json::Value,
}

const COLUMNS: &str = "id, tenant, name, service_id, plan_id, cloud_provider, region, \
    deployment_cell, instance_type, environment_type, customer_id, subscription_id, status, \
    capacity, failure_reason, restarts, failovers, created_at, updated_at, deleted_at, version, \
    restored_from, adopted, network_type, params, custom_tags, debug_mode, tier_version, \
    installer_url, reseller_metadata";

impl InstanceRow {
    fn created(envelope: &EventEnvelope, event: &InstanceEvent) -> Option<Self> {
        let InstanceEvent::InstanceCreated { spec, capacity } = event else {
            return None;
        };
        let id = Uuid::parse_str(&envelope.event.aggregate_id).ok()?;
        let spec = spec.clone();
        Some(Self {
            id,
            tenant: envelope.event.tenant.clone(),
            name: spec.name,
            service_id: spec.service_id,
            plan_id: spec.plan_id,
            cloud_provider: spec.cloud_provider,
            region: spec.region,
            deployment_cell: spec.deployment_cell,
            instance_type: spec.instance_type,
            environment_type: spec.environment_type,
            customer_id: spec.customer_id,
            subscription_id: spec.subscription_id,
            status: InstanceStatus::Deploying.to_string(),
            capacity: *capacity,
            failure_reason: None,
            restarts: 0,
            failovers: 0,
            created_at: envelope.event.occurred_at,
            updated_at: envelope.event.occurred_at,
            deleted_at: None,
            version: envelope.sequence as i64,
            restored_from: spec.restored_from,
            adopted: spec.adopted,
            network_type: None,
            params: serde_json::json!({}),
            custom_tags: serde_json::json!([]),
            debug_mode: false,
            tier_version: spec.tier_version,
            installer_url: None,
            reseller_metadata: serde_json::json!({}),
        })
    }

    fn apply(&mut self, envelope: &EventEnvelope, event: &InstanceEvent) {
        use InstanceEvent as E;
        let at = envelope.event.occurred_at;
        match event {
            E::InstanceCreated { .. } => {}
            E::InstanceProvisioned {} | E::InstanceStarted {} => {
                self.status = InstanceStatus::Running.to_string()
            }
            E::InstanceFailed { reason, .. } => {
                self.status = InstanceStatus::Failed.to_string();
                self.failure_reason = Some(reason.clone());
            }
            E::InstanceStopped {} => self.status = InstanceStatus::Stopped.to_string(),
            E::InstanceRestarted {} => self.restarts += 1,
            E::InstanceFailedOver { .. } => self.failovers += 1,
            E::InstanceCapacityChanged { to, .. } => self.capacity = *to,
            E::InstanceDeleted { .. } => {
                self.status = InstanceStatus::Deleted.to_string();
                self.deleted_at = Some(at);
            }
            E::InstanceUpdated {
                params,
                network_type,
                custom_tags,
            } => {
                if let Some(params) = params {
                    self.params = params.clone();
                }
                if let Some(network_type) = network_type {
                    self.network_type = Some(network_type.clone());
                }
                if let Some(tags) = custom_tags {
                    self.custom_tags = serde_json::to_value(tags).unwrap_or_default();
                }
            }
            E::InstanceDebugModeSet { enabled } => self.debug_mode = *enabled,
            E::InstancePatched { tier_version, .. } => {
                if let Some(version) = tier_version {
                    self.tier_version = Some(version.clone());
                }
            }
            E::InstanceRecovered { status } => {
                self.status = status.clone();
                self.failure_reason = None;
            }
            E::InstanceInstallerRecorded { url } => self.installer_url = Some(url.clone()),
            E::InstanceResellerMetadataSet { metadata } => {
                self.reseller_metadata = metadata.clone()
            }
        }
        self.updated_at = at;
        self.version = envelope.sequence as i64;
    }
}

/// The row an instance's history (in order) leads to: what the inventory showed after the
/// last of these events. Point-in-time queries use it on a prefix of the history.
pub fn fold(events: &[EventEnvelope]) -> Result<Option<InstanceRow>, ApplyError> {
    let mut row: Option<InstanceRow> = None;
    for envelope in events {
        let event = envelope.decode::<InstanceEvent>()?;
        match (InstanceRow::created(envelope, &event), row.as_mut()) {
            (Some(created), _) => row = Some(created),
            (None, Some(existing)) => existing.apply(envelope, &event),
            (None, None) => {}
        }
    }
    Ok(row)
}

/// Applies a batch of instance events.
pub(super) async fn apply(
    tx: &mut PgConnection,
    events: &[&EventEnvelope],
) -> Result<(), ApplyError> {
    let mut decoded = Vec::with_capacity(events.len());
    for envelope in events {
        let id = crate::uuid_of(envelope)?;
        decoded.push((id, envelope, envelope.decode::<InstanceEvent>()?));
    }
    let ids: Vec<Uuid> = decoded.iter().map(|(id, ..)| *id).collect();
    let mut rows: HashMap<Uuid, InstanceRow> = sqlx::query_as::<_, InstanceRow>(&format!(
        "SELECT {COLUMNS} FROM instances WHERE id = ANY($1)"
    ))
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|row| (row.id, row))
    .collect();
    let mut changed = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (id, envelope, event) in &decoded {
        if let Some(row) = InstanceRow::created(envelope, event) {
            rows.insert(*id, row);
        } else {
            let row = rows.get_mut(id).ok_or_else(|| {
                ApplyError::Unapplicable(format!(
                    "{} for instance {id}, which the inventory does not know",
                    envelope.event.event_type
                ))
            })?;
            // Idempotence guard: an event already in the row is not applied again.
            if row.version >= envelope.sequence as i64 {
                continue;
            }
            row.apply(envelope, event);
        }
        if seen.insert(*id) {
            changed.push(*id);
        }
    }
    upsert(tx, changed.iter().filter_map(|id| rows.get(id))).await?;
    Ok(())
}

async fn upsert<'a>(
    tx: &mut PgConnection,
    rows: impl Iterator<Item = &'a InstanceRow>,
) -> Result<(), sqlx::Error> {
    let rows: Vec<&InstanceRow> = rows.collect();
    if rows.is_empty() {
        return Ok(());
    }
    macro_rules! column {
        ($field:ident) => {
            rows.iter().map(|r| r.$field.clone()).collect::<Vec<_>>()
        };
    }
    sqlx::query(&format!(
        "INSERT INTO instances ({COLUMNS})
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
             $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
             $12::text[], $13::text[], $14::int8[], $15::text[], $16::int8[], $17::int8[],
             $18::timestamptz[], $19::timestamptz[], $20::timestamptz[], $21::int8[],
             $22::text[], $23::bool[], $24::text[], $25::jsonb[], $26::jsonb[], $27::bool[],
             $28::text[], $29::text[], $30::jsonb[])
         ON CONFLICT (id) DO UPDATE SET
             status = EXCLUDED.status, capacity = EXCLUDED.capacity,
             failure_reason = EXCLUDED.failure_reason, restarts = EXCLUDED.restarts,
             failovers = EXCLUDED.failovers, updated_at = EXCLUDED.updated_at,
             deleted_at = EXCLUDED.deleted_at, version = EXCLUDED.version,
             network_type = EXCLUDED.network_type, params = EXCLUDED.params,
             custom_tags = EXCLUDED.custom_tags, debug_mode = EXCLUDED.debug_mode,
             tier_version = EXCLUDED.tier_version, installer_url = EXCLUDED.installer_url,
             reseller_metadata = EXCLUDED.reseller_metadata"
    ))
    .bind(column!(id))
    .bind(column!(tenant))
    .bind(column!(name))
    .bind(column!(service_id))
    .bind(column!(plan_id))
    .bind(column!(cloud_provider))
    .bind(column!(region))
    .bind(column!(deployment_cell))
    .bind(column!(instance_type))
    .bind(column!(environment_type))
    .bind(column!(customer_id))
    .bind(column!(subscription_id))
    .bind(column!(status))
    .bind(column!(capacity))
    .bind(column!(failure_reason))
    .bind(column!(restarts))
    .bind(column!(failovers))
    .bind(column!(created_at))
    .bind(column!(updated_at))
    .bind(column!(deleted_at))
    .bind(column!(version))
    .bind(column!(restored_from))
    .bind(column!(adopted))
    .bind(column!(network_type))
    .bind(column!(params))
    .bind(column!(custom_tags))
    .bind(column!(debug_mode))
    .bind(column!(tier_version))
    .bind(column!(installer_url))
    .bind(column!(reseller_metadata))
    .execute(tx)
    .await?;
    Ok(())
}

// ---- queries ----

pub async fn get_instance(
    pool: &PgPool,
    tenant: &str,
    id: Uuid,
) -> Result<Option<InstanceRow>, sqlx::Error> {
    sqlx::query_as::<_, InstanceRow>(&format!(
        "SELECT {COLUMNS} FROM inventory.instances WHERE tenant = $1 AND id = $2"
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional(pool)
    .await
}

#[derive(Debug, Default, Clone)]
pub struct InstanceFilter {
    pub status: Option<String>,
    pub cloud_provider: Option<String>,
    pub region: Option<String>,
    pub deployment_cell: Option<String>,
    pub customer_id: Option<String>,
    pub subscription_id: Option<String>,
    pub service_id: Option<String>,
    pub plan_id: Option<String>,
}

/// Instances in id order (UUIDv7: creation order), after the cursor `after`.
pub async fn list_instances(
    pool: &PgPool,
    tenant: &str,
    filter: &InstanceFilter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<InstanceRow>, sqlx::Error> {
    sqlx::query_as::<_, InstanceRow>(&format!(
        "SELECT {COLUMNS} FROM inventory.instances
         WHERE tenant = $1
           AND ($2::text IS NULL OR status = $2)
           AND ($3::text IS NULL OR cloud_provider = $3)
           AND ($4::text IS NULL OR region = $4)
           AND ($5::text IS NULL OR deployment_cell = $5)
           AND ($6::text IS NULL OR customer_id = $6)
           AND ($7::text IS NULL OR subscription_id = $7)
           AND ($8::uuid IS NULL OR id > $8)
           AND ($10::text IS NULL OR service_id = $10)
           AND ($11::text IS NULL OR plan_id = $11)
         ORDER BY id
         LIMIT $9"
    ))
    .bind(tenant)
    .bind(&filter.status)
    .bind(&filter.cloud_provider)
    .bind(&filter.region)
    .bind(&filter.deployment_cell)
    .bind(&filter.customer_id)
    .bind(&filter.subscription_id)
    .bind(after)
    .bind(limit)
    .bind(&filter.service_id)
    .bind(&filter.plan_id)
    .fetch_all(pool)
    .await
}

#[derive(Debug, Default, Serialize, schemars::JsonSchema)]
pub struct InstanceSummary {
    /// Every instance ever created, deleted ones included.
    pub total: i64,
    /// Instances not deleted.
    pub live: i64,
    pub by_status: HashMap<String, i64>,
    /// The following count live instances only.
    pub by_cloud_provider: HashMap<String, i64>,
    pub by_region: HashMap<String, i64>,
    pub by_deployment_cell: HashMap<String, i64>,
}

pub async fn summary(pool: &PgPool, tenant: &str) -> Result<InstanceSummary, sqlx::Error> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT 'status', status, count(*) FROM inventory.instances WHERE tenant = $1 GROUP BY status
         UNION ALL
         SELECT 'cloud_provider', cloud_provider, count(*) FROM inventory.instances
          WHERE tenant = $1 AND status <> 'deleted' GROUP BY cloud_provider
         UNION ALL
         SELECT 'region', region, count(*) FROM inventory.instances
          WHERE tenant = $1 AND status <> 'deleted' GROUP BY region
         UNION ALL
         SELECT 'deployment_cell', deployment_cell, count(*) FROM inventory.instances
          WHERE tenant = $1 AND status <> 'deleted' GROUP BY deployment_cell",
    )
    .bind(tenant)
    .fetch_all(pool)
    .await?;
    let mut summary = InstanceSummary::default();
    for (dimension, key, count) in rows {
        let map = match dimension.as_str() {
            "status" => {
                summary.total += count;
                if key != "deleted" {
                    summary.live += count;
                }
                &mut summary.by_status
            }
            "cloud_provider" => &mut summary.by_cloud_provider,
            "region" => &mut summary.by_region,
            _ => &mut summary.by_deployment_cell,
        };
        map.insert(key, count);
    }
    Ok(summary)
}

/// The instances linked to one by a snapshot: those restored from its snapshots, and the one
/// whose snapshot it was restored from.
pub async fn linked(
    pool: &PgPool,
    tenant: &str,
    instance_id: Uuid,
) -> Result<Vec<InstanceRow>, sqlx::Error> {
    sqlx::query_as::<_, InstanceRow>(&format!(
        "SELECT {COLUMNS} FROM inventory.instances
          WHERE tenant = $1 AND id <> $2 AND (
              restored_from IN (SELECT s.id::text FROM inventory.snapshots s
                                 WHERE s.tenant = $1 AND s.source_instance_id = $2::text)
              OR id::text IN (SELECT s.source_instance_id FROM inventory.snapshots s
                               JOIN inventory.instances me ON me.restored_from = s.id::text
                              WHERE me.tenant = $1 AND me.id = $2))
          ORDER BY id"
    ))
    .bind(tenant)
    .bind(instance_id)
    .fetch_all(pool)
    .await
}

/// Where a live instance runs and how it stands: what health is told from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Placement {
    pub id: Uuid,
    pub instance_type: String,
    pub service_id: String,
    pub cloud_provider: String,
    pub region: String,
    pub deployment_cell: String,
    pub environment_type: String,
    pub status: String,
    pub adopted: bool,
}

/// The live instances of a service (any for `None`) in a cell (any for `None`), in id order.
pub async fn placements(
    pool: &PgPool,
    tenant: &str,
    service_id: Option<&str>,
    cell: Option<&str>,
) -> Result<Vec<Placement>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, instance_type, service_id, cloud_provider, region, deployment_cell,
                environment_type, status, adopted
           FROM inventory.instances
          WHERE tenant = $1 AND status <> 'deleted'
            AND ($2::text IS NULL OR service_id = $2)
            AND ($3::text IS NULL OR deployment_cell = $3)
          ORDER BY id LIMIT 10000",
    )
    .bind(tenant)
    .bind(service_id)
    .bind(cell)
    .fetch_all(pool)
    .await
}
