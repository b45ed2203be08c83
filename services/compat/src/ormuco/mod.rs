//! Ormuco's reseller Billing API v1 (001) at `/reseller/billing/v1`: the reseller's currencies
//! and products, its clients' usage and invoices, the billing report, and the reseller
//! metadata of billable resources, each translated onto the same application functions and
//! read models as the native API.
//!
//! - Auth: `X-Reseller-Api-Key`, which takes the same API keys as the native API; a missing or
//!   unknown key is a 401. The key's role decides what it may change, as natively.
//! - Listener: served beside the native API, and on a listener of its own (port 9534 by
//!   default, as 001 says; `FLEET_ORMUCO_LISTEN`, off when empty).
//! - Ids: a client is a customer (its native id); a currency's and a product's `uuid` are
//!   derived from the tenant and the ISO code or product code, so they never change; the
//!   reseller's `reseller_uuid` from the tenant. A billable resource is an instance.
//! - Numbers: JSON numbers written from decimals (rates and prices with 8 decimals, amounts
//!   with 2) and read digit for digit; uptime is `DD:HH:MM:SS`; dates as 001 writes each.
//! - Reads see every write already acknowledged: Ormuco's clients send no position.

mod currencies;
mod errors;
mod invoices;
mod products;
mod report;
mod resources;
mod usage;
mod wire;

use aide::axum::ApiRouter;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use fleet_api::auth::Caller;
use fleet_api::AppState;

use crate::document::{documented, About};

pub use errors::OrmucoError;

/// Where the dialect is served.
pub const BASE: &str = "/reseller/billing/v1";
/// The header that carries the key.
pub const KEY_HEADER: &str = "x-reseller-api-key";

/// The dialect's routes under [`BASE`], with its own document at `BASE/openapi.json`.
pub fn router(state: AppState) -> Router<AppState> {
    let routes = ApiRouter::new()
        .merge(currencies::router())
        .merge(products::router())
        .merge(report::router())
        .merge(usage::router())
        .merge(invoices::router())
        .merge(resources::router())
        .layer(axum::middleware::from_fn_with_state(state, authenticate));
    let about = About {
        title: "Fleetledger: Ormuco reseller Billing API v1 dialect",
        version: "1",
        description: "Ormuco's reseller Billing API, served over Fleetledger. Send the API key \
            in `X-Reseller-Api-Key`.",
    };
    documented(about, BASE, routes, &format!("{BASE}/openapi.json")).route(
        &format!("{BASE}/{{*rest}}"),
        axum::routing::any(|| async {
            OrmucoError::NotFound("no such operation of the Billing API".into())
        }),
    )
}

/// `X-Reseller-Api-Key: <key>` onto the same keys as the native API.
async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let key = request
        .headers()
        .get(KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let ip = fleet_api::auth::client_ip(&request);
    let Some(key) = key else {
        state
            .metrics
            .auth_failed("ormuco", "missing", ip.as_deref());
        return OrmucoError::Unauthorized("the X-Reseller-Api-Key header is missing".into())
            .into_response();
    };
    if !key.starts_with(fleet_app::access::KEY_PREFIX) || key.len() >= 200 {
        state
            .metrics
            .auth_failed("ormuco", "invalid", ip.as_deref());
        return OrmucoError::Unauthorized("the API key is not valid".into()).into_response();
    }
    let key = key.to_owned();
    match state.keys.resolve(&state.pool, &key).await {
        Ok(Some(principal)) => {
            request.extensions_mut().insert(Caller(principal));
            next.run(request).await
        }
        Ok(None) => {
            state
                .metrics
                .auth_failed("ormuco", "invalid", ip.as_deref());
            OrmucoError::Unauthorized("the API key is not valid".into()).into_response()
        }
        Err(e) => OrmucoError::from(e).into_response(),
    }
}

/// Runs a change of the price book and waits until its read model shows it, so the answer
/// can be read back from there.
async fn change_price_book(
    state: &AppState,
    issuer: &fleet_api::routes::Issuer,
    command: fleet_domain::price_book::PriceBookCommand,
) -> Result<(), OrmucoError> {
    use fleet_domain::price_book::{PriceBook, ID};
    let executed = fleet_api::routes::run_on::<PriceBook>(
        state,
        issuer,
        fleet_api::auth::Permission::ManagePricing,
        ID,
        fleet_api::routes::Target::Existing,
        command,
    )
    .await?;
    fleet_api::routes::wait_for_position(
        state,
        fleet_projections::pricing::NAME,
        Some(executed.event.sequence),
    )
    .await?;
    Ok(())
}

/// An operation's summary, under its group's tag.
fn operation(
    tag: &'static str,
    summary: &'static str,
) -> impl FnOnce(aide::transform::TransformOperation) -> aide::transform::TransformOperation {
    move |op| op.summary(summary).tag(tag)
}
