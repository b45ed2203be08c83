//! A client's invoices (001 ops 6, 10 and 11): all of them, the last one, and one.
//!
//! - `processed`: the invoice is issued (approved), not a draft still being reviewed.
//! - `paid`: it is paid.
//! - `deleted` and `date_deleted`: its client was deleted, as 001 defines them; the invoice
//!   itself is kept. (A draft deleted by finance is gone and not listed.)
//! - `currency` is present only when it is not the reseller's main currency, as 001 says.
//! - Each project is one of the client's projects on a provider; its entities are the
//!   invoice's lines, with the line's product as `id` and its category as `type`.

use std::collections::BTreeMap;

use aide::axum::routing::get_with;
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use fleet_api::routes::Issuer;
use fleet_api::AppState;
use fleet_domain::customer::Customer;
use fleet_domain::invoice::{Invoice as InvoiceAggregate, InvoiceDocument, LineKind};
use fleet_domain::price_book::PriceBook;
use fleet_domain::Aggregate;
use fleet_projections::inventory::{self, customers};
use fleet_projections::invoices::{self as invoice_model, StoredInvoice};
use fleet_projections::pricing;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::wire::{iso, midnight, rfc1123, Amount, Exact};
use super::OrmucoError;

pub fn router() -> ApiRouter<AppState> {
    let op = |s| super::operation("invoices", s);
    let mut router = ApiRouter::new();
    for slash in ["/", ""] {
        router = router
            .api_route(
                &format!("/clients/{{client_id}}/invoices{slash}"),
                get_with(list, op("Returns a list of Invoices for a Client")),
            )
            .api_route(
                &format!("/clients/{{client_id}}/invoices/last{slash}"),
                get_with(last, op("Returns the last Invoice of a given Client")),
            )
            .api_route(
                &format!("/clients/{{client_id}}/invoices/{{invoice_id}}{slash}"),
                get_with(
                    one,
                    op("Returns the details of one Invoice for a given Client"),
                ),
            );
    }
    router
}

/// 001's `InvoiceEntity`: a line of the invoice.
#[derive(Serialize, schemars::JsonSchema)]
struct Entity {
    id: String,
    name: String,
    #[serde(rename = "type")]
    kind: String,
    description: String,
    quantity: Exact,
    unit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uptime: Option<String>,
    /// A flat rate as a number; a tiered rate as its tiers.
    rate: EntityRate,
    rate_system: Option<String>,
    total: Amount,
    resource_id: Option<String>,
    size: Option<String>,
    /// `usage`, or `adjustment` for late usage of an earlier period billed here.
    line_kind: String,
}

