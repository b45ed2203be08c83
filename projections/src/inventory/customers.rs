//! Customers in the inventory, with their reseller relationships and licenses.

use chrono::{DateTime, Utc};
use fleet_domain::customer::CustomerEvent;
use fleet_events::EventEnvelope;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::expect_row;
use crate::uuid_of;
use crate::ApplyError;

pub(super) const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS customers (
    id                  uuid PRIMARY KEY,
    tenant              text NOT NULL,
    name                text NOT NULL,
    country             text NOT NULL,
    email               text NOT NULL,
    domain              text,
    tax_id              text,
    internal_identifier text,
    status              text NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    deleted_at          timestamptz,
    version             bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS customers_by_tenant ON customers (tenant, id);
CREATE TABLE IF NOT EXISTS reseller_relationships (
    id                   text PRIMARY KEY,
    tenant               text NOT NULL,
    customer_id          uuid NOT NULL,
    provider_instance_id text NOT NULL,
    reseller_id          text,
    status               text NOT NULL,
    created_at           timestamptz NOT NULL,
    removed_at           timestamptz
);
CREATE INDEX IF NOT EXISTS relationships_by_customer ON reseller_relationships (tenant, customer_id);
CREATE TABLE IF NOT EXISTS licenses (
    tenant               text NOT NULL,
    customer_id          uuid NOT NULL,
    provider_instance_id text NOT NULL,
    sku_id               text NOT NULL,
    name                 text NOT NULL,
    total                bigint NOT NULL,
    consumed             bigint NOT NULL,
    suspended            bigint NOT NULL,
    updated_at           timestamptz NOT NULL,
    PRIMARY KEY (customer_id, provider_instance_id, sku_id)
);
"#;

pub(super) async fn apply(tx: &mut PgConnection, event: &EventEnvelope) -> Result<(), ApplyError> {
    let id = uuid_of(event)?;
    let (tenant, at, version) = (
        &event.event.tenant,
        event.event.occurred_at,
        event.sequence as i64,
    );
    match event.decode::<CustomerEvent>()? {
        CustomerEvent::CustomerCreated { profile } => {
            sqlx::query(
                "INSERT INTO customers (id, tenant, name, country, email, domain, tax_id,
                     internal_identifier, status, created_at, updated_at, version)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', $9, $9, $10)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(tenant)
            .bind(&profile.name)
            .bind(&profile.country)
            .bind(&profile.email)
            .bind(&profile.domain)
            .bind(&profile.tax_id)
            .bind(&profile.internal_identifier)
            .bind(at)
            .bind(version)
            .execute(&mut *tx)
            .await?;
        }
        CustomerEvent::CustomerUpdated { changes } => {
            let result = sqlx::query(
                "UPDATE customers SET name = COALESCE($2, name), country = COALESCE($3, country),
                     email = COALESCE($4, email), domain = COALESCE($5, domain),
                     tax_id = COALESCE($6, tax_id),
                     internal_identifier = COALESCE($7, internal_identifier),
                     updated_at = $8, version = $9
                 WHERE id = $1",
            )
            .bind(id)
            .bind(&changes.name)
            .bind(&changes.country)
            .bind(&changes.email)
            .bind(&changes.domain)
            .bind(&changes.tax_id)
            .bind(&changes.internal_identifier)
            .bind(at)
            .bind(version)
            .execute(&mut *tx)
            .await?;
            expect_row(result, event)?;
        }
        CustomerEvent::CustomerDeleted {} => {
            let result = sqlx::query(
                "UPDATE customers SET status = 'deleted', deleted_at = $2, updated_at = $2,
                     version = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(at)
            .bind(version)
            .execute(&mut *tx)
            .await?;
            expect_row(result, event)?;
        }
        CustomerEvent::ResellerRelationshipAdded {
            relationship_id,
            provider_instance_id,
            reseller_id,
        } => {
            sqlx::query(
                "INSERT INTO reseller_relationships (id, tenant, customer_id, provider_instance_id,
                     reseller_id, status, created_at)
                 VALUES ($1, $2, $3, $4, $5, 'active', $6) ON CONFLICT (id) DO NOTHING",
            )
            .bind(&relationship_id)
            .bind(tenant)
            .bind(id)
            .bind(&provider_instance_id)
            .bind(&reseller_id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        CustomerEvent::ResellerRelationshipRemoved { relationship_id } => {
            let result = sqlx::query(
                "UPDATE reseller_relationships SET status = 'removed', removed_at = $2
                 WHERE id = $1",
            )
            .bind(&relationship_id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            expect_row(result, event)?;
        }
        CustomerEvent::CustomerLicenseRecorded { license } => {
            sqlx::query(
                "INSERT INTO licenses (tenant, customer_id, provider_instance_id, sku_id, name,
                     total, consumed, suspended, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (customer_id, provider_instance_id, sku_id) DO UPDATE SET
                     name = EXCLUDED.name, total = EXCLUDED.total, consumed = EXCLUDED.consumed,
                     suspended = EXCLUDED.suspended, updated_at = EXCLUDED.updated_at",
            )
            .bind(tenant)
            .bind(id)
            .bind(&license.provider_instance_id)
            .bind(&license.sku_id)
            .bind(&license.name)
            .bind(license.total)
            .bind(license.consumed)
            .bind(license.suspended)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        // Billing terms are read from the customer's own history when an invoice is made.
        CustomerEvent::CustomerBillingTermsSet { .. } => {
            let result =
                sqlx::query("UPDATE customers SET updated_at = $2, version = $3 WHERE id = $1")
                    .bind(id)
                    .bind(at)
                    .bind(version)
                    .execute(&mut *tx)
                    .await?;
            expect_row(result, event)?;
        }
    }
    Ok(())
}

// ---- queries ----

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct CustomerRow {
    pub id: Uuid,
    #[serde(skip)]
    pub tenant: String,
    pub name: String,
    pub country: String,
    pub email: String,
    pub domain: Option<String>,
    pub tax_id: Option<String>,
    pub internal_identifier: Option<String>,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub version: i64,
}

const COLUMNS: &str = "id, tenant, name, country, email, domain, tax_id, internal_identifier, \
    status, created_at, updated_at, deleted_at, version";

pub async fn get(
    pool: &PgPool,
    tenant: &str,
    id: Uuid,
) -> Result<Option<CustomerRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM inventory.customers WHERE tenant = $1 AND id = $2"
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional(pool)
    .await
}

#[derive(Debug, Default, Clone)]
pub struct CustomerFilter {
    /// Case-insensitive substring of the name, domain or internal identifier.
    pub search: Option<String>,
    pub country: Option<String>,
    pub include_deleted: bool,
}

pub async fn list(
    pool: &PgPool,
    tenant: &str,
    filter: &CustomerFilter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<CustomerRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM inventory.customers
         WHERE tenant = $1
           AND ($2::text IS NULL OR name ILIKE '%' || $2 || '%' OR domain ILIKE '%' || $2 || '%'
                OR internal_identifier ILIKE '%' || $2 || '%')
           AND ($3::text IS NULL OR country = $3)
           AND ($4 OR status <> 'deleted')
           AND ($5::uuid IS NULL OR id > $5)
         ORDER BY id LIMIT $6"
    ))
    .bind(tenant)
    .bind(&filter.search)
    .bind(&filter.country)
    .bind(filter.include_deleted)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct RelationshipRow {
    pub id: String,
    pub customer_id: Uuid,
    pub provider_instance_id: String,
    pub reseller_id: Option<String>,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub removed_at: Option<DateTime<Utc>>,
}

pub async fn relationships(
    pool: &PgPool,
    tenant: &str,
    customer_id: Uuid,
) -> Result<Vec<RelationshipRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, customer_id, provider_instance_id, reseller_id, status, created_at, removed_at
         FROM inventory.reseller_relationships WHERE tenant = $1 AND customer_id = $2
         ORDER BY created_at, id",
    )
    .bind(tenant)
    .bind(customer_id)
    .fetch_all(pool)
    .await
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct LicenseRow {
    pub provider_instance_id: String,
    pub sku_id: String,
    pub name: String,
    pub total: i64,
    pub consumed: i64,
    pub available: i64,
    pub suspended: i64,
    pub updated_at: DateTime<Utc>,
}

pub async fn licenses(
    pool: &PgPool,
    tenant: &str,
    customer_id: Uuid,
    provider_instance_id: Option<&str>,
) -> Result<Vec<LicenseRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT provider_instance_id, sku_id, name, total, consumed, total - consumed AS available,
                suspended, updated_at
         FROM inventory.licenses
         WHERE tenant = $1 AND customer_id = $2
           AND ($3::text IS NULL OR provider_instance_id = $3)
         ORDER BY provider_instance_id, sku_id",
    )
    .bind(tenant)
    .bind(customer_id)
    .bind(provider_instance_id)
    .fetch_all(pool)
    .await
}

/// The customers among `ids` that are not deleted, in id order.
pub async fn of_ids(
    pool: &PgPool,
    tenant: &str,
    ids: &[Uuid],
) -> Result<Vec<CustomerRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM inventory.customers
         WHERE tenant = $1 AND id = ANY($2) AND status <> 'deleted' ORDER BY id"
    ))
    .bind(tenant)
    .bind(ids)
    .fetch_all(pool)
    .await
}

/// Customers with invoices (of a status, dated within a window, when given).
pub async fn with_invoices(
    pool: &PgPool,
    tenant: &str,
    status: Option<&str>,
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
) -> Result<Vec<CustomerRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM inventory.customers c
         WHERE tenant = $1 AND status <> 'deleted' AND EXISTS (
             SELECT 1 FROM invoices.invoices v
              WHERE v.tenant = c.tenant AND v.customer_id = c.id::text AND v.status <> 'deleted'
                AND ($2::text IS NULL OR v.status = $2)
                AND ($3::date IS NULL OR v.invoice_date >= $3)
                AND ($4::date IS NULL OR v.invoice_date <= $4))
         ORDER BY id"
    ))
    .bind(tenant)
    .bind(status)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
}
