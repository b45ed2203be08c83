//! Custom DNS names in the inventory: which instance's resource each name points at.

use chrono::{DateTime, Utc};
use fleet_domain::custom_dns::CustomDnsEvent;
use fleet_events::EventEnvelope;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::ApplyError;

pub(super) const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS custom_dns (
    tenant       text NOT NULL,
    name         text NOT NULL,
    instance_id  text,
    resource_key text,
    target_port  bigint,
    updated_at   timestamptz NOT NULL,
    version      bigint NOT NULL,
    PRIMARY KEY (tenant, name)
);
CREATE INDEX IF NOT EXISTS custom_dns_by_instance ON custom_dns (tenant, instance_id);
"#;

pub(super) async fn apply(tx: &mut PgConnection, event: &EventEnvelope) -> Result<(), ApplyError> {
    let (at, version) = (event.event.occurred_at, event.sequence as i64);
    match event.decode::<CustomDnsEvent>()? {
        CustomDnsEvent::CustomDnsClaimed {
            name,
            instance_id,
            resource_key,
            target_port,
        } => {
            sqlx::query(
                "INSERT INTO custom_dns (tenant, name, instance_id, resource_key, target_port,
                     updated_at, version)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (tenant, name) DO UPDATE SET instance_id = EXCLUDED.instance_id,
                     resource_key = EXCLUDED.resource_key, target_port = EXCLUDED.target_port,
                     updated_at = EXCLUDED.updated_at, version = EXCLUDED.version
                 WHERE custom_dns.version < EXCLUDED.version",
            )
            .bind(&event.event.tenant)
            .bind(name)
            .bind(instance_id)
            .bind(resource_key)
            .bind(target_port)
            .bind(at)
            .bind(version)
            .execute(&mut *tx)
            .await?;
        }
        CustomDnsEvent::CustomDnsReleased { instance_id } => {
            sqlx::query(
                "UPDATE custom_dns SET instance_id = NULL, resource_key = NULL, target_port = NULL,
                     updated_at = $3, version = $4
                 WHERE tenant = $1 AND instance_id = $2 AND version < $4",
            )
            .bind(&event.event.tenant)
            .bind(instance_id)
            .bind(at)
            .bind(version)
            .execute(&mut *tx)
            .await?;
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct CustomDnsRow {
    pub name: String,
    pub instance_id: String,
    pub resource_key: String,
    pub target_port: Option<i64>,
    pub updated_at: DateTime<Utc>,
}

/// The names pointing at the instance's resources.
pub async fn of_instance(
    pool: &PgPool,
    tenant: &str,
    instance_id: &str,
) -> Result<Vec<CustomDnsRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT name, instance_id, resource_key, target_port, updated_at FROM inventory.custom_dns
          WHERE tenant = $1 AND instance_id = $2 ORDER BY name",
    )
    .bind(tenant)
    .bind(instance_id)
    .fetch_all(pool)
    .await
}
