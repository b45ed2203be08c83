//! Invoices: one row per invoice with its frozen document, and the usage each live invoice
//! bills (`coverage`), which the next invoice of the customer reads to find late usage.
//!
//! A void or deleted invoice gives its coverage back: its usage is billed again by whichever
//! invoice is generated next for its period.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use fleet_events::invoice::{Coverage, InvoiceDocument, InvoiceEvent, Period, AGGREGATE_TYPE};
use fleet_events::EventEnvelope;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::{ApplyError, Projection};

pub const NAME: &str = "invoices";

const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS invoices (
    id                  uuid PRIMARY KEY,
    tenant              text NOT NULL,
    customer_id         text NOT NULL,
    period_start        date NOT NULL,
    period_end          date NOT NULL, -- exclusive
    status              text NOT NULL,
    currency            text NOT NULL,
    billing_provider    text NOT NULL,
    customer_name       text NOT NULL,
    customer_email      text NOT NULL,
    resellers           text[] NOT NULL,
    test_account        boolean NOT NULL,
    customer_metadata   jsonb NOT NULL,
    invoice_date        date NOT NULL,
    due_date            date NOT NULL,
    subtotal            numeric NOT NULL,
    discount_percentage numeric NOT NULL,
    discount_flat       numeric NOT NULL,
    discount_total      numeric NOT NULL,
    tax_total           numeric NOT NULL,
    total               numeric NOT NULL,
    document            jsonb NOT NULL,
    generated_at        timestamptz NOT NULL,
    approved_at         timestamptz,
    paid_at             timestamptz,
    uncollectible_at    timestamptz,
    voided_at           timestamptz,
    void_reason         text,
    deleted_at          timestamptz,
    resent_count        integer NOT NULL DEFAULT 0,
    last_resent_at      timestamptz,
    updated_at          timestamptz NOT NULL,
    version             bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS invoices_by_tenant ON invoices (tenant, id);
CREATE INDEX IF NOT EXISTS invoices_by_customer ON invoices (tenant, customer_id, period_start);
CREATE INDEX IF NOT EXISTS invoices_by_period ON invoices (tenant, period_start, id);
CREATE TABLE IF NOT EXISTS coverage (
    tenant           text NOT NULL,
    customer_id      text NOT NULL,
    invoice_id       uuid NOT NULL,
    window_start     date NOT NULL,
    window_end       date NOT NULL,
    after_position   bigint NOT NULL,
    through_position bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS coverage_by_customer ON coverage (tenant, customer_id);
CREATE INDEX IF NOT EXISTS coverage_by_invoice ON coverage (invoice_id);
"#;

pub struct Invoices;

#[async_trait]
impl Projection for Invoices {
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
    let id = crate::uuid_of(event)?;
    let (at, version) = (event.event.occurred_at, event.sequence as i64);
    let set = |assignments: &'static str| {
        format!("UPDATE invoices SET {assignments}, updated_at = $2, version = $3 WHERE id = $1")
    };
    let status = |status: &'static str, column: &'static str| {
        format!(
            "UPDATE invoices SET status = '{status}', {column} = $2, updated_at = $2, \
             version = $3 WHERE id = $1"
        )
    };
    let (sql, releases_coverage, text) = match event.decode::<InvoiceEvent>()? {
        InvoiceEvent::InvoiceGenerated { invoice } => {
            return insert(tx, event, id, &invoice).await;
        }
        InvoiceEvent::InvoiceApproved {} => (status("open", "approved_at"), false, None),
        InvoiceEvent::InvoicePaid {} => (status("paid", "paid_at"), false, None),
        InvoiceEvent::InvoiceMarkedUncollectible {} => {
            (status("uncollectible", "uncollectible_at"), false, None)
        }
        InvoiceEvent::InvoiceVoided { reason } => (
            set("status = 'void', voided_at = $2, void_reason = $4"),
            true,
            reason,
        ),
        InvoiceEvent::InvoiceDeleted {} => (status("deleted", "deleted_at"), true, None),
        InvoiceEvent::InvoiceResent { .. } => (
            set("resent_count = resent_count + 1, last_resent_at = $2"),
            false,
            None,
        ),
    };
    let result = sqlx::query(&sql)
        .bind(id)
        .bind(at)
        .bind(version)
        .bind(text)
        .execute(&mut *tx)
        .await?;
    if result.rows_affected() == 0 {
        return Err(ApplyError::Unapplicable(format!("invoice {id} is unknown")));
    }
    if releases_coverage {
        sqlx::query("DELETE FROM coverage WHERE invoice_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

async fn insert(
    tx: &mut PgConnection,
    event: &EventEnvelope,
    id: Uuid,
    doc: &InvoiceDocument,
) -> Result<(), ApplyError> {
    let document =
        serde_json::to_value(doc).map_err(|e| ApplyError::Unapplicable(e.to_string()))?;
    let t = &doc.totals;
    sqlx::query(
        "INSERT INTO invoices (id, tenant, customer_id, period_start, period_end, status, currency,
             billing_provider, customer_name, customer_email, resellers, test_account,
             customer_metadata, invoice_date, due_date, subtotal, discount_percentage,
             discount_flat, discount_total, tax_total, total, document, generated_at, updated_at,
             version)
         VALUES ($1, $2, $3, $4, $5, 'draft', $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
             $17, $18, $19, $20, $21, $22, $22, $23)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(&event.event.tenant)
    .bind(&doc.customer_id)
    .bind(doc.period.start)
    .bind(doc.period.end)
    .bind(&doc.currency)
    .bind(&doc.billing_provider)
    .bind(&doc.bill_to.name)
    .bind(&doc.bill_to.email)
    .bind(&doc.resellers)
    .bind(doc.test_account)
    .bind(&doc.customer_metadata)
    .bind(doc.invoice_date)
    .bind(doc.due_date)
    .bind(t.subtotal)
    .bind(t.discount_percentage)
    .bind(t.discount_flat)
    .bind(t.discount_total)
    .bind(t.tax_total)
    .bind(t.total)
    .bind(document)
    .bind(event.event.occurred_at)
    .bind(event.sequence as i64)
    .execute(&mut *tx)
    .await?;
    let column = |f: fn(&Coverage) -> i64| doc.coverage.iter().map(f).collect::<Vec<_>>();
    let dates = |f: fn(&Coverage) -> NaiveDate| doc.coverage.iter().map(f).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO coverage (tenant, customer_id, invoice_id, window_start, window_end,
             after_position, through_position)
         SELECT $1, $2, $3, * FROM UNNEST($4::date[], $5::date[], $6::int8[], $7::int8[])",
    )
    .bind(&event.event.tenant)
    .bind(&doc.customer_id)
    .bind(id)
    .bind(dates(|c| c.window.start))
    .bind(dates(|c| c.window.end))
    .bind(column(|c| c.after as i64))
    .bind(column(|c| c.through as i64))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

// ---- queries ----

/// An invoice without its lines, as lists show it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct InvoiceRow {
    pub id: Uuid,
    pub customer_id: String,
    pub customer_name: String,
    pub customer_email: String,
    pub status: String,
    pub currency: String,
    pub billing_provider: String,
    pub period_start: NaiveDate,
    /// The first day after the period.
    pub period_end: NaiveDate,
    pub invoice_date: NaiveDate,
    pub due_date: NaiveDate,
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    pub subtotal: Decimal,
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    pub discount_total: Decimal,
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    pub tax_total: Decimal,
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    pub total: Decimal,
    pub generated_at: DateTime<Utc>,
    pub approved_at: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
    pub voided_at: Option<DateTime<Utc>>,
    pub resent_count: i32,
}

const COLUMNS: &str = "id, customer_id, customer_name, customer_email, status, currency, \
    billing_provider, period_start, period_end, invoice_date, due_date, subtotal, discount_total, \
    tax_total, total, generated_at, approved_at, paid_at, voided_at, resent_count";

#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    /// Invoices whose period starts on or after this day.
    pub start: Option<NaiveDate>,
    /// Invoices whose period starts on or before this day.
    pub end: Option<NaiveDate>,
    pub status: Option<String>,
    pub customer_id: Option<String>,
    pub billing_provider: Option<String>,
}

/// A page of a tenant's invoices in id order (creation order); deleted ones are gone.
pub async fn list(
    pool: &PgPool,
    tenant: &str,
    filter: &InvoiceFilter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<InvoiceRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM invoices.invoices
         WHERE tenant = $1 AND status <> 'deleted'
           AND ($2::date IS NULL OR period_start >= $2)
           AND ($3::date IS NULL OR period_start <= $3)
           AND ($4::text IS NULL OR status = $4)
           AND ($5::text IS NULL OR customer_id = $5)
           AND ($6::text IS NULL OR billing_provider = $6)
           AND ($7::uuid IS NULL OR id > $7)
         ORDER BY id LIMIT $8"
    ))
    .bind(tenant)
    .bind(filter.start)
    .bind(filter.end)
    .bind(&filter.status)
    .bind(&filter.customer_id)
    .bind(&filter.billing_provider)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map(|rows: Vec<InvoiceRow>| {
        rows.into_iter()
            .map(|mut row| {
                let currency = row.currency.clone();
                with_minor_digits(
                    &currency,
                    [
                        &mut row.subtotal,
                        &mut row.discount_total,
                        &mut row.tax_total,
                        &mut row.total,
                    ],
                );
                row
            })
            .collect()
    })
}

