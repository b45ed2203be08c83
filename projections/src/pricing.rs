//! The price book as read models: currencies with their exchange-rate history, products with
//! their price history, and the provider's cost rates. Histories are kept whole so that any
//! amount can be rated with the price in force when its usage occurred.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use fleet_events::price_book::{PriceBookEvent, AGGREGATE_TYPE};
use fleet_events::EventEnvelope;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use crate::{ApplyError, Projection};

pub const NAME: &str = "pricing";

const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS currencies (
    tenant     text NOT NULL,
    code       text NOT NULL,
    main       boolean NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant, code)
);
-- Units of the main currency per unit of `code`, from `effective_from` on.
CREATE TABLE IF NOT EXISTS exchange_rates (
    tenant         text NOT NULL,
    code           text NOT NULL,
    rate           numeric NOT NULL,
    effective_from timestamptz NOT NULL,
    sequence       bigint NOT NULL,
    PRIMARY KEY (tenant, code, effective_from)
);
CREATE TABLE IF NOT EXISTS products (
    tenant     text NOT NULL,
    code       text NOT NULL,
    name       text NOT NULL,
    category   text NOT NULL,
    unit       text NOT NULL,
    currency   text NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant, code)
);
CREATE TABLE IF NOT EXISTS product_prices (
    tenant         text NOT NULL,
    code           text NOT NULL,
    effective_from timestamptz NOT NULL,
    pricing        jsonb NOT NULL,
    sequence       bigint NOT NULL,
    PRIMARY KEY (tenant, code, effective_from)
);
ALTER TABLE currencies ADD COLUMN IF NOT EXISTS label text;
ALTER TABLE currencies ADD COLUMN IF NOT EXISTS plural_label text;
ALTER TABLE currencies ADD COLUMN IF NOT EXISTS symbol text;
ALTER TABLE products ADD COLUMN IF NOT EXISTS metadata jsonb;
ALTER TABLE products ADD COLUMN IF NOT EXISTS updated_at timestamptz;
CREATE TABLE IF NOT EXISTS cost_rates (
    tenant         text NOT NULL,
    cloud_provider text NOT NULL,
    region         text NOT NULL,
    instance_type  text NOT NULL,
    hourly         numeric NOT NULL,
    currency       text NOT NULL,
    effective_from timestamptz NOT NULL,
    sequence       bigint NOT NULL,
    PRIMARY KEY (tenant, cloud_provider, region, instance_type, effective_from)
);
"#;

/// A product's price or metadata changed at `at`.
async fn touch(
    tx: &mut PgConnection,
    tenant: &str,
    code: &str,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE products SET updated_at = $3 WHERE tenant = $1 AND code = $2")
        .bind(tenant)
        .bind(code)
        .bind(at)
        .execute(tx)
        .await
        .map(|_| ())
}

/// Rates given when a currency is added apply to all time before their first change.
fn since_always() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH
}

pub struct Pricing;

#[async_trait]
impl Projection for Pricing {
    fn name(&self) -> &'static str {
        NAME
    }

    fn ddl(&self) -> Vec<&'static str> {
        vec![DDL]
    }

    fn handles(&self, aggregate_type: &str) -> bool {
        aggregate_type == AGGREGATE_TYPE
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        events: &[EventEnvelope],
    ) -> Result<(), ApplyError> {
        for event in events {
            apply(tx, event).await?;
        }
        Ok(())
    }
}

