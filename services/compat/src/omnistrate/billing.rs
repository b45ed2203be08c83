//! usage-api and invoice-api: a subscription's metered usage, per day or totalled, and the
//! tenant's invoices with their approve, void, resend and delete commands.

use aide::axum::routing::{get_with, post_with};
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};
use fleet_api::auth::Permission;
use fleet_api::AppState;
use fleet_domain::invoice::{Invoice, InvoiceCommand};
use fleet_projections::invoices::{self, InvoiceFilter, InvoiceRow};
use fleet_projections::usage;
use serde::{Deserialize, Serialize};

use super::shapes::Lookup;
use super::wire::{id, native, native_opt, prefix, time, Number, Query};
use super::{Agent, Done, GoaError};

pub fn router() -> ApiRouter<AppState> {
    let usage_op = |s| super::operation("usage-api", s);
    let invoice_op = |s| super::operation("invoice-api", s);
    ApiRouter::new()
        .api_route(
            "/usage-per-day/{subscriptionId}",
            get_with(usage_per_day, usage_op("GetUsagePerDay")),
        )
        .api_route(
            "/usage/{subscriptionId}",
            get_with(current_usage, usage_op("GetCurrentUsage")),
        )
        .api_route(
            "/invoices",
            get_with(list_invoices, invoice_op("ListInvoices")),
        )
        .api_route(
            "/invoice/{id}",
            aide::axum::routing::delete_with(delete, invoice_op("DeleteInvoice")),
        )
        .api_route(
            "/invoice/{id}/approve",
            post_with(approve, invoice_op("ApproveInvoice")),
        )
        .api_route(
            "/invoice/{id}/resend",
            post_with(resend, invoice_op("ResendInvoice")),
        )
        .api_route(
            "/invoice/{id}/void",
            post_with(void, invoice_op("VoidInvoice")),
        )
}

#[derive(Deserialize, schemars::JsonSchema)]
struct SubscriptionPath {
    #[serde(rename = "subscriptionId")]
    subscription_id: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Window {
    start_date: Option<DateTime<Utc>>,
    end_date: Option<DateTime<Utc>>,
}

/// `UsagePerDimension`.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct UsagePerDimension {
    dimension: String,
    start_time: String,
    end_time: String,
    total: Number,
}