/// An invoice with its whole frozen document, as a dialect that shows the lines reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredInvoice {
    pub id: Uuid,
    pub status: String,
    pub document: sqlx::types::Json<InvoiceDocument>,
}

/// The customer's invoices (deleted drafts are gone), oldest period first; only `id` when one
/// is named.
pub async fn stored_of_customer(
    pool: &PgPool,
    tenant: &str,
    customer_id: &str,
    id: Option<Uuid>,
) -> Result<Vec<StoredInvoice>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, status, document FROM invoices.invoices
         WHERE tenant = $1 AND customer_id = $2 AND status <> 'deleted'
           AND ($3::uuid IS NULL OR id = $3)
         ORDER BY period_start, generated_at, id",
    )
    .bind(tenant)
    .bind(customer_id)
    .bind(id)
    .fetch_all(pool)
    .await
}

/// The customer's newest invoice: the latest period, then the latest generated.
pub async fn last_of_customer(
    pool: &PgPool,
    tenant: &str,
    customer_id: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM invoices.invoices
         WHERE tenant = $1 AND customer_id = $2 AND status <> 'deleted'
         ORDER BY period_end DESC, generated_at DESC, id DESC LIMIT 1",
    )
    .bind(tenant)
    .bind(customer_id)
    .fetch_optional(pool)
    .await
}

