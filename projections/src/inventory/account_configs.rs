//! Account configs (customers' own cloud accounts) in the inventory, deleted ones kept.

use chrono::{DateTime, Utc};
use fleet_domain::account_config::AccountConfigEvent;
use fleet_events::EventEnvelope;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::ApplyError;

pub(super) const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS account_configs (
    tenant                text NOT NULL,
    id                    uuid NOT NULL,
    name                  text NOT NULL,
    description           text,
    cloud_provider        text NOT NULL,
    customer_id           text,
    aws_account_id        text,
    aws_bootstrap_role_arn text,
    gcp_project_id        text,
    gcp_project_number    text,
    azure_subscription_id text,
    azure_tenant_id       text,
    status                text NOT NULL,
    status_message        text,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    version               bigint NOT NULL,
    PRIMARY KEY (tenant, id)
);
"#;

pub(super) async fn apply(tx: &mut PgConnection, event: &EventEnvelope) -> Result<(), ApplyError> {
    let tenant = event.event.tenant.as_str();
    let id = crate::uuid_of(event)?;
    let (at, version) = (event.event.occurred_at, event.sequence as i64);
    let (status, message) = match event.decode::<AccountConfigEvent>()? {
        AccountConfigEvent::AccountConfigCreated { account: a } => {
            sqlx::query(
                "INSERT INTO account_configs (tenant, id, name, description, cloud_provider,
                     customer_id, aws_account_id, aws_bootstrap_role_arn, gcp_project_id,
                     gcp_project_number, azure_subscription_id, azure_tenant_id, status,
                     created_at, updated_at, version)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'pending', $13, $13, $14)
                 ON CONFLICT (tenant, id) DO NOTHING",
            )
            .bind(tenant)
            .bind(id)
            .bind(&a.name)
            .bind(&a.description)
            .bind(&a.cloud_provider)
            .bind(&a.customer_id)
            .bind(&a.aws_account_id)
            .bind(&a.aws_bootstrap_role_arn)
            .bind(&a.gcp_project_id)
            .bind(&a.gcp_project_number)
            .bind(&a.azure_subscription_id)
            .bind(&a.azure_tenant_id)
            .bind(at)
            .bind(version)
            .execute(&mut *tx)
            .await?;
            return Ok(());
        }
        AccountConfigEvent::AccountConfigConnected {} => {
            ("verifying", Some("Verifying the account".to_owned()))
        }
        AccountConfigEvent::AccountConfigVerified {
            ready: true,
            message,
        } => (
            "ready",
            Some(message.unwrap_or_else(|| "Account is ready".into())),
        ),
        AccountConfigEvent::AccountConfigVerified {
            ready: false,
            message,
        } => ("failed", message),
        AccountConfigEvent::AccountConfigDisconnected {} => (
            "ready_to_offboard",
            Some("Account is disconnected and ready to offboard".into()),
        ),
        AccountConfigEvent::AccountConfigDeleted {} => ("deleted", None),
    };
    let result = sqlx::query(
        "UPDATE account_configs SET status = $3, status_message = $4, updated_at = $5,
             version = $6
         WHERE tenant = $1 AND id = $2 AND version < $6",
    )
    .bind(tenant)
    .bind(id)
    .bind(status)
    .bind(message)
    .bind(at)
    .bind(version)
    .execute(&mut *tx)
    .await?;
    crate::changed_or_seen(tx, "account_configs", tenant, id, result, event).await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct AccountConfigRow {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub cloud_provider: String,
    pub customer_id: Option<String>,
    pub aws_account_id: Option<String>,
    pub aws_bootstrap_role_arn: Option<String>,
    pub gcp_project_id: Option<String>,
    pub gcp_project_number: Option<String>,
    pub azure_subscription_id: Option<String>,
    pub azure_tenant_id: Option<String>,
    pub status: String,
    pub status_message: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const SELECT: &str = "SELECT id, name, description, cloud_provider, customer_id, aws_account_id,
    aws_bootstrap_role_arn, gcp_project_id, gcp_project_number, azure_subscription_id,
    azure_tenant_id, status, status_message, created_at, updated_at FROM inventory.account_configs";

/// A live (not deleted) account config.
pub async fn get(
    pool: &PgPool,
    tenant: &str,
    id: Uuid,
) -> Result<Option<AccountConfigRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE tenant = $1 AND id = $2 AND status <> 'deleted'"
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// The live account configs of a provider (all of them for `None`), in id order.
pub async fn list(
    pool: &PgPool,
    tenant: &str,
    cloud_provider: Option<&str>,
) -> Result<Vec<AccountConfigRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE tenant = $1 AND status <> 'deleted'
           AND ($2::text IS NULL OR cloud_provider = $2) ORDER BY id LIMIT 1000"
    ))
    .bind(tenant)
    .bind(cloud_provider)
    .fetch_all(pool)
    .await
}
