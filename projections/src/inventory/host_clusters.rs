//! Host clusters (deployment cells) in the inventory, deleted ones kept, with the count of
//! the live instances placed in each.

use chrono::{DateTime, Utc};
use fleet_domain::host_cluster::HostClusterEvent;
use fleet_events::EventEnvelope;
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};

use crate::expect_row;
use crate::ApplyError;

pub(super) const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS host_clusters (
    tenant                 text NOT NULL,
    id                     text NOT NULL,
    origin                 text NOT NULL,
    cloud_provider         text NOT NULL,
    region                 text NOT NULL,
    description            text NOT NULL,
    customer_email         text,
    status                 text NOT NULL,
    failure_reason         text,
    amenities              jsonb NOT NULL DEFAULT '[]',
    pending_amenities      jsonb NOT NULL DEFAULT '[]',
    sync_with_org_template boolean NOT NULL DEFAULT false,
    node_pools             jsonb NOT NULL DEFAULT '{}',
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL,
    version                bigint NOT NULL,
    PRIMARY KEY (tenant, id)
);
"#;

pub(super) async fn apply(tx: &mut PgConnection, event: &EventEnvelope) -> Result<(), ApplyError> {
    let (tenant, id) = (&event.event.tenant, &event.event.aggregate_id);
    let (at, version) = (event.event.occurred_at, event.sequence as i64);
    // Every change but the registration sets some columns and the version.
    let update = |set: &str| {
        format!(
            "UPDATE host_clusters SET {set}, updated_at = $3, version = $4
             WHERE tenant = $1 AND id = $2"
        )
    };
    let result = match event.decode::<HostClusterEvent>()? {
        HostClusterEvent::HostClusterRegistered {
            origin,
            cloud_provider,
            region,
            description,
            customer_email,
        } => {
            let status = if origin == "adopted" {
                "PENDING"
            } else {
                "DEPLOYING"
            };
            sqlx::query(
                "INSERT INTO host_clusters (tenant, id, origin, cloud_provider, region, description,
                     customer_email, status, created_at, updated_at, version)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)
                 ON CONFLICT (tenant, id) DO NOTHING",
            )
            .bind(tenant)
            .bind(id)
            .bind(origin)
            .bind(cloud_provider)
            .bind(region)
            .bind(description)
            .bind(customer_email)
            .bind(status)
            .bind(at)
            .bind(version)
            .execute(&mut *tx)
            .await?;
            return Ok(());
        }
        HostClusterEvent::HostClusterReady {} => {
            status(tx, &update("status = 'READY'"), event).await?
        }
        HostClusterEvent::HostClusterFailed { reason } => {
            sqlx::query(&update("status = 'FAILED', failure_reason = $5"))
                .bind(tenant)
                .bind(id)
                .bind(at)
                .bind(version)
                .bind(reason)
                .execute(&mut *tx)
                .await?
        }
        HostClusterEvent::HostClusterConfigurationUpdated {
            pending_amenities,
            sync_with_org_template,
        } => {
            sqlx::query(&update(
                "pending_amenities = $5,
                 sync_with_org_template = COALESCE($6, sync_with_org_template)",
            ))
            .bind(tenant)
            .bind(id)
            .bind(at)
            .bind(version)
            .bind(Value::Array(pending_amenities))
            .bind(sync_with_org_template)
            .execute(&mut *tx)
            .await?
        }
        HostClusterEvent::HostClusterChangesApplied { amenities } => {
            sqlx::query(&update(
                "status = 'DEPLOYING', amenities = $5, pending_amenities = '[]'",
            ))
            .bind(tenant)
            .bind(id)
            .bind(at)
            .bind(version)
            .bind(Value::Array(amenities))
            .execute(&mut *tx)
            .await?
        }
        HostClusterEvent::HostClusterDeploymentCancelled {} => {
            status(tx, &update("status = 'CANCELLED'"), event).await?
        }
        HostClusterEvent::HostClusterDeploymentRestarted {} => {
            status(
                tx,
                &update("status = 'DEPLOYING', failure_reason = NULL"),
                event,
            )
            .await?
        }
        HostClusterEvent::HostClusterNodePoolResized {
            node_pool,
            max_size,
        } => {
            sqlx::query(&update("node_pools = node_pools || $5"))
                .bind(tenant)
                .bind(id)
                .bind(at)
                .bind(version)
                .bind(json!({ node_pool: {"maxSize": max_size} }))
                .execute(&mut *tx)
                .await?
        }
        HostClusterEvent::HostClusterCredentialIssued { .. } => {
            status(tx, &update("status = status"), event).await?
        }
        HostClusterEvent::HostClusterDeleted { .. } => {
            status(tx, &update("status = 'DELETED'"), event).await?
        }
    };
    expect_row(result, event)
}

