//! Usage: every counted record (the ids that make counting exactly-once), and daily rollups
//! per subscription and per customer, provider and project.
//!
//! A batch is one statement: the records are inserted (see [`crate::insert_once`] for how a
//! repeated id is kept out), and only the rows actually inserted are added to the rollups, so a
//! record seen twice is counted once however it arrives (a retried batch, a duplicate inside a
//! batch, a month later).

use std::sync::LazyLock;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use fleet_events::usage::{UsageEvent, UsageRecord};
use fleet_events::EventEnvelope;
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::insert_once::{self, Statement};
use crate::{ApplyError, Projection, Source};

pub const NAME: &str = "usage";

const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS records (
    tenant          text NOT NULL,
    id              text NOT NULL,
    subscription_id text NOT NULL,
    customer_id     text NOT NULL,
    product         text NOT NULL,
    quantity        numeric NOT NULL,
    occurred_at     timestamptz NOT NULL,
    instance_id     text,
    project_id      text,
    provider_id     text,
    sequence        bigint NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE TABLE IF NOT EXISTS daily (
    tenant          text NOT NULL,
    subscription_id text NOT NULL,
    customer_id     text NOT NULL,
    product         text NOT NULL,
    provider_id     text NOT NULL,
    project_id      text NOT NULL,
    day             date NOT NULL,
    quantity        numeric NOT NULL,
    PRIMARY KEY (tenant, subscription_id, product, day, provider_id, project_id)
);
"#;

/// Only queries read by these, so a rebuild makes them once it has caught up.
const READER_INDEXES: &str = r#"
CREATE INDEX IF NOT EXISTS daily_by_customer ON daily (tenant, customer_id, day);
-- Invoices read a customer's records by their place in the stream: the ones appended since
-- a period began (its own usage) or since its invoice was made (late usage).
CREATE INDEX IF NOT EXISTS records_by_customer_position ON records (tenant, customer_id, sequence);
"#;

/// The records of a batch, and what they add to the daily sums: only the rows inserted, so a
/// record already counted adds nothing.
static INSERT_RECORDS: LazyLock<Statement> = LazyLock::new(|| {
    Statement::new(
        "WITH counted AS (
             INSERT INTO records (tenant, id, subscription_id, customer_id, product, quantity,
                 occurred_at, instance_id, project_id, provider_id, sequence)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                 $6::numeric[], $7::timestamptz[], $8::text[], $9::text[], $10::text[], $11::int8[])
             {on_conflict}
             RETURNING tenant, subscription_id, customer_id, product, provider_id, project_id,
                 (occurred_at AT TIME ZONE 'UTC')::date AS day, quantity)
         INSERT INTO daily (tenant, subscription_id, customer_id, product, provider_id,
             project_id, day, quantity)
         SELECT tenant, subscription_id, customer_id, product, coalesce(provider_id, ''),
             coalesce(project_id, ''), day, sum(quantity)
         FROM counted
         GROUP BY 1, 2, 3, 4, 5, 6, 7
         ON CONFLICT (tenant, subscription_id, product, day, provider_id, project_id)
         DO UPDATE SET quantity = daily.quantity + EXCLUDED.quantity",
        "ON CONFLICT (tenant, id) DO NOTHING",
    )
});

pub struct Usage;

#[async_trait]
impl Projection for Usage {
    fn name(&self) -> &'static str {
        NAME
    }

    fn source(&self) -> Source {
        Source::Usage
    }

    fn ddl(&self) -> Vec<&'static str> {
        vec![DDL]
    }

    fn reader_indexes(&self) -> Vec<&'static str> {
        vec![READER_INDEXES]
    }

    fn handles(&self, aggregate_type: &str) -> bool {
        aggregate_type == fleet_events::usage::AGGREGATE_TYPE
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        events: &[EventEnvelope],
    ) -> Result<(), ApplyError> {
        let mut columns = Columns::default();
        for event in events {
            let UsageEvent::UsageRecorded { records } = event.decode::<UsageEvent>()?;
            for record in records {
                columns.push(&event.event.tenant, record, event.sequence as i64);
            }
        }
        if columns.id.is_empty() {
            return Ok(());
        }
        let c = &columns;
        insert_once::insert(tx, &INSERT_RECORDS, c.id.len(), |query| {
            query
                .bind(&c.tenant)
                .bind(&c.id)
                .bind(&c.subscription_id)
                .bind(&c.customer_id)
                .bind(&c.product)
                .bind(&c.quantity)
                .bind(&c.occurred_at)
                .bind(&c.instance_id)
                .bind(&c.project_id)
                .bind(&c.provider_id)
                .bind(&c.sequence)
        })
        .await?;
        Ok(())
    }
}

/// The batch column by column, for UNNEST. An id twice in one statement would make the plain
/// insert fail and `ON CONFLICT` too ("cannot affect row a second time"), so the first of each
/// id wins here.
#[derive(Default)]
struct Columns {
    seen: std::collections::HashSet<(String, String)>,
    tenant: Vec<String>,
    id: Vec<String>,
    subscription_id: Vec<String>,
    customer_id: Vec<String>,
    product: Vec<String>,
    quantity: Vec<Decimal>,
    occurred_at: Vec<DateTime<Utc>>,
    instance_id: Vec<Option<String>>,
    project_id: Vec<Option<String>>,
    provider_id: Vec<Option<String>>,
    sequence: Vec<i64>,
}