/// The customer's invoices that still bill their usage (not void, not deleted): their ids and
/// periods.
pub async fn live_of_customer(
    conn: &mut PgConnection,
    tenant: &str,
    customer_id: &str,
) -> Result<Vec<(Uuid, Period)>, sqlx::Error> {
    let rows: Vec<(Uuid, NaiveDate, NaiveDate)> = sqlx::query_as(
        "SELECT id, period_start, period_end FROM invoices.invoices
         WHERE tenant = $1 AND customer_id = $2 AND status NOT IN ('void', 'deleted')
         ORDER BY period_start, id",
    )
    .bind(tenant)
    .bind(customer_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, start, end)| (id, Period { start, end }))
        .collect())
}

/// The usage the customer's live invoices bill.
pub async fn coverage_of_customer(
    conn: &mut PgConnection,
    tenant: &str,
    customer_id: &str,
) -> Result<Vec<Coverage>, sqlx::Error> {
    let rows: Vec<(NaiveDate, NaiveDate, i64, i64)> = sqlx::query_as(
        "SELECT window_start, window_end, after_position, through_position FROM invoices.coverage
         WHERE tenant = $1 AND customer_id = $2 ORDER BY window_start, after_position",
    )
    .bind(tenant)
    .bind(customer_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(start, end, after, through)| Coverage {
            window: Period { start, end },
            after: after as u64,
            through: through as u64,
        })
        .collect())
}

