//! Products (001 ops 3 and 8): the price book's products with the price in force now, and
//! their free-form metadata.

use aide::axum::routing::{get_with, put_with};
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use fleet_api::routes::Issuer;
use fleet_api::AppState;
use fleet_domain::price_book::{PriceBook, PriceBookCommand};
use fleet_domain::rating::Pricing;
use fleet_domain::Aggregate;
use fleet_projections::pricing::{self, ProductRow};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::wire::{product_uuid, rfc1123, Body, Rate};
use super::OrmucoError;

pub fn router() -> ApiRouter<AppState> {
    let op = |s| super::operation("products", s);
    let mut router = ApiRouter::new();
    for path in ["/products/", "/products"] {
        router = router.api_route(path, get_with(list, op("Returns the list of Products")));
    }
    for path in [
        "/products/{product_uuid}/metadata/",
        "/products/{product_uuid}/metadata",
    ] {
        router = router.api_route(
            path,
            put_with(set_metadata, op("Edits the metadata field for products")),
        );
    }
    router
}

/// 001's `Product`.
#[derive(Serialize, schemars::JsonSchema)]
struct Product {
    billablecategory_slug: String,
    billableunit_slug: String,
    created_date: String,
    label: String,
    last_updated_date: String,
    metadata: Option<Value>,
    name: String,
    /// The flat price per unit in force now, with 8 decimals; `null` for a tiered price,
    /// whose tiers are in `rate`.
    price_per_unit: Option<Rate>,
    product_code: String,
    uuid: String,
    /// `flat` or `tiered`.
    rate_system: String,
    /// The tiers of a tiered price: `[{"up_to": …, "unit_price": …}]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    rate: Option<Value>,
    /// The currency the price is stated in.
    currency: String,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Products {
    products: Vec<Product>,
}

fn product(tenant: &str, row: ProductRow) -> Product {
    let pricing: Option<Pricing> = serde_json::from_value(row.pricing.clone()).ok();
    let (rate_system, price_per_unit, rate) = match pricing {
        Some(Pricing::Flat { unit_price }) => ("flat", Some(Rate::from_decimal(unit_price)), None),
        _ => ("tiered", None, row.pricing.get("tiers").cloned()),
    };
    Product {
        billablecategory_slug: row.category,
        billableunit_slug: row.unit,
        created_date: rfc1123(row.created_at),
        label: row.name.clone(),
        last_updated_date: rfc1123(row.updated_at),
        metadata: row.metadata,
        name: row.name,
        price_per_unit,
        uuid: product_uuid(tenant, &row.code).to_string(),
        product_code: row.code,
        rate_system: rate_system.into(),
        rate,
        currency: row.currency,
    }
}

async fn products(state: &AppState, issuer: &Issuer) -> Result<Vec<ProductRow>, OrmucoError> {
    let tenant = &issuer.caller.tenant;
    state
        .caught_up_on(tenant, PriceBook::TYPE, pricing::NAME)
        .await?;
    Ok(pricing::products(&state.pool, tenant.as_str()).await?)
}

async fn list(
    State(state): State<AppState>,
    issuer: Issuer,
) -> Result<Json<Products>, OrmucoError> {
    let tenant = issuer.caller.tenant.to_string();
    let rows = products(&state, &issuer).await?;
    Ok(Json(Products {
        products: rows.into_iter().map(|r| product(&tenant, r)).collect(),
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Metadata {
    /// The value to be placed in the metadata field of the product (any JSON; `null` clears).
    metadata: Value,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ProductPath {
    /// The product's uuid (its product code is read too).
    product_uuid: String,
}

async fn set_metadata(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(path): Path<ProductPath>,
    crate::extract::Body(body, _): Body<Metadata>,
) -> Result<Json<Product>, OrmucoError> {
    let tenant = issuer.caller.tenant.to_string();
    let wanted = path.product_uuid.trim();
    let code = products(&state, &issuer)
        .await?
        .into_iter()
        .map(|r| r.code)
        .find(|code| product_uuid(&tenant, code).to_string() == wanted || code == wanted)
        .ok_or_else(|| OrmucoError::not_found("product", wanted))?;
    let command = PriceBookCommand::SetProductMetadata {
        code: code.clone(),
        metadata: body.metadata,
    };
    super::change_price_book(&state, &issuer, command).await?;
    let row = pricing::product(&state.pool, &tenant, &code)
        .await?
        .ok_or_else(|| OrmucoError::not_found("product", wanted))?;
    Ok(Json(product(&tenant, row)))
}
