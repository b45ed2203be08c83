//! Custom networks in the inventory, one row each (their network space is the aggregate).

use chrono::{DateTime, Utc};
use fleet_domain::network_space::NetworkSpaceEvent;
use fleet_events::EventEnvelope;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::ApplyError;

pub(super) const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS custom_networks (
    tenant         text NOT NULL,
    id             text NOT NULL,
    space_id       text NOT NULL,
    name           text NOT NULL,
    cidr           text NOT NULL,
    cloud_provider text NOT NULL,
    region         text NOT NULL,
    private_link   boolean NOT NULL,
    customer_id    text,
    created_by     text NOT NULL,
    deleted        boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    version        bigint NOT NULL,
    PRIMARY KEY (tenant, id)
);
"#;

pub(super) async fn apply(tx: &mut PgConnection, event: &EventEnvelope) -> Result<(), ApplyError> {
    let tenant = event.event.tenant.as_str();
    let (at, version) = (event.event.occurred_at, event.sequence as i64);
    let (network_id, set) = match event.decode::<NetworkSpaceEvent>()? {
        NetworkSpaceEvent::CustomNetworkCreated { network: n } => {
            sqlx::query(
                "INSERT INTO custom_networks (tenant, id, space_id, name, cidr, cloud_provider,
                     region, private_link, customer_id, created_by, created_at, updated_at, version)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12)
                 ON CONFLICT (tenant, id) DO NOTHING",
            )
            .bind(tenant)
            .bind(&n.network_id)
            .bind(&event.event.aggregate_id)
            .bind(&n.name)
            .bind(&n.cidr)
            .bind(&n.cloud_provider)
            .bind(&n.region)
            .bind(n.private_link)
            .bind(&n.customer_id)
            .bind(&event.event.actor.id)
            .bind(at)
            .bind(version)
            .execute(&mut *tx)
            .await?;
            return Ok(());
        }
        NetworkSpaceEvent::CustomNetworkRenamed { network_id, name } => (network_id, Some(name)),
        NetworkSpaceEvent::CustomNetworkDeleted { network_id } => (network_id, None),
    };
    let result = sqlx::query(
        "UPDATE custom_networks SET name = coalesce($3, name), deleted = ($3 IS NULL),
             updated_at = $4, version = $5
         WHERE tenant = $1 AND id = $2 AND version < $5",
    )
    .bind(tenant)
    .bind(&network_id)
    .bind(set)
    .bind(at)
    .bind(version)
    .execute(&mut *tx)
    .await?;
    crate::changed_or_seen(tx, "custom_networks", tenant, network_id, result, event).await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct NetworkRow {
    pub id: String,
    pub name: String,
    pub cidr: String,
    pub cloud_provider: String,
    pub region: String,
    pub private_link: bool,
    pub customer_id: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const SELECT: &str = "SELECT id, name, cidr, cloud_provider, region, private_link, customer_id,
    created_by, created_at, updated_at FROM inventory.custom_networks";

pub async fn get(pool: &PgPool, tenant: &str, id: &str) -> Result<Option<NetworkRow>, sqlx::Error> {
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
    cloud_provider: Option<&str>,
    region: Option<&str>,
    customer_id: Option<&str>,
) -> Result<Vec<NetworkRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE tenant = $1 AND NOT deleted
           AND ($2::text IS NULL OR cloud_provider = $2)
           AND ($3::text IS NULL OR region = $3)
           AND ($4::text IS NULL OR customer_id = $4)
         ORDER BY created_at, id LIMIT 1000"
    ))
    .bind(tenant)
    .bind(cloud_provider)
    .bind(region)
    .bind(customer_id)
    .fetch_all(pool)
    .await
}