/// `UsagePerSubscription`.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct UsagePerSubscription {
    #[serde(rename = "subscriptionID")]
    subscription_id: String,
    #[serde(rename = "serviceID")]
    service_id: String,
    service_name: String,
    #[serde(rename = "productTierID")]
    product_tier_id: String,
    product_tier_name: String,
    #[serde(rename = "organizationID")]
    organization_id: String,
    organization_name: String,
    #[serde(rename = "userID", skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_email: Option<String>,
    start_time: String,
    end_time: String,
    usage: Vec<UsagePerDimension>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct UsageAnswer {
    usage: UsagePerSubscription,
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

/// The usage window in whole UTC days: by default the current month to date.
fn days(window: &Window) -> Result<(NaiveDate, NaiveDate), GoaError> {
    let today = Utc::now().date_naive();
    let start = window
        .start_date
        .map(|t| t.date_naive())
        .unwrap_or_else(|| today.with_day0(0).unwrap_or(today));
    let end = match window.end_date {
        Some(t) if t.time() == NaiveTime::MIN => t.date_naive(),
        Some(t) => t.date_naive() + Duration::days(1),
        None => today + Duration::days(1),
    };
    if start >= end {
        return Err(GoaError::field("startDate", "must be before endDate"));
    }
    Ok((start, end))
}

async fn usage_of(
    state: &AppState,
    agent: &Agent,
    path: &SubscriptionPath,
    window: &Window,
    per_day: bool,
) -> Result<UsageAnswer, GoaError> {
    let uuid = native(prefix::SUBSCRIPTION, "subscription", &path.subscription_id)?;
    let (start, end) = days(window)?;
    state
        .caught_up_on(
            agent.tenant(),
            fleet_events::subscription::AGGREGATE_TYPE,
            fleet_projections::inventory::NAME,
        )
        .await?;
    state
        .caught_up_on_usage(agent.tenant(), usage::NAME)
        .await?;
    let tenant = agent.tenant().as_str();
    let subscription = fleet_projections::inventory::subscriptions::get(&state.pool, tenant, uuid)
        .await?
        .ok_or_else(|| GoaError::not_found("subscription", &path.subscription_id))?;
    let native_id = uuid.to_string();
    let lines = if per_day {
        usage::subscription_daily(&state.pool, tenant, &native_id, start, end)
            .await?
            .into_iter()
            .map(|d| UsagePerDimension {
                dimension: d.product,
                start_time: time(midnight(d.day)),
                end_time: time(midnight(d.day + Duration::days(1))),
                total: Number(d.quantity),
            })
            .collect()
    } else {
        usage::subscription_totals(&state.pool, tenant, &native_id, start, end)
            .await?
            .into_iter()
            .map(|t| UsagePerDimension {
                dimension: t.product,
                start_time: time(midnight(start)),
                end_time: time(midnight(end)),
                total: Number(t.quantity),
            })
            .collect()
    };
    let mut lookup = Lookup::new(&state.pool, tenant);
    let owner = lookup.owner(&subscription).await?;
    let customer = lookup.customer(&subscription.customer_id).await?;
    Ok(UsageAnswer {
        usage: UsagePerSubscription {
            subscription_id: id(prefix::SUBSCRIPTION, uuid),
            service_id: subscription.service_id.clone(),
            service_name: subscription.service_id.clone(),
            product_tier_id: subscription.plan_id.clone(),
            product_tier_name: subscription.plan_id.clone(),
            organization_id: id(prefix::ORG, &subscription.customer_id),
            organization_name: customer.map(|c| c.name).unwrap_or_default(),
            user_id: owner.as_ref().map(|u| id(prefix::USER, u.id)),
            user_email: owner.map(|u| u.email),
            start_time: time(midnight(start)),
            end_time: time(midnight(end)),
            usage: lines,
        },
    })
}

/// One entry per day and dimension.
async fn usage_per_day(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<SubscriptionPath>,
    Query(window): Query<Window>,
) -> Result<Json<UsageAnswer>, GoaError> {
    Ok(Json(usage_of(&state, &agent, &path, &window, true).await?))
}

/// One entry per dimension, totalled over the window (the month to date by default).
async fn current_usage(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<SubscriptionPath>,
    Query(window): Query<Window>,
) -> Result<Json<UsageAnswer>, GoaError> {
    Ok(Json(usage_of(&state, &agent, &path, &window, false).await?))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct InvoiceQuery {
    /// Invoices whose period starts at or after this time.
    start_date: Option<DateTime<Utc>>,
    /// Invoices whose period starts at or before this time.
    end_date: Option<DateTime<Utc>>,
    /// draft, open, paid, uncollectible or void.
    status: Option<String>,
    /// The organisation (`org-…`) billed.
    customer_id: Option<String>,
    /// STRIPE or BRING_YOUR_OWN.
    billing_provider: Option<String>,
}

/// `FleetInvoice`.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct FleetInvoice {
    id: String,
    customer_id: String,
    customer_name: String,
    bill_issued_to_user_email: String,
    billing_period_start: String,
    billing_period_end: String,
    invoice_date: String,
    due_date: String,
    currency: String,
    payment_terms: String,
    /// draft, open, paid, uncollectible or void.
    status: String,
    tax_amount: Number,
    total_amount: Number,
    total_amount_without_tax: Number,
}

impl From<&InvoiceRow> for FleetInvoice {
    fn from(row: &InvoiceRow) -> Self {
        let net_days = (row.due_date - row.invoice_date).num_days();
        Self {
            id: id(prefix::INVOICE, row.id),
            customer_id: id(prefix::ORG, &row.customer_id),
            customer_name: row.customer_name.clone(),
            bill_issued_to_user_email: row.customer_email.clone(),
            billing_period_start: time(midnight(row.period_start)),
            // Omnistrate ends a period on its last second.
            billing_period_end: time(midnight(row.period_end) - Duration::seconds(1)),
            invoice_date: time(midnight(row.invoice_date)),
            due_date: time(midnight(row.due_date)),
            currency: row.currency.clone(),
            payment_terms: format!("Net {net_days}"),
            status: row.status.clone(),
            tax_amount: Number(row.tax_total),
            total_amount: Number(row.total),
            total_amount_without_tax: Number(row.total - row.tax_total),
        }
    }
}

#[derive(Serialize, schemars::JsonSchema)]
struct InvoiceList {
    invoices: Vec<FleetInvoice>,
}

async fn list_invoices(
    State(state): State<AppState>,
    agent: Agent,
    Query(query): Query<InvoiceQuery>,
) -> Result<Json<InvoiceList>, GoaError> {
    let statuses = ["draft", "open", "paid", "uncollectible", "void"];
    if let Some(status) = &query.status {
        if !statuses.contains(&status.as_str()) {
            return Err(GoaError::field(
                "status",
                format!("must be one of {}", statuses.join(", ")),
            ));
        }
    }
    let customer = native_opt(prefix::ORG, "customerId", query.customer_id.as_deref())?;
    state
        .caught_up_on(
            agent.tenant(),
            fleet_events::invoice::AGGREGATE_TYPE,
            invoices::NAME,
        )
        .await?;
    let filter = InvoiceFilter {
        start: query.start_date.map(|t| t.date_naive()),
        end: query.end_date.map(|t| t.date_naive()),
        status: query.status,
        customer_id: customer.map(|c| c.to_string()),
        billing_provider: query.billing_provider,
    };
    let rows = invoices::list(&state.pool, agent.tenant().as_str(), &filter, None, 1000).await?;
    Ok(Json(InvoiceList {
        invoices: rows.iter().map(FleetInvoice::from).collect(),
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct InvoicePath {
    id: String,
}

async fn invoice_command(
    state: &AppState,
    agent: &Agent,
    shown: &str,
    command: InvoiceCommand,
) -> Result<Done, GoaError> {
    agent.require(Permission::ManageInvoices)?;
    let uuid = native(prefix::INVOICE, "invoice", shown)?;
    state
        .bus
        .execute::<Invoice>(agent.meta(), &uuid.to_string(), command)
        .await
        .map_err(|e| GoaError::refused(e, "invoice", shown))?;
    Ok(Done)
}

/// draft -> open.
async fn approve(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<InvoicePath>,
) -> Result<Done, GoaError> {
    invoice_command(&state, &agent, &path.id, InvoiceCommand::Approve).await
}

/// open or paid: sent again.
async fn resend(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<InvoicePath>,
) -> Result<Done, GoaError> {
    invoice_command(&state, &agent, &path.id, InvoiceCommand::Resend).await
}

/// open or uncollectible -> void.
async fn void(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<InvoicePath>,
) -> Result<Done, GoaError> {
    invoice_command(
        &state,
        &agent,
        &path.id,
        InvoiceCommand::Void { reason: None },
    )
    .await
}

/// draft -> deleted.
async fn delete(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<InvoicePath>,
) -> Result<Done, GoaError> {
    invoice_command(&state, &agent, &path.id, InvoiceCommand::Delete).await
}
