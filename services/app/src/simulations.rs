//! What-if rating: a period's invoices rated again under a draft price book and draft billing
//! terms, beside the invoices as issued (or, for a customer not invoiced yet, as the price book
//! would invoice it today).
//!
//! A simulation is a scratch computation and nothing else. The price book is rebuilt from the
//! stream and the drafts laid over it in memory; the usage is the same usage generation reads,
//! by the same positions, in a read-only transaction. Nothing is appended, no read model is
//! written, no subscriber hears of it. It is bounded: at most [`MAX_CUSTOMERS`] customers and
//! [`TIME_LIMIT`] of work, and it stops between two reads when the caller goes away (the
//! request's future is dropped).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use fleet_domain::billing::{self, BillingTerms, TaxRule};
use fleet_domain::customer::Customer;
use fleet_domain::invoice::{
    Coverage, Invoice, InvoiceDocument, InvoiceLine, InvoiceTotals, Period,
};
use fleet_domain::price_book::{PriceBook, PriceBookEvent};
use fleet_domain::rating::Pricing;
use fleet_domain::subscription::Subscription;
use fleet_domain::Aggregate;
use fleet_events::Tenant;
use fleet_projections::inventory::{self, subscriptions};
use fleet_projections::{invoices, usage};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::invoice_diff::{keyed, LineKey};
use crate::invoicing::{compose, unbilled, usage_to_bill, Billed, Composed};
use crate::policies::load;
use crate::price_history::{PriceHistory, ProductFacts};
use crate::rater::{PriceSource, Rater};
use crate::{App, AppError};

/// Customers one simulation may cover.
pub const MAX_CUSTOMERS: usize = 1_000;
/// How long one simulation may work.
pub const TIME_LIMIT: Duration = Duration::from_secs(30);

/// A price the draft book states for a product.
#[derive(Debug, Clone)]
pub struct DraftPrice {
    pub product: String,
    pub pricing: Pricing,
    /// The price's currency; a product the book has keeps its own when absent.
    pub currency: Option<String>,
    /// Name, category and unit: required for a product the book lacks.
    pub facts: Option<ProductFacts>,
    /// In force from this instant on; from always when absent.
    pub effective_from: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct DraftRate {
    pub code: String,
    pub rate: Decimal,
    pub effective_from: Option<DateTime<Utc>>,
}

/// Billing terms to try: each field given replaces the customer's own.
#[derive(Debug, Clone, Default)]
pub struct DraftTerms {
    pub currency: Option<String>,
    pub discount_percentage: Option<Decimal>,
    pub discount_flat: Option<Decimal>,
    pub taxes: Option<Vec<TaxRule>>,
}

impl DraftTerms {
    fn over(&self, terms: &BillingTerms) -> BillingTerms {
        BillingTerms {
            currency: self.currency.clone().or_else(|| terms.currency.clone()),
            discount_percentage: self
                .discount_percentage
                .unwrap_or(terms.discount_percentage),
            discount_flat: self.discount_flat.unwrap_or(terms.discount_flat),
            taxes: self.taxes.clone().unwrap_or_else(|| terms.taxes.clone()),
            ..terms.clone()
        }
    }
}

#[derive(Debug, Clone)]
pub struct SimulationRequest {
    pub period: Period,
    /// Every customer with usage or a live invoice in the period when `None`.
    pub customers: Option<Vec<String>>,
    pub prices: Vec<DraftPrice>,
    pub exchange_rates: Vec<DraftRate>,
    pub terms: DraftTerms,
}

/// Where a customer's "before" comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Baseline {
    /// The live invoice of the period, as issued.
    Issued,
    /// Not invoiced yet: the invoice the price book in force would generate now.
    CurrentPriceBook,
}

/// One invoice's figures.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Figures {
    pub currency: String,
    pub lines: Vec<InvoiceLine>,
    pub totals: InvoiceTotals,
    /// Products billed at 0 for want of a price in force, with the window's first day.
    pub unpriced: Vec<String>,
}