async fn apply(tx: &mut PgConnection, event: &EventEnvelope) -> Result<(), ApplyError> {
    let (tenant, at, sequence) = (
        &event.event.tenant,
        event.event.occurred_at,
        event.sequence as i64,
    );
    let rate = |code: &str, rate: Decimal, from: DateTime<Utc>| {
        sqlx::query(
            "INSERT INTO exchange_rates (tenant, code, rate, effective_from, sequence)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (tenant, code, effective_from) DO UPDATE
                 SET rate = EXCLUDED.rate, sequence = EXCLUDED.sequence",
        )
        .bind(tenant.clone())
        .bind(code.to_owned())
        .bind(rate)
        .bind(from)
        .bind(sequence)
    };
    let price = |code: &str, pricing: Value, from: DateTime<Utc>| {
        sqlx::query(
            "INSERT INTO product_prices (tenant, code, effective_from, pricing, sequence)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (tenant, code, effective_from) DO UPDATE
                 SET pricing = EXCLUDED.pricing, sequence = EXCLUDED.sequence",
        )
        .bind(tenant.clone())
        .bind(code.to_owned())
        .bind(from)
        .bind(pricing)
        .bind(sequence)
    };
    match event.decode::<PriceBookEvent>()? {
        PriceBookEvent::CurrencyAdded {
            code,
            main,
            rate: r,
            names,
        } => {
            let names = names.as_ref();
            sqlx::query(
                "INSERT INTO currencies (tenant, code, main, created_at, label, plural_label,
                     symbol)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            )
            .bind(tenant)
            .bind(&code)
            .bind(main)
            .bind(at)
            .bind(names.map(|n| n.label.clone()))
            .bind(names.map(|n| n.plural_label.clone()))
            .bind(names.map(|n| n.symbol.clone()))
            .execute(&mut *tx)
            .await?;
            rate(&code, r, since_always()).execute(&mut *tx).await?;
        }
        PriceBookEvent::ExchangeRateSet {
            code,
            rate: r,
            effective_from,
        } => {
            rate(&code, r, effective_from).execute(&mut *tx).await?;
        }
        PriceBookEvent::ProductCreated {
            code,
            name,
            category,
            unit,
            currency,
            pricing,
            effective_from,
        } => {
            sqlx::query(
                "INSERT INTO products (tenant, code, name, category, unit, currency, created_at,
                     updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT DO NOTHING",
            )
            .bind(tenant)
            .bind(&code)
            .bind(name)
            .bind(category)
            .bind(unit)
            .bind(currency)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            price(&code, pricing, effective_from)
                .execute(&mut *tx)
                .await?;
        }
        PriceBookEvent::ProductPriceChanged {
            code,
            pricing,
            effective_from,
        } => {
            price(&code, pricing, effective_from)
                .execute(&mut *tx)
                .await?;
            touch(&mut *tx, tenant, &code, at).await?;
        }
        PriceBookEvent::ProductMetadataSet { code, metadata } => {
            sqlx::query(
                "UPDATE products SET metadata = $3, updated_at = $4 WHERE tenant = $1 AND code = $2",
            )
            .bind(tenant)
            .bind(&code)
            .bind((!metadata.is_null()).then_some(metadata))
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        PriceBookEvent::CostRateSet {
            cloud_provider,
            region,
            instance_type,
            hourly,
            currency,
            effective_from,
        } => {
            sqlx::query(
                "INSERT INTO cost_rates (tenant, cloud_provider, region, instance_type, hourly,
                     currency, effective_from, sequence)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (tenant, cloud_provider, region, instance_type, effective_from)
                 DO UPDATE SET hourly = EXCLUDED.hourly, currency = EXCLUDED.currency,
                     sequence = EXCLUDED.sequence",
            )
            .bind(tenant)
            .bind(cloud_provider)
            .bind(region)
            .bind(instance_type)
            .bind(hourly)
            .bind(currency)
            .bind(effective_from)
            .bind(sequence)
            .execute(&mut *tx)
            .await?;
        }
    }
    Ok(())
}

// ---- queries ----

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct CurrencyRow {
    pub code: String,
    pub main: bool,
    /// In force now.
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    pub rate: Decimal,
    pub rate_effective_from: DateTime<Utc>,
    /// A change scheduled for later, if any.
    #[schemars(with = "Option<fleet_events::schemas::DecimalString>")]
    pub next_rate: Option<Decimal>,
    pub next_rate_effective_from: Option<DateTime<Utc>>,
    /// How people name it, when it was added with names.
    pub label: Option<String>,
    pub plural_label: Option<String>,
    pub symbol: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn currencies(pool: &PgPool, tenant: &str) -> Result<Vec<CurrencyRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.code, c.main, now_rate.rate, now_rate.effective_from AS rate_effective_from,
                next_rate.rate AS next_rate, next_rate.effective_from AS next_rate_effective_from,
                c.label, c.plural_label, c.symbol, c.created_at
         FROM pricing.currencies c
         CROSS JOIN LATERAL (SELECT rate, effective_from FROM pricing.exchange_rates r
                             WHERE r.tenant = c.tenant AND r.code = c.code AND r.effective_from <= now()
                             ORDER BY effective_from DESC LIMIT 1) now_rate
         LEFT JOIN LATERAL (SELECT rate, effective_from FROM pricing.exchange_rates r
                            WHERE r.tenant = c.tenant AND r.code = c.code AND r.effective_from > now()
                            ORDER BY effective_from LIMIT 1) next_rate ON true
         WHERE c.tenant = $1 ORDER BY c.main DESC, c.code",
    )
    .bind(tenant)
    .fetch_all(pool)
    .await
}