#[derive(Serialize, schemars::JsonSchema)]
struct InvoiceProject {
    id: String,
    name: String,
    /// The provider the project runs on.
    region: String,
    total: Amount,
    entities: Vec<Entity>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Tax {
    name: String,
    rate: Exact,
    amount: Amount,
    description: String,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Data {
    invoice_period_start: String,
    invoice_period_end: String,
    subscription_period_start: String,
    subscription_period_end: String,
    invoice_subtotal: Amount,
    invoice_discount_percentage: Exact,
    invoice_discount_percentage_value: Amount,
    invoice_discount_flat: Amount,
    invoice_discount: Amount,
    invoice_taxes: Vec<Tax>,
    invoice_total: Amount,
    invoice_projects: Vec<InvoiceProject>,
}

/// 001's `Invoice`.
#[derive(Serialize, schemars::JsonSchema)]
struct Invoice {
    id: String,
    client_id: String,
    deleted: bool,
    date_deleted: Option<String>,
    processed: bool,
    paid: bool,
    /// Absent when it is the reseller's main currency.
    #[serde(skip_serializing_if = "Option::is_none")]
    currency: Option<String>,
    /// Fleetledger's status: draft, open, paid, uncollectible or void.
    status: String,
    data: Data,
}

/// What every invoice of a client shares: whether the client is deleted, and the main currency.
struct Context {
    client_id: String,
    date_deleted: Option<String>,
    main_currency: Option<String>,
}

/// A line's rate as 001 writes it: a number for a flat price, the tiers for a tiered one,
/// `null` for an unpriced product.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(untagged)]
enum EntityRate {
    Flat(Exact),
    Tiered(Value),
    Unpriced(Option<()>),
}

fn rate_of(line_rate: &Option<Value>) -> EntityRate {
    let Some(rate) = line_rate else {
        return EntityRate::Unpriced(None);
    };
    let flat = rate
        .get("unit_price")
        .and_then(Value::as_str)
        .and_then(|p| p.parse::<Decimal>().ok());
    match flat {
        Some(price) => EntityRate::Flat(Exact(price)),
        None => EntityRate::Tiered(
            rate.get("tiers")
                .cloned()
                .unwrap_or(Value::Array(Vec::new())),
        ),
    }
}

fn data(doc: &InvoiceDocument) -> Data {
    let mut projects: BTreeMap<(&str, &str), Vec<&fleet_events::invoice::InvoiceLine>> =
        BTreeMap::new();
    for line in &doc.lines {
        projects
            .entry((line.provider_id.as_str(), line.project_id.as_str()))
            .or_default()
            .push(line);
    }
    let invoice_projects = projects
        .into_iter()
        .map(|((provider, project), lines)| InvoiceProject {
            id: project.to_owned(),
            name: String::new(),
            region: provider.to_owned(),
            total: Amount::from_decimal(lines.iter().map(|l| l.total).sum::<Decimal>()),
            entities: lines
                .into_iter()
                .map(|l| Entity {
                    id: l.product.clone(),
                    name: l.description.clone(),
                    kind: l.category.clone(),
                    description: l.description.clone(),
                    quantity: Exact(l.quantity),
                    unit: l.unit.clone(),
                    uptime: l.uptime.clone(),
                    rate: rate_of(&l.rate),
                    rate_system: l.rate_system.clone(),
                    total: Amount::from_decimal(l.total),
                    resource_id: None,
                    size: None,
                    line_kind: match l.kind {
                        LineKind::Usage => "usage",
                        LineKind::Adjustment => "adjustment",
                    }
                    .into(),
                })
                .collect(),
        })
        .collect();
    let t = &doc.totals;
    let (start, end) = (midnight(doc.period.start), midnight(doc.period.end));
    Data {
        invoice_period_start: iso(start),
        invoice_period_end: iso(end),
        subscription_period_start: rfc1123(start),
        subscription_period_end: rfc1123(end),
        invoice_subtotal: Amount::from_decimal(t.subtotal),
        invoice_discount_percentage: Exact(t.discount_percentage),
        invoice_discount_percentage_value: Amount::from_decimal(t.discount_percentage_value),
        invoice_discount_flat: Amount::from_decimal(t.discount_flat),
        invoice_discount: Amount::from_decimal(t.discount_total),
        invoice_taxes: t
            .taxes
            .iter()
            .map(|tax| Tax {
                name: tax.name.clone(),
                rate: Exact(tax.rate),
                amount: Amount::from_decimal(tax.amount),
                description: tax.description.clone().unwrap_or_else(|| tax.name.clone()),
            })
            .collect(),
        invoice_total: Amount::from_decimal(t.total),
        invoice_projects,
    }
}

fn invoice(context: &Context, stored: StoredInvoice) -> Invoice {
    let doc = stored.document.0;
    let status = stored.status;
    Invoice {
        id: stored.id.to_string(),
        client_id: context.client_id.clone(),
        deleted: context.date_deleted.is_some(),
        date_deleted: context.date_deleted.clone(),
        processed: status != "draft",
        paid: status == "paid",
        currency: (context.main_currency.as_deref() != Some(doc.currency.as_str()))
            .then(|| doc.currency.clone()),
        status,
        data: data(&doc),
    }
}

/// The client's invoices (only `id` when one is named), once every write they show is applied.
async fn client_invoices(
    state: &AppState,
    issuer: &Issuer,
    client_id: &str,
    id: Option<Uuid>,
) -> Result<(Context, Vec<StoredInvoice>), OrmucoError> {
    let tenant = &issuer.caller.tenant;
    let uuid =
        Uuid::parse_str(client_id).map_err(|_| OrmucoError::not_found("client", client_id))?;
    state
        .caught_up_on(tenant, Customer::TYPE, inventory::NAME)
        .await?;
    let client = customers::get(&state.pool, tenant.as_str(), uuid)
        .await?
        .ok_or_else(|| OrmucoError::not_found("client", client_id))?;
    state
        .caught_up_on(tenant, InvoiceAggregate::TYPE, invoice_model::NAME)
        .await?;
    state
        .caught_up_on(tenant, PriceBook::TYPE, pricing::NAME)
        .await?;
    let stored =
        invoice_model::stored_of_customer(&state.pool, tenant.as_str(), &uuid.to_string(), id)
            .await?;
    let context = Context {
        client_id: uuid.to_string(),
        date_deleted: client.deleted_at.map(iso),
        main_currency: pricing::main_currency(&state.pool, tenant.as_str()).await?,
    };
    Ok((context, stored))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ClientPath {
    client_id: String,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Invoices {
    invoices: Vec<Invoice>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct One {
    invoice: Invoice,
}

async fn list(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(path): Path<ClientPath>,
) -> Result<Json<Invoices>, OrmucoError> {
    let (context, stored) = client_invoices(&state, &issuer, &path.client_id, None).await?;
    Ok(Json(Invoices {
        invoices: stored.into_iter().map(|s| invoice(&context, s)).collect(),
    }))
}

/// The newest by period, then by generation.
async fn last(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(path): Path<ClientPath>,
) -> Result<Json<One>, OrmucoError> {
    let (context, stored) = client_invoices(&state, &issuer, &path.client_id, None).await?;
    let newest = stored
        .into_iter()
        .max_by_key(|s| (s.document.0.period.end, s.id))
        .ok_or_else(|| {
            OrmucoError::NotFound(format!("client {} has no invoice yet", path.client_id))
        })?;
    Ok(Json(One {
        invoice: invoice(&context, newest),
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct InvoicePath {
    client_id: String,
    invoice_id: String,
}

async fn one(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(path): Path<InvoicePath>,
) -> Result<Json<One>, OrmucoError> {
    let id = Uuid::parse_str(&path.invoice_id)
        .map_err(|_| OrmucoError::not_found("invoice", &path.invoice_id))?;
    let (context, stored) = client_invoices(&state, &issuer, &path.client_id, Some(id)).await?;
    let found = stored
        .into_iter()
        .next()
        .ok_or_else(|| OrmucoError::not_found("invoice", &path.invoice_id))?;
    Ok(Json(One {
        invoice: invoice(&context, found),
    }))
}