/// A line as it was and as it would be; a side is absent when only the other bills it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct LineComparison {
    pub kind: &'static str,
    pub window_start: NaiveDate,
    pub provider_id: String,
    pub project_id: String,
    pub product: String,
    #[schemars(with = "Option<fleet_events::schemas::DecimalString>")]
    pub quantity: Option<Decimal>,
    #[schemars(with = "Option<fleet_events::schemas::DecimalString>")]
    pub baseline_total: Option<Decimal>,
    #[schemars(with = "Option<fleet_events::schemas::DecimalString>")]
    pub simulated_total: Option<Decimal>,
    /// Simulated less baseline; absent when the two are in different currencies.
    #[schemars(with = "Option<fleet_events::schemas::DecimalString>")]
    pub difference: Option<Decimal>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CustomerSimulation {
    pub customer_id: String,
    pub baseline: Baseline,
    /// The issued invoice, when the baseline is one.
    pub invoice_id: Option<Uuid>,
    pub status: Option<String>,
    pub before: Figures,
    pub after: Figures,
    pub lines: Vec<LineComparison>,
    /// The total's change; absent when the currencies differ.
    #[schemars(with = "Option<fleet_events::schemas::DecimalString>")]
    pub difference: Option<Decimal>,
}

/// The totals of the customers invoiced in one currency before and after.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CurrencyTotals {
    pub currency: String,
    pub customers: u64,
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    pub before: Decimal,
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    pub after: Decimal,
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    pub difference: Decimal,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SimulationResult {
    pub period: Period,
    pub customers: Vec<CustomerSimulation>,
    /// Per currency, over the customers whose currency the drafts leave unchanged.
    pub totals: Vec<CurrencyTotals>,
}

/// Runs a simulation for the caller's tenant. The caller has checked the permission.
pub async fn simulate(
    state: &App,
    tenant: &Tenant,
    request: SimulationRequest,
) -> Result<SimulationResult, AppError> {
    if request.period.end > Utc::now().date_naive() {
        return Err(AppError::unprocessable(
            "period",
            format!(
                "ends on {}, which has not passed yet: its usage is not all in",
                request.period.last_day()
            ),
        ));
    }
    if let Some(customers) = &request.customers {
        if customers.is_empty() || customers.len() > MAX_CUSTOMERS {
            return Err(AppError::unprocessable(
                "customer_ids",
                format!("names 1 to {MAX_CUSTOMERS} customers; leave it out for every customer"),
            ));
        }
    }
    match tokio::time::timeout(TIME_LIMIT, run(state, tenant, request)).await {
        Ok(result) => result,
        Err(_) => Err(AppError::unprocessable(
            "customer_ids",
            format!(
                "the simulation did not finish within {} s: simulate fewer customers at once",
                TIME_LIMIT.as_secs()
            ),
        )),
    }
}

