//! The price book: `/v1/currencies`, `/v1/products`, `/v1/cost-rates`.

use aide::axum::routing::{get_with, post_with, put_with};
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use fleet_domain::money::{decimal_str, decimal_str_opt, Currency};
use fleet_domain::price_book::{CurrencyNames, PriceBook, PriceBookCommand, ID};
use fleet_domain::rating::Pricing;
use fleet_projections::pricing::{self, CostRateRow, CurrencyRow, PriceRow, ProductRow, NAME};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::auth::{Caller, Permission};
use crate::docs::summary;
use crate::extract::{ApiJson, ApiQuery, ReadPosition};
use crate::pagination::Items;
use crate::routes::commands::Reply;
use crate::routes::{history_route_on, run_on, wait_for_position, Issuer, Target};
use crate::{ApiError, AppState};

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/currencies",
            get_with(
                list_currencies,
                summary("Currencies with the exchange rate in force and any scheduled one"),
            )
            .post_with(
                add_currency,
                summary("Add a currency: the first is the main one; the others need a rate to it"),
            ),
        )
        .api_route(
            "/currencies/{code}/rate",
            put_with(
                set_exchange_rate,
                summary("Change an exchange rate from now or a later instant"),
            ),
        )
        .api_route(
            "/products",
            get_with(
                list_products,
                summary("Products with the price in force now"),
            )
            .post_with(
                create_product,
                summary("Create a product with a flat or tiered price"),
            ),
        )
        .api_route(
            "/products/{code}",
            get_with(get_product, summary("A product and its price history")),
        )
        .api_route(
            "/products/{code}/prices",
            post_with(
                change_product_price,
                summary("Change a price from now or a later instant; the past is never rewritten"),
            ),
        )
        .api_route(
            "/products/{code}/metadata",
            put_with(
                set_product_metadata,
                summary("Replace a product's free-form metadata; it never affects a price"),
            ),
        )
        .api_route(
            "/products/{code}/quote",
            get_with(
                quote_product,
                summary("Rate a quantity with the price in force at an instant"),
            ),
        )
        .api_route(
            "/cost-rates",
            get_with(
                list_cost_rates,
                summary("What an hour of an instance type costs the provider"),
            )
            .put_with(
                set_cost_rate,
                summary("Set the hourly cost of an instance type in a cloud provider's region"),
            ),
        )
        .api_route(
            "/price-book/events",
            history_route_on::<PriceBook>(
                ID,
                "The price book's history, read from the event stream",
            ),
        )
        .with_path_items(|item| item.tag("prices"))
}

/// A change of the price book: the event it became.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Recorded {
    event_type: String,
    position: u64,
}