/// Customers with usage in `period` and no invoice touching it, not even a void or deleted
/// one, of tenants that have a main currency to invoice in: those a monthly run should draft.
/// A page in (tenant, customer) order after `after`.
pub async fn customers_to_invoice(
    pool: &PgPool,
    period: Period,
    after: Option<&(String, String)>,
    limit: i64,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let (tenant, customer) = after.cloned().unzip();
    sqlx::query_as(
        "SELECT DISTINCT d.tenant, d.customer_id FROM usage.daily d
         WHERE d.day >= $1 AND d.day < $2
           AND ($3::text IS NULL OR (d.tenant, d.customer_id) > ($3, $4))
           AND EXISTS (SELECT 1 FROM pricing.currencies c WHERE c.tenant = d.tenant AND c.main)
           AND NOT EXISTS (SELECT 1 FROM invoices.invoices i
               WHERE i.tenant = d.tenant AND i.customer_id = d.customer_id
                 AND i.period_start < $2 AND i.period_end > $1)
         ORDER BY 1, 2 LIMIT $5",
    )
    .bind(period.start)
    .bind(period.end)
    .bind(tenant)
    .bind(customer)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The tenant's customers with usage in `period` or a live invoice for it, at most `limit`:
/// those a billing simulation of "every customer" covers.
pub async fn customers_billed_in(
    pool: &PgPool,
    tenant: &str,
    period: Period,
    limit: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT customer_id FROM usage.daily
         WHERE tenant = $1 AND day >= $2 AND day < $3
         UNION
         SELECT customer_id FROM invoices.invoices
         WHERE tenant = $1 AND period_start = $2 AND period_end = $3
           AND status NOT IN ('void', 'deleted')
         ORDER BY 1 LIMIT $4",
    )
    .bind(tenant)
    .bind(period.start)
    .bind(period.end)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// One row of the billing report.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReportRow {
    pub id: Uuid,
    pub customer_id: String,
    pub customer_name: String,
    pub customer_email: String,
    pub test_account: bool,
    pub status: String,
    pub currency: String,
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub subtotal: Decimal,
    pub discount_percentage: Decimal,
    pub discount_flat: Decimal,
    pub discount_total: Decimal,
    pub total: Decimal,
    pub customer_metadata: sqlx::types::Json<Value>,
    pub resellers: Vec<String>,
    /// The invoice's lines, when the report asks for detail.
    pub lines: Option<sqlx::types::Json<Value>>,
}

/// Which invoices a billing report holds.
#[derive(Debug, Clone)]
pub struct ReportScope {
    pub tenant: String,
    /// Periods starting within [start, end], both inclusive.
    pub start: NaiveDate,
    pub end: NaiveDate,
    /// Also customers sold through a reseller; otherwise only the provider's own.
    pub all_resellers: bool,
    pub detail: bool,
}

/// The report's query: its invoices, oldest period first.
pub fn report_sql(detail: bool) -> String {
    let lines = if detail {
        "document->'lines'"
    } else {
        "NULL::jsonb"
    };
    format!(
        "SELECT id, customer_id, customer_name, customer_email, test_account, status, currency,
             period_start, period_end, subtotal, discount_percentage, discount_flat,
             discount_total, total, customer_metadata, resellers, {lines} AS lines
         FROM invoices.invoices
         WHERE tenant = $1 AND status <> 'deleted' AND period_start >= $2 AND period_start <= $3
           AND ($4 OR cardinality(resellers) = 0)
         ORDER BY period_start, id"
    )
}

/// Streams the report's rows as they are read: a report of any size is never held in memory.
pub fn report<'a>(
    pool: &'a PgPool,
    sql: &'a str,
    scope: &'a ReportScope,
) -> BoxStream<'a, Result<ReportRow, sqlx::Error>> {
    sqlx::query_as(sql)
        .bind(&scope.tenant)
        .bind(scope.start)
        .bind(scope.end)
        .bind(scope.all_resellers)
        .fetch(pool)
        .map_ok(|mut row: ReportRow| {
            let currency = row.currency.clone();
            with_minor_digits(
                &currency,
                [
                    &mut row.subtotal,
                    &mut row.discount_flat,
                    &mut row.discount_total,
                    &mut row.total,
                ],
            );
            row
        })
        .boxed()
}

/// Amounts as the invoice states them, with every minor digit: PostgreSQL keeps a numeric's
/// scale, but a zero comes back from the driver as `0`, not `0.00`.
fn with_minor_digits<const N: usize>(currency: &str, amounts: [&mut Decimal; N]) {
    if let Ok(currency) = fleet_domain::money::Currency::parse(currency) {
        for amount in amounts {
            *amount = currency.amount(*amount);
        }
    }
}