async fn run(
    state: &App,
    tenant: &Tenant,
    request: SimulationRequest,
) -> Result<SimulationResult, AppError> {
    let recorded = recorded_price_book(state, tenant).await?;
    let drafted = drafted_price_book(&recorded, &request)?;
    let period = request.period;

    state
        .caught_up_on(tenant, Invoice::TYPE, invoices::NAME)
        .await?;
    state
        .caught_up_on(tenant, Subscription::TYPE, inventory::NAME)
        .await?;
    let usage_end = state.caught_up_on_usage(tenant, usage::NAME).await?;
    let named = request.customers.is_some();
    let customers = match request.customers {
        Some(customers) => customers,
        None => {
            let found = invoices::customers_billed_in(
                &state.pool,
                tenant.as_str(),
                period,
                MAX_CUSTOMERS as i64 + 1,
            )
            .await?;
            if found.len() > MAX_CUSTOMERS {
                return Err(AppError::unprocessable(
                    "customer_ids",
                    format!(
                        "the period has more than {MAX_CUSTOMERS} customers to bill: name at \
                         most {MAX_CUSTOMERS} at once"
                    ),
                ));
            }
            found
        }
    };

    let mut tx = state.pool.begin().await?;
    // A simulation reads; the database refuses it anything else.
    sqlx::query("SET TRANSACTION READ ONLY")
        .execute(&mut *tx)
        .await?;
    let scope = Scope {
        state,
        tenant,
        period,
        usage_end,
        recorded: &recorded,
        drafted: &drafted,
        terms: &request.terms,
    };
    let mut simulated = Vec::with_capacity(customers.len());
    for (i, customer_id) in customers.iter().enumerate() {
        let result = scope
            .customer(&mut tx, customer_id)
            .await
            .map_err(|e| match e {
                Refusal::NotACustomer => AppError::unprocessable(
                    &format!("customer_ids[{i}]"),
                    "is not a customer of this tenant",
                ),
                Refusal::App(e) => e,
            })?;
        // Every customer asked about is answered; of all customers, those with something billed.
        if named || !(result.before.lines.is_empty() && result.after.lines.is_empty()) {
            simulated.push(result);
        }
    }
    tx.rollback().await?;
    Ok(SimulationResult {
        period,
        totals: totals(&simulated),
        customers: simulated,
    })
}

async fn recorded_price_book(state: &App, tenant: &Tenant) -> Result<PriceHistory, AppError> {
    let subject = state
        .bus
        .subject::<PriceBook>(tenant, fleet_domain::price_book::ID);
    let events = state
        .bus
        .log()
        .read_subject(&subject, 0)
        .await
        .map_err(|e| AppError::Unavailable(e.to_string()))?;
    let mut book = PriceHistory::default();
    for envelope in &events {
        let event = envelope
            .decode::<PriceBookEvent>()
            .map_err(|e| AppError::Internal(format!("price book event: {e}")))?;
        book.apply(&event);
    }
    Ok(book)
}

fn drafted_price_book(
    recorded: &PriceHistory,
    request: &SimulationRequest,
) -> Result<PriceHistory, AppError> {
    let mut drafted = recorded.clone();
    for (i, rate) in request.exchange_rates.iter().enumerate() {
        let field = |name: &str| format!("price_book.exchange_rates[{i}].{name}");
        if rate.rate <= Decimal::ZERO {
            return Err(AppError::unprocessable(
                &field("rate"),
                "must be greater than zero",
            ));
        }
        drafted
            .draft_rate(
                &rate.code.to_ascii_uppercase(),
                rate.rate,
                rate.effective_from,
            )
            .map_err(|reason| AppError::unprocessable(&field("code"), reason))?;
    }
    for (i, price) in request.prices.iter().enumerate() {
        let field = |name: &str| format!("price_book.prices[{i}].{name}");
        price
            .pricing
            .validate()
            .map_err(|e| AppError::unprocessable(&field("pricing"), e.to_string()))?;
        let stated =
            serde_json::to_value(&price.pricing).map_err(|e| AppError::Internal(e.to_string()))?;
        drafted
            .draft_price(
                &price.product,
                stated,
                price.currency.as_ref().map(|c| c.to_ascii_uppercase()),
                price.facts.clone(),
                price.effective_from,
            )
            .map_err(|reason| AppError::unprocessable(&field("product"), reason))?;
    }
    if let Some(code) = &request.terms.currency {
        if drafted.rate_at(code, Utc::now()).is_none() {
            return Err(AppError::unprocessable(
                "billing_terms.currency",
                format!("{code} is not a currency of the price book"),
            ));
        }
    }
    Ok(drafted)
}

enum Refusal {
    NotACustomer,
    App(AppError),
}

impl<E: Into<AppError>> From<E> for Refusal {
    fn from(e: E) -> Self {
        Refusal::App(e.into())
    }
}

/// What every customer of one simulation shares.
struct Scope<'a> {
    state: &'a App,
    tenant: &'a Tenant,
    period: Period,
    usage_end: u64,
    recorded: &'a PriceHistory,
    drafted: &'a PriceHistory,
    terms: &'a DraftTerms,
}

