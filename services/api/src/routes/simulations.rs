//! `/v1/billing/simulations`: what a period's invoices would be under a draft price book and
//! draft billing terms, beside the invoices as issued. Nothing is recorded.

use aide::axum::routing::post_with;
use aide::axum::ApiRouter;
use axum::extract::State;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use fleet_app::price_history::ProductFacts;
use fleet_app::simulations::{
    simulate, DraftPrice, DraftRate, DraftTerms, SimulationRequest, SimulationResult,
};
use fleet_domain::money::{decimal_str, decimal_str_opt};
use fleet_domain::rating::Pricing;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::auth::{Caller, Permission};
use crate::docs::summary;
use crate::extract::ApiJson;
use crate::routes::billing_terms::TaxInput;
use crate::routes::invoices::billing_period;
use crate::{ApiError, AppState};

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/billing/simulations",
            post_with(
                run_simulation,
                summary("Rate a period's invoices again under draft prices and terms, beside the invoices as issued; nothing is recorded"),
            ),
        )
        .with_path_items(|item| item.tag("invoices"))
}

/// A draft price. The pricing is written as for a product (`rate_system` and `unit_price`, or
/// `tiers`); a product the price book lacks also names its name, category, unit and currency.
// No `deny_unknown_fields`: serde cannot combine it with `flatten`.
#[derive(Deserialize, schemars::JsonSchema)]
struct DraftPriceInput {
    product: String,
    #[serde(flatten)]
    pricing: Pricing,
    currency: Option<String>,
    name: Option<String>,
    category: Option<String>,
    unit: Option<String>,
    /// In force from this instant on; from always when absent.
    effective_from: Option<DateTime<Utc>>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct DraftRateInput {
    code: String,
    /// Units of the main currency per unit of this one.
    #[serde(deserialize_with = "decimal_str")]
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    rate: Decimal,
    effective_from: Option<DateTime<Utc>>,
}

#[derive(Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct DraftBookInput {
    #[serde(default)]
    prices: Vec<DraftPriceInput>,
    #[serde(default)]
    exchange_rates: Vec<DraftRateInput>,
}

/// Terms to try: each field given replaces every simulated customer's own.
#[derive(Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct DraftTermsInput {
    currency: Option<String>,
    #[serde(default, deserialize_with = "decimal_str_opt")]
    #[schemars(with = "Option<fleet_events::schemas::DecimalString>")]
    discount_percentage: Option<Decimal>,
    #[serde(default, deserialize_with = "decimal_str_opt")]
    #[schemars(with = "Option<fleet_events::schemas::DecimalString>")]
    discount_flat: Option<Decimal>,
    taxes: Option<Vec<TaxInput>>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct SimulationInput {
    /// `YYYY-MM`; or `start` and `end`.
    period: Option<String>,
    /// First day, inclusive.
    start: Option<NaiveDate>,
    /// Last day, inclusive.
    end: Option<NaiveDate>,
    /// The customers to simulate; every customer with usage or an invoice in the period when
    /// absent.
    customer_ids: Option<Vec<String>>,
    #[serde(default)]
    price_book: DraftBookInput,
    #[serde(default)]
    billing_terms: DraftTermsInput,
}

async fn run_simulation(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<SimulationInput>,
) -> Result<Json<SimulationResult>, ApiError> {
    caller.require(Permission::ManageInvoices)?;
    let period = billing_period(body.period.as_deref(), body.start, body.end)?;
    let mut prices = Vec::with_capacity(body.price_book.prices.len());
    for (i, p) in body.price_book.prices.into_iter().enumerate() {
        let facts = match (p.name, p.category, p.unit) {
            (Some(name), Some(category), Some(unit)) => Some(ProductFacts {
                name,
                category,
                unit,
            }),
            (None, None, None) => None,
            _ => {
                return Err(ApiError::unprocessable(
                    &format!("price_book.prices[{i}]"),
                    "names all of name, category and unit, or none of them",
                ))
            }
        };
        prices.push(DraftPrice {
            product: p.product,
            pricing: p.pricing,
            currency: p.currency,
            facts,
            effective_from: p.effective_from,
        });
    }
    let request = SimulationRequest {
        period,
        customers: body.customer_ids,
        prices,
        exchange_rates: body
            .price_book
            .exchange_rates
            .into_iter()
            .map(|r| DraftRate {
                code: r.code,
                rate: r.rate,
                effective_from: r.effective_from,
            })
            .collect(),
        terms: DraftTerms {
            currency: body.billing_terms.currency.map(|c| c.to_ascii_uppercase()),
            discount_percentage: body.billing_terms.discount_percentage,
            discount_flat: body.billing_terms.discount_flat,
            taxes: body
                .billing_terms
                .taxes
                .map(|taxes| taxes.into_iter().map(Into::into).collect()),
        },
    };
    Ok(Json(simulate(&state, &caller.tenant, request).await?))
}