impl Columns {
    fn push(&mut self, tenant: &str, record: UsageRecord, sequence: i64) {
        if !self.seen.insert((tenant.to_owned(), record.id.clone())) {
            return;
        }
        self.tenant.push(tenant.to_owned());
        self.id.push(record.id);
        self.subscription_id.push(record.subscription_id);
        self.customer_id.push(record.customer_id);
        self.product.push(record.product);
        self.quantity.push(record.quantity);
        self.occurred_at.push(record.occurred_at);
        self.instance_id.push(record.instance_id);
        self.project_id.push(record.project_id);
        self.provider_id.push(record.provider_id);
        self.sequence.push(sequence);
    }
}

// ---- queries ----

/// Which of these record ids were counted already.
pub async fn known_ids(
    pool: &PgPool,
    tenant: &str,
    ids: &[String],
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM usage.records WHERE tenant = $1 AND id = ANY($2)")
        .bind(tenant)
        .bind(ids)
        .fetch_all(pool)
        .await
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Total {
    pub product: String,
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    pub quantity: Decimal,
}

/// Totals per product of a subscription over [start, end) days.
pub async fn subscription_totals(
    pool: &PgPool,
    tenant: &str,
    subscription_id: &str,
    start: NaiveDate,
    end: NaiveDate,
) -> Result<Vec<Total>, sqlx::Error> {
    sqlx::query_as(
        "SELECT product, sum(quantity) AS quantity FROM usage.daily
         WHERE tenant = $1 AND subscription_id = $2 AND day >= $3 AND day < $4
         GROUP BY product ORDER BY product",
    )
    .bind(tenant)
    .bind(subscription_id)
    .bind(start)
    .bind(end)
    .fetch_all(pool)
    .await
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct DailyTotal {
    pub day: NaiveDate,
    pub product: String,
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    pub quantity: Decimal,
}

/// One row per day per product of a subscription over [start, end).
pub async fn subscription_daily(
    pool: &PgPool,
    tenant: &str,
    subscription_id: &str,
    start: NaiveDate,
    end: NaiveDate,
) -> Result<Vec<DailyTotal>, sqlx::Error> {
    sqlx::query_as(
        "SELECT day, product, sum(quantity) AS quantity FROM usage.daily
         WHERE tenant = $1 AND subscription_id = $2 AND day >= $3 AND day < $4
         GROUP BY day, product ORDER BY day, product",
    )
    .bind(tenant)
    .bind(subscription_id)
    .bind(start)
    .bind(end)
    .fetch_all(pool)
    .await
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct CustomerTotal {
    pub provider_id: String,
    pub project_id: String,
    pub product: String,
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    pub quantity: Decimal,
}

/// A customer's usage over [start, end) per provider, project and product, but for the
/// `excluded` subscriptions' (deleted with their charges).
pub async fn customer_totals(
    pool: &PgPool,
    tenant: &str,
    customer_id: &str,
    start: NaiveDate,
    end: NaiveDate,
    excluded: &[String],
) -> Result<Vec<CustomerTotal>, sqlx::Error> {
    sqlx::query_as(
        "SELECT provider_id, project_id, product, sum(quantity) AS quantity FROM usage.daily
         WHERE tenant = $1 AND customer_id = $2 AND day >= $3 AND day < $4
           AND NOT (subscription_id = ANY($5))
         GROUP BY provider_id, project_id, product ORDER BY provider_id, project_id, product",
    )
    .bind(tenant)
    .bind(customer_id)
    .bind(start)
    .bind(end)
    .bind(excluded)
    .fetch_all(pool)
    .await
}

/// A customer's usage in one window of some coverage ranges, per provider, project, product.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct WindowTotal {
    pub window_start: NaiveDate,
    pub provider_id: String,
    pub project_id: String,
    pub product: String,
    pub quantity: Decimal,
}

/// The customer's records that occurred in each range's window and sit in the usage stream
/// within `(after, through]`, summed per window, provider, project and product, but for the
/// `excluded` subscriptions' (deleted with their charges). Each range is read from the
/// customer's records by position, so narrow ranges are cheap.
pub async fn quantities_in(
    conn: &mut PgConnection,
    tenant: &str,
    customer_id: &str,
    ranges: &[fleet_events::invoice::Coverage],
    excluded: &[String],
) -> Result<Vec<WindowTotal>, sqlx::Error> {
    if ranges.is_empty() {
        return Ok(Vec::new());
    }
    let starts: Vec<NaiveDate> = ranges.iter().map(|r| r.window.start).collect();
    let ends: Vec<NaiveDate> = ranges.iter().map(|r| r.window.end).collect();
    let afters: Vec<i64> = ranges.iter().map(|r| r.after as i64).collect();
    let throughs: Vec<i64> = ranges.iter().map(|r| r.through as i64).collect();
    sqlx::query_as(
        "SELECT s.window_start, coalesce(r.provider_id, '') AS provider_id,
             coalesce(r.project_id, '') AS project_id, r.product, sum(r.quantity) AS quantity
         FROM UNNEST($3::date[], $4::date[], $5::int8[], $6::int8[])
             AS s(window_start, window_end, after_position, through_position)
         JOIN usage.records r ON r.tenant = $1 AND r.customer_id = $2
             AND r.occurred_at >= (s.window_start::timestamp AT TIME ZONE 'UTC')
             AND r.occurred_at < (s.window_end::timestamp AT TIME ZONE 'UTC')
             AND r.sequence > s.after_position AND r.sequence <= s.through_position
             AND NOT (r.subscription_id = ANY($7))
         GROUP BY 1, 2, 3, 4
         ORDER BY 1, 2, 3, 4",
    )
    .bind(tenant)
    .bind(customer_id)
    .bind(starts)
    .bind(ends)
    .bind(afters)
    .bind(throughs)
    .bind(excluded)
    .fetch_all(&mut *conn)
    .await
}