/// Runs an update whose only parameters are the row's key, time and version.
async fn status(
    tx: &mut PgConnection,
    sql: &str,
    event: &EventEnvelope,
) -> Result<sqlx::postgres::PgQueryResult, sqlx::Error> {
    sqlx::query(sql)
        .bind(&event.event.tenant)
        .bind(&event.event.aggregate_id)
        .bind(event.event.occurred_at)
        .bind(event.sequence as i64)
        .execute(tx)
        .await
}

// ---- queries ----

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct HostClusterRow {
    pub id: String,
    /// `created` or `adopted`.
    pub origin: String,
    pub cloud_provider: String,
    pub region: String,
    pub description: String,
    pub customer_email: Option<String>,
    /// PENDING, DEPLOYING, READY, FAILED, CANCELLED or DELETED.
    pub status: String,
    pub failure_reason: Option<String>,
    pub amenities: Value,
    pub pending_amenities: Value,
    pub sync_with_org_template: bool,
    /// Node pool name -> `{"maxSize": n}`.
    pub node_pools: Value,
    /// Instances placed in the cell that are not deleted.
    pub live_instances: i64,
    /// Of those, the failed ones.
    pub failed_instances: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

const SELECT: &str = "SELECT h.id, h.origin, h.cloud_provider, h.region, h.description,
        h.customer_email, h.status, h.failure_reason, h.amenities, h.pending_amenities,
        h.sync_with_org_template, h.node_pools,
        (SELECT count(*) FROM inventory.instances i
          WHERE i.tenant = h.tenant AND i.deployment_cell = h.id
            AND i.status <> 'deleted') AS live_instances,
        (SELECT count(*) FROM inventory.instances i
          WHERE i.tenant = h.tenant AND i.deployment_cell = h.id
            AND i.status = 'failed') AS failed_instances,
        h.created_at, h.updated_at, h.version
    FROM inventory.host_clusters h";

pub async fn get(
    pool: &PgPool,
    tenant: &str,
    id: &str,
) -> Result<Option<HostClusterRow>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE h.tenant = $1 AND h.id = $2"))
        .bind(tenant)
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// The tenant's clusters that are not deleted, in id order.
pub async fn list(
    pool: &PgPool,
    tenant: &str,
    region: Option<&str>,
    customer_email: Option<&str>,
) -> Result<Vec<HostClusterRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE h.tenant = $1 AND h.status <> 'DELETED'
           AND ($2::text IS NULL OR h.region = $2)
           AND ($3::text IS NULL OR h.customer_email = $3)
         ORDER BY h.id"
    ))
    .bind(tenant)
    .bind(region)
    .bind(customer_email)
    .fetch_all(pool)
    .await
}

/// Live instances placed in the cell.
pub async fn live_instances(pool: &PgPool, tenant: &str, id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM inventory.instances
          WHERE tenant = $1 AND deployment_cell = $2 AND status <> 'deleted'",
    )
    .bind(tenant)
    .bind(id)
    .fetch_one(pool)
    .await
}
