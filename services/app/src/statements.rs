//! A customer's usage over a window as a statement: its rated lines, then the discount and
//! taxes of the customer's billing terms, by the same arithmetic as its invoices
//! ([`fleet_domain::billing::totals`]), so that a statement and the invoice of the same usage
//! agree to the cent. The native usage query and Ormuco's usage operations both answer one.

use chrono::NaiveDate;
use fleet_domain::billing;
use fleet_domain::customer::Customer;
use fleet_domain::invoice::InvoiceTotals;
use fleet_domain::money::Currency;
use fleet_domain::subscription::Subscription;
use fleet_domain::Aggregate;
use fleet_events::Tenant;
use fleet_projections::inventory::{self, subscriptions};
use fleet_projections::usage;
use rust_decimal::Decimal;
use serde_json::Value;
use uuid::Uuid;

use crate::invoicing::uptime;
use crate::policies::load;
use crate::rater::{rated_at, PriceSource, Rater};
use crate::{App, AppError};

/// One product's usage in one provider's project, rated.
#[derive(Debug, Clone)]
pub struct StatementLine {
    pub provider_id: String,
    pub project_id: String,
    pub product: String,
    /// The product's name, or its code when the price book does not know it.
    pub description: String,
    pub category: String,
    pub unit: Option<String>,
    pub quantity: Decimal,
    /// `DD:HH:MM:SS` for hourly units.
    pub uptime: Option<String>,
    /// Absent when the product has no price (the line is then 0).
    pub rate_system: Option<String>,
    pub rate: Option<Value>,
    /// In the statement's currency, rounded to its minor unit.
    pub total: Decimal,
}

#[derive(Debug, Clone)]
pub struct UsageStatement {
    pub customer_id: Uuid,
    pub start: NaiveDate,
    /// Exclusive.
    pub end: NaiveDate,
    /// The customer's billing currency, or the tenant's main one.
    pub currency: Currency,
    pub lines: Vec<StatementLine>,
    pub totals: InvoiceTotals,
}

/// How a statement's amounts were reached, for people reading one.
pub const RATING: &str = "each line: quantity over the window rated with the price in force \
    at its end, converted to the billing currency at that time's rate, rounded half away from \
    zero; a line with no price in force is flagged unpriced and counts 0 here (an invoice \
    refuses it); then the customer's discount and taxes, as on invoices";

/// Which of a customer's usage a statement holds.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Only this provider's.
    pub provider_id: Option<String>,
    /// Only this project's.
    pub project_id: Option<String>,
}

/// The customer's usage over `[start, end)` within `scope`; the discount and taxes apply to
/// what the scope holds. The caller has checked that the customer is the tenant's and that
/// the usage read model has caught up as far as it needs.
pub async fn usage_statement(
    app: &App,
    tenant: &Tenant,
    customer_id: Uuid,
    start: NaiveDate,
    end: NaiveDate,
    scope: &Scope,
) -> Result<UsageStatement, AppError> {
    let customer = load::<Customer>(app, tenant, &customer_id.to_string()).await?;
    let terms = customer.billing.unwrap_or_default();
    let mut rater = Rater::new(
        PriceSource::ReadModel {
            pool: &app.pool,
            tenant: tenant.as_str(),
        },
        terms.currency.as_deref(),
    )
    .await?;
    let at = rated_at(end);
    // Usage of subscriptions deleted with their charges is never billed, nor stated.
    app.caught_up_on(tenant, Subscription::TYPE, inventory::NAME)
        .await?;
    let customer = customer_id.to_string();
    let discarded =
        subscriptions::deleted_of_customer(&app.pool, tenant.as_str(), &customer).await?;
    let quantities = usage::customer_totals(
        &app.pool,
        tenant.as_str(),
        &customer,
        start,
        end,
        &discarded,
    )
    .await?;
    let mut lines = Vec::with_capacity(quantities.len());
    let within = |q: &usage::CustomerTotal| {
        scope
            .provider_id
            .as_ref()
            .is_none_or(|p| *p == q.provider_id)
            && scope.project_id.as_ref().is_none_or(|p| *p == q.project_id)
    };
    for q in quantities.into_iter().filter(within) {
        let rated = rater
            .rate(&q.product, at, Decimal::ZERO, q.quantity)
            .await?;
        let hourly = rated
            .unit
            .as_deref()
            .is_some_and(|u| u.eq_ignore_ascii_case("hour"));
        lines.push(StatementLine {
            provider_id: q.provider_id,
            project_id: q.project_id,
            product: q.product,
            description: rated.description,
            category: rated.category,
            unit: rated.unit,
            uptime: hourly.then(|| uptime(q.quantity)),
            quantity: q.quantity,
            rate_system: rated.rate_system,
            rate: rated.rate,
            total: rated.total,
        });
    }
    let totals = billing::totals(
        &rater.currency,
        lines.iter().map(|l| (l.category.as_str(), l.total)),
        &terms,
    );
    Ok(UsageStatement {
        customer_id,
        start,
        end,
        currency: rater.currency,
        lines,
        totals,
    })
}