/// What a customer's invoice bills: the ranges of usage, its windows, and the quantities
/// earlier invoices billed in those windows already (graduated tiers continue from there).
struct Billing {
    windows: BTreeSet<Period>,
    quantities: Vec<usage::WindowTotal>,
    billed: Billed,
}

impl Scope<'_> {
    async fn customer(
        &self,
        conn: &mut PgConnection,
        customer_id: &str,
    ) -> Result<CustomerSimulation, Refusal> {
        let id = Uuid::parse_str(customer_id).map_err(|_| Refusal::NotACustomer)?;
        let customer_id = id.to_string();
        let customer = load::<Customer>(self.state, self.tenant, &customer_id).await?;
        if !customer.exists() {
            return Err(Refusal::NotACustomer);
        }
        let terms = customer.billing.clone().unwrap_or_default();
        let tried = self.terms.over(&terms);
        billing::validate_terms(&tried)
            .map_err(|e| AppError::unprocessable("billing_terms", e.to_string()))?;
        let tenant = self.tenant.as_str();
        let discarded =
            subscriptions::deleted_of_customer(&mut *conn, tenant, &customer_id).await?;
        let live: Vec<invoices::StoredInvoice> =
            invoices::stored_of_customer(&self.state.pool, tenant, &customer_id, None)
                .await?
                .into_iter()
                .filter(|i| i.status != "void")
                .collect();
        let issued = live.iter().find(|i| i.document.period == self.period);
        let (billing, baseline, before) = match issued {
            Some(invoice) => {
                let billing = self
                    .issued_billing(conn, &customer_id, &invoice.document, &live, &discarded)
                    .await?;
                let before = Figures {
                    currency: invoice.document.currency.clone(),
                    lines: invoice.document.lines.clone(),
                    totals: invoice.document.totals.clone(),
                    unpriced: invoice
                        .document
                        .lines
                        .iter()
                        .filter(|l| l.rate_system.is_none())
                        .map(|l| format!("{} from {}", l.product, l.origin_period.start))
                        .collect(),
                };
                (billing, (Baseline::Issued, Some(invoice)), before)
            }
            None => {
                let billing = self
                    .next_billing(conn, &customer_id, &live, &discarded)
                    .await?;
                let before = rate(self.recorded, self.period, &billing, &terms).await?;
                (billing, (Baseline::CurrentPriceBook, None), before)
            }
        };
        let after = rate(self.drafted, self.period, &billing, &tried).await?;
        let lines = compare(&before, &after);
        Ok(CustomerSimulation {
            customer_id,
            baseline: baseline.0,
            invoice_id: baseline.1.map(|i| i.id),
            status: baseline.1.map(|i| i.status.clone()),
            difference: (before.currency == after.currency)
                .then(|| after.totals.total - before.totals.total),
            before,
            after,
            lines,
        })
    }

    /// The usage the issued invoice bills, and what the live invoices before it billed in the
    /// same windows.
    async fn issued_billing(
        &self,
        conn: &mut PgConnection,
        customer_id: &str,
        document: &InvoiceDocument,
        live: &[invoices::StoredInvoice],
        discarded: &[String],
    ) -> Result<Billing, AppError> {
        let mut first_of_window: BTreeMap<Period, u64> = BTreeMap::new();
        for range in &document.coverage {
            let first = first_of_window.entry(range.window).or_insert(range.after);
            *first = (*first).min(range.after);
        }
        let earlier: Vec<Coverage> = live
            .iter()
            .filter(|i| i.document.period != self.period)
            .flat_map(|i| i.document.coverage.iter().copied())
            .filter(|c| {
                first_of_window
                    .get(&c.window)
                    .is_some_and(|f| c.through <= *f)
            })
            .collect();
        let windows = std::iter::once(self.period)
            .chain(first_of_window.keys().copied())
            .collect();
        self.read(
            conn,
            customer_id,
            windows,
            &document.coverage,
            &earlier,
            discarded,
        )
        .await
    }

    /// The usage the customer's next invoice of the period would bill now, as generation
    /// finds it: every position of its windows that no live invoice covers.
    async fn next_billing(
        &self,
        conn: &mut PgConnection,
        customer_id: &str,
        live: &[invoices::StoredInvoice],
        discarded: &[String],
    ) -> Result<Billing, AppError> {
        let coverage: Vec<Coverage> = live
            .iter()
            .flat_map(|i| i.document.coverage.iter().copied())
            .collect();
        let (windows, segments) = unbilled(
            self.period,
            live.iter().map(|i| i.document.period),
            &coverage,
            self.usage_end,
        );
        self.read(conn, customer_id, windows, &segments, &coverage, discarded)
            .await
    }

    async fn read(
        &self,
        conn: &mut PgConnection,
        customer_id: &str,
        windows: BTreeSet<Period>,
        ranges: &[Coverage],
        billed_ranges: &[Coverage],
        discarded: &[String],
    ) -> Result<Billing, AppError> {
        let (quantities, billed) = usage_to_bill(
            self.state,
            conn,
            self.tenant.as_str(),
            customer_id,
            ranges,
            billed_ranges,
            discarded,
        )
        .await?;
        Ok(Billing {
            windows,
            quantities,
            billed,
        })
    }
}

