//! Currencies (001 ops 1, 2 and 13): the reseller's currencies, one of them main with the rate
//! 1, the others with a rate to it; adding one, and changing a rate from now on.

use aide::axum::routing::{get_with, put_with};
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use chrono::Utc;
use fleet_api::auth::Permission;
use fleet_api::routes::Issuer;
use fleet_api::AppState;
use fleet_domain::price_book::{CurrencyNames, PriceBook, PriceBookCommand};
use fleet_domain::Aggregate;
use fleet_projections::pricing::{self, CurrencyRow};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::wire::{currency_uuid, reseller_uuid, Body, Rate};
use super::OrmucoError;

pub fn router() -> ApiRouter<AppState> {
    let op = |s| super::operation("currencies", s);
    let mut router = ApiRouter::new();
    // 001's clients write both forms: with and without the trailing slash.
    for path in ["/currencies/", "/currencies"] {
        router = router.api_route(
            path,
            get_with(list, op("Get available currencies for your reseller"))
                .post_with(create, op("Creates a new currency")),
        );
    }
    router.api_route(
        "/currencies/{currency_uuid}",
        put_with(
            update_rate,
            op("Updates the exchange rate of the currency with the uuid sent"),
        )
        .patch_with(
            update_rate,
            op("Updates the exchange rate of the currency with the uuid sent"),
        ),
    )
}

/// 001's `Currency`.
#[derive(Serialize, schemars::JsonSchema)]
struct Currency {
    /// Units of the main currency per unit of this one, with 8 decimals.
    exchange_rate: Rate,
    iso_code: String,
    label: String,
    /// Absent in the answer to a rate change, as 001 shows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    main: Option<bool>,
    plural_label: String,
    reseller_uuid: String,
    symbol: String,
    uuid: String,
}

fn currency(tenant: &str, row: CurrencyRow) -> Currency {
    Currency {
        exchange_rate: Rate::from_decimal(row.rate),
        label: row.label.unwrap_or_else(|| row.code.clone()),
        plural_label: row.plural_label.unwrap_or_else(|| row.code.clone()),
        symbol: row.symbol.unwrap_or_else(|| row.code.clone()),
        main: Some(row.main),
        reseller_uuid: reseller_uuid(tenant).to_string(),
        uuid: currency_uuid(tenant, &row.code).to_string(),
        iso_code: row.code,
    }
}

async fn currencies(state: &AppState, issuer: &Issuer) -> Result<Vec<CurrencyRow>, OrmucoError> {
    let tenant = &issuer.caller.tenant;
    state
        .caught_up_on(tenant, PriceBook::TYPE, pricing::NAME)
        .await?;
    Ok(pricing::currencies(&state.pool, tenant.as_str()).await?)
}

async fn list(
    State(state): State<AppState>,
    issuer: Issuer,
) -> Result<Json<Vec<Currency>>, OrmucoError> {
    let tenant = issuer.caller.tenant.to_string();
    let rows = currencies(&state, &issuer).await?;
    Ok(Json(
        rows.into_iter().map(|r| currency(&tenant, r)).collect(),
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct NewCurrency {
    /// Rate of the currency compared to your main currency (ignored for the main one, whose
    /// rate is 1).
    #[serde(default, deserialize_with = "crate::json::exact_decimal_opt")]
    #[schemars(with = "Option<f64>")]
    exchange_rate: Option<Decimal>,
    iso_code: String,
    label: String,
    plural_label: String,
    symbol: String,
    /// Whether it is the reseller's main currency: the first currency must be.
    #[serde(default)]
    main: bool,
}

async fn create(
    State(state): State<AppState>,
    issuer: Issuer,
    crate::extract::Body(body, _): Body<NewCurrency>,
) -> Result<Json<Currency>, OrmucoError> {
    let code = body.iso_code.trim().to_ascii_uppercase();
    let rate = match (body.main, body.exchange_rate) {
        (true, Some(rate)) if rate == Decimal::ONE => None,
        (true, Some(_)) => {
            return Err(OrmucoError::field(
                "exchange_rate",
                "the main currency's rate is 1",
            ))
        }
        (_, rate) => rate,
    };
    let command = PriceBookCommand::AddCurrency {
        code: code.clone(),
        main: body.main,
        rate,
        names: Some(CurrencyNames {
            label: body.label,
            plural_label: body.plural_label,
            symbol: body.symbol,
        }),
    };
    super::change_price_book(&state, &issuer, command)
        .await
        .map_err(|e| match e {
            OrmucoError::Conflict(_) => {
                OrmucoError::Conflict(format!("the currency {code} exists already"))
            }
            other => other,
        })?;
    let tenant = issuer.caller.tenant.to_string();
    let row = pricing::currencies(&state.pool, &tenant)
        .await?
        .into_iter()
        .find(|r| r.code == code)
        .ok_or_else(|| OrmucoError::Internal(format!("the currency {code} was not recorded")))?;
    Ok(Json(currency(&tenant, row)))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct NewRate {
    #[serde(deserialize_with = "crate::json::exact_decimal")]
    #[schemars(with = "f64")]
    exchange_rate: Decimal,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct CurrencyPath {
    /// The currency's uuid (its ISO code is read too).
    currency_uuid: String,
}

/// The rate changes from now on: what was rated before keeps the rate it had.
async fn update_rate(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(path): Path<CurrencyPath>,
    crate::extract::Body(body, _): Body<NewRate>,
) -> Result<Json<Currency>, OrmucoError> {
    let tenant = issuer.caller.tenant.to_string();
    let wanted = path.currency_uuid.trim();
    issuer.caller.require(Permission::ManagePricing)?;
    let found = currencies(&state, &issuer)
        .await?
        .into_iter()
        .find(|r| {
            currency_uuid(&tenant, &r.code).to_string() == wanted
                || r.code.eq_ignore_ascii_case(wanted)
        })
        .ok_or_else(|| OrmucoError::not_found("currency", wanted))?;
    if found.main {
        return Err(OrmucoError::field(
            "exchange_rate",
            "the main currency's rate is always 1",
        ));
    }
    let code = found.code;
    let command = PriceBookCommand::SetExchangeRate {
        code: code.clone(),
        rate: body.exchange_rate,
        effective_from: None,
        now: Utc::now(),
    };
    super::change_price_book(&state, &issuer, command).await?;
    let row = pricing::currencies(&state.pool, &tenant)
        .await?
        .into_iter()
        .find(|r| r.code == code)
        .ok_or_else(|| OrmucoError::not_found("currency", wanted))?;
    let mut answer = currency(&tenant, row);
    answer.main = None;
    Ok(Json(answer))
}