/// The tenant's main currency, if it has one yet.
pub async fn main_currency<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    tenant: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT code FROM pricing.currencies WHERE tenant = $1 AND main")
        .bind(tenant)
        .fetch_optional(executor)
        .await
}

/// Units of the main currency per unit of `code` at `at`.
pub async fn rate_at<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    tenant: &str,
    code: &str,
    at: DateTime<Utc>,
) -> Result<Option<Decimal>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT rate FROM pricing.exchange_rates
         WHERE tenant = $1 AND code = $2 AND effective_from <= $3
         ORDER BY effective_from DESC LIMIT 1",
    )
    .bind(tenant)
    .bind(code)
    .bind(at)
    .fetch_optional(executor)
    .await
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct ProductRow {
    pub code: String,
    pub name: String,
    pub category: String,
    pub unit: String,
    pub currency: String,
    /// The price in force now.
    pub pricing: Value,
    pub price_effective_from: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// When its price or metadata last changed.
    pub updated_at: DateTime<Utc>,
    /// Free-form data the tenant keeps with it; `null` until set.
    pub metadata: Option<Value>,
}

const PRODUCT: &str = "SELECT p.code, p.name, p.category, p.unit, p.currency, price.pricing,
        price.effective_from AS price_effective_from, p.created_at,
        coalesce(p.updated_at, p.created_at) AS updated_at, p.metadata
    FROM pricing.products p
    CROSS JOIN LATERAL (SELECT pricing, effective_from FROM pricing.product_prices pp
                        WHERE pp.tenant = p.tenant AND pp.code = p.code
                        ORDER BY (pp.effective_from <= now()) DESC,
                                 CASE WHEN pp.effective_from <= now() THEN pp.effective_from END DESC,
                                 pp.effective_from
                        LIMIT 1) price";

pub async fn products(pool: &PgPool, tenant: &str) -> Result<Vec<ProductRow>, sqlx::Error> {
    sqlx::query_as(&format!("{PRODUCT} WHERE p.tenant = $1 ORDER BY p.code"))
        .bind(tenant)
        .fetch_all(pool)
        .await
}

pub async fn product(
    pool: &PgPool,
    tenant: &str,
    code: &str,
) -> Result<Option<ProductRow>, sqlx::Error> {
    sqlx::query_as(&format!("{PRODUCT} WHERE p.tenant = $1 AND p.code = $2"))
        .bind(tenant)
        .bind(code)
        .fetch_optional(pool)
        .await
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct PriceRow {
    pub effective_from: DateTime<Utc>,
    pub pricing: Value,
}

pub async fn price_history(
    pool: &PgPool,
    tenant: &str,
    code: &str,
) -> Result<Vec<PriceRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT effective_from, pricing FROM pricing.product_prices
         WHERE tenant = $1 AND code = $2 ORDER BY effective_from",
    )
    .bind(tenant)
    .bind(code)
    .fetch_all(pool)
    .await
}

/// The product's pricing and currency in force at `at`.
pub async fn price_at(
    pool: &PgPool,
    tenant: &str,
    code: &str,
    at: DateTime<Utc>,
) -> Result<Option<(Value, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT pp.pricing, p.currency FROM pricing.product_prices pp
         JOIN pricing.products p ON p.tenant = pp.tenant AND p.code = pp.code
         WHERE pp.tenant = $1 AND pp.code = $2 AND pp.effective_from <= $3
         ORDER BY pp.effective_from DESC LIMIT 1",
    )
    .bind(tenant)
    .bind(code)
    .bind(at)
    .fetch_optional(pool)
    .await
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct CostRateRow {
    pub cloud_provider: String,
    pub region: String,
    pub instance_type: String,
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    pub hourly: Decimal,
    pub currency: String,
    pub effective_from: DateTime<Utc>,
}

pub async fn cost_rates(pool: &PgPool, tenant: &str) -> Result<Vec<CostRateRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT cloud_provider, region, instance_type, hourly, currency, effective_from
         FROM pricing.cost_rates WHERE tenant = $1
         ORDER BY cloud_provider, region, instance_type, effective_from",
    )
    .bind(tenant)
    .fetch_all(pool)
    .await
}