async fn execute(
    state: &AppState,
    issuer: &Issuer,
    command: PriceBookCommand,
) -> Result<Reply<Recorded>, ApiError> {
    let executed = run_on::<PriceBook>(
        state,
        issuer,
        Permission::ManagePricing,
        ID,
        Target::Existing,
        command,
    )
    .await?;
    let position = executed.event.sequence;
    let body = Recorded {
        event_type: executed.event.event.event_type,
        position,
    };
    Ok(Reply::new(position, body))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct AddCurrency {
    code: String,
    #[serde(default)]
    main: bool,
    #[serde(default, deserialize_with = "decimal_str_opt")]
    #[schemars(with = "Option<fleet_events::schemas::DecimalString>")]
    rate: Option<Decimal>,
    /// How people name it ("Canadian dollar"); with `plural_label` and `symbol`, or not at all.
    label: Option<String>,
    plural_label: Option<String>,
    symbol: Option<String>,
}

async fn add_currency(
    State(state): State<AppState>,
    issuer: Issuer,
    ApiJson(body): ApiJson<AddCurrency>,
) -> Result<Reply<Recorded>, ApiError> {
    let names = match (body.label, body.plural_label, body.symbol) {
        (None, None, None) => None,
        (Some(label), Some(plural_label), Some(symbol)) => Some(CurrencyNames {
            label,
            plural_label,
            symbol,
        }),
        _ => {
            return Err(ApiError::bad_request(
                "label",
                "label, plural_label and symbol are given together or not at all",
            ))
        }
    };
    let command = PriceBookCommand::AddCurrency {
        code: body.code.to_ascii_uppercase(),
        main: body.main,
        rate: body.rate,
        names,
    };
    execute(&state, &issuer, command).await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct SetRate {
    #[serde(deserialize_with = "decimal_str")]
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    rate: Decimal,
    effective_from: Option<DateTime<Utc>>,
}

async fn set_exchange_rate(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<SetRate>,
) -> Result<Reply<Recorded>, ApiError> {
    let command = PriceBookCommand::SetExchangeRate {
        code: code.to_ascii_uppercase(),
        rate: body.rate,
        effective_from: body.effective_from,
        now: Utc::now(),
    };
    execute(&state, &issuer, command).await
}

async fn list_currencies(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
) -> Result<Json<Items<CurrencyRow>>, ApiError> {
    wait_for_position(&state, NAME, position).await?;
    let items = pricing::currencies(&state.pool, caller.tenant.as_str()).await?;
    Ok(Json(Items { items }))
}

// No `deny_unknown_fields`: serde cannot combine it with `flatten`.
#[derive(Deserialize, schemars::JsonSchema)]
struct CreateProduct {
    code: String,
    name: String,
    category: String,
    unit: String,
    currency: String,
    #[serde(flatten)]
    pricing: Pricing,
    effective_from: Option<DateTime<Utc>>,
}

async fn create_product(
    State(state): State<AppState>,
    issuer: Issuer,
    ApiJson(body): ApiJson<CreateProduct>,
) -> Result<Reply<Recorded>, ApiError> {
    let command = PriceBookCommand::CreateProduct {
        code: body.code,
        name: body.name,
        category: body.category,
        unit: body.unit,
        currency: body.currency.to_ascii_uppercase(),
        pricing: body.pricing,
        effective_from: body.effective_from,
        now: Utc::now(),
    };
    execute(&state, &issuer, command).await
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ChangePrice {
    #[serde(flatten)]
    pricing: Pricing,
    effective_from: Option<DateTime<Utc>>,
}

async fn change_product_price(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<ChangePrice>,
) -> Result<Reply<Recorded>, ApiError> {
    let command = PriceBookCommand::ChangeProductPrice {
        code,
        pricing: body.pricing,
        effective_from: body.effective_from,
        now: Utc::now(),
    };
    execute(&state, &issuer, command).await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ProductMetadata {
    /// Any JSON value; `null` clears it.
    metadata: serde_json::Value,
}

async fn set_product_metadata(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<ProductMetadata>,
) -> Result<Reply<Recorded>, ApiError> {
    let command = PriceBookCommand::SetProductMetadata {
        code,
        metadata: body.metadata,
    };
    execute(&state, &issuer, command).await
}

async fn list_products(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
) -> Result<Json<Items<ProductRow>>, ApiError> {
    wait_for_position(&state, NAME, position).await?;
    let items = pricing::products(&state.pool, caller.tenant.as_str()).await?;
    Ok(Json(Items { items }))
}

#[derive(Serialize, schemars::JsonSchema)]
struct ProductDetail {
    #[serde(flatten)]
    product: ProductRow,
    prices: Vec<PriceRow>,
}

async fn get_product(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    Path(code): Path<String>,
) -> Result<Json<ProductDetail>, ApiError> {
    wait_for_position(&state, NAME, position).await?;
    let tenant = caller.tenant.as_str();
    let product = pricing::product(&state.pool, tenant, &code)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("product {code} not found")))?;
    let prices = pricing::price_history(&state.pool, tenant, &code).await?;
    Ok(Json(ProductDetail { product, prices }))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct QuoteQuery {
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    quantity: Decimal,
    at: Option<DateTime<Utc>>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Quote {
    product: String,
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    quantity: Decimal,
    at: DateTime<Utc>,
    currency: String,
    /// Rounded to the currency's minor unit, half away from zero.
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    amount: Decimal,
    /// Full precision.
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    exact_amount: Decimal,
    tiers: Vec<QuoteTier>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct QuoteTier {
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    quantity: Decimal,
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    unit_price: Decimal,
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    amount: Decimal,
}

/// What a quantity of the product costs at an instant (now by default), tier by tier.
async fn quote_product(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    Path(code): Path<String>,
    ApiQuery(query): ApiQuery<QuoteQuery>,
) -> Result<Json<Quote>, ApiError> {
    if query.quantity.is_sign_negative() {
        return Err(ApiError::bad_request("quantity", "must not be negative"));
    }
    wait_for_position(&state, NAME, position).await?;
    let at = query.at.unwrap_or_else(Utc::now);
    let (pricing, currency) = pricing::price_at(&state.pool, caller.tenant.as_str(), &code, at)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("product {code} has no price at {at}")))?;
    let pricing: Pricing =
        serde_json::from_value(pricing).map_err(|e| ApiError::Internal(e.to_string()))?;
    let currency_code =
        Currency::parse(&currency).map_err(|e| ApiError::Internal(e.to_string()))?;
    let exact_amount = pricing.rate(query.quantity);
    let tiers = pricing
        .breakdown(query.quantity)
        .into_iter()
        .map(|(quantity, unit_price)| QuoteTier {
            quantity,
            unit_price,
            amount: quantity * unit_price,
        })
        .collect();
    Ok(Json(Quote {
        product: code,
        quantity: query.quantity,
        at,
        amount: currency_code.round(exact_amount),
        currency,
        exact_amount,
        tiers,
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct SetCostRate {
    cloud_provider: String,
    region: String,
    instance_type: String,
    #[serde(deserialize_with = "decimal_str")]
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    hourly: Decimal,
    currency: String,
    effective_from: Option<DateTime<Utc>>,
}

async fn set_cost_rate(
    State(state): State<AppState>,
    issuer: Issuer,
    ApiJson(body): ApiJson<SetCostRate>,
) -> Result<Reply<Recorded>, ApiError> {
    let command = PriceBookCommand::SetCostRate {
        cloud_provider: body.cloud_provider.to_ascii_lowercase(),
        region: body.region,
        instance_type: body.instance_type,
        hourly: body.hourly,
        currency: body.currency.to_ascii_uppercase(),
        effective_from: body.effective_from,
        now: Utc::now(),
    };
    execute(&state, &issuer, command).await
}

async fn list_cost_rates(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
) -> Result<Json<Items<CostRateRow>>, ApiError> {
    wait_for_position(&state, NAME, position).await?;
    let items = pricing::cost_rates(&state.pool, caller.tenant.as_str()).await?;
    Ok(Json(Items { items }))
}