async fn rate(
    book: &PriceHistory,
    period: Period,
    billing: &Billing,
    terms: &BillingTerms,
) -> Result<Figures, AppError> {
    let mut rater = Rater::new(PriceSource::Recorded(book), terms.currency.as_deref()).await?;
    let Composed {
        lines,
        totals,
        without_price,
    } = compose(
        &mut rater,
        period,
        &billing.windows,
        billing.quantities.clone(),
        &billing.billed,
        terms,
    )
    .await?;
    Ok(Figures {
        currency: rater.currency.code().to_owned(),
        lines,
        totals,
        unpriced: without_price
            .into_iter()
            .map(|(product, window)| format!("{product} from {}", window.start))
            .collect(),
    })
}

fn compare(before: &Figures, after: &Figures) -> Vec<LineComparison> {
    let (was, will) = (keyed(&before.lines), keyed(&after.lines));
    let keys: BTreeSet<&LineKey> = was.keys().chain(will.keys()).collect();
    let same_currency = before.currency == after.currency;
    keys.into_iter()
        .map(|key| {
            let (b, a) = (was.get(key), will.get(key));
            let total = |l: Option<&&InvoiceLine>| l.map(|l| l.total);
            LineComparison {
                kind: if key.adjustment {
                    "adjustment"
                } else {
                    "usage"
                },
                window_start: key.window_start,
                provider_id: key.provider_id.clone(),
                project_id: key.project_id.clone(),
                product: key.product.clone(),
                quantity: a.or(b).map(|l| l.quantity),
                baseline_total: total(b),
                simulated_total: total(a),
                difference: same_currency
                    .then(|| total(a).unwrap_or_default() - total(b).unwrap_or_default()),
            }
        })
        .collect()
}

fn totals(customers: &[CustomerSimulation]) -> Vec<CurrencyTotals> {
    let mut by_currency: BTreeMap<&str, CurrencyTotals> = BTreeMap::new();
    for c in customers
        .iter()
        .filter(|c| c.before.currency == c.after.currency)
    {
        let entry = by_currency
            .entry(c.before.currency.as_str())
            .or_insert_with(|| CurrencyTotals {
                currency: c.before.currency.clone(),
                customers: 0,
                before: Decimal::ZERO,
                after: Decimal::ZERO,
                difference: Decimal::ZERO,
            });
        entry.customers += 1;
        entry.before += c.before.totals.total;
        entry.after += c.after.totals.total;
        entry.difference = entry.after - entry.before;
    }
    by_currency.into_values().collect()
}
