//! The HTTP face of Fleetledger: `/v1` commands and queries, health, metrics, OpenAPI.
//!
//! Handlers only translate: HTTP into a command for the [`command_bus::CommandBus`] or a query
//! on a read model, and the result back into HTTP.

pub mod auth;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod openapi;
pub mod pagination;
pub mod request_context;
pub mod routes;
pub mod streaming;

use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use fleet_app::access::KeyCache;
use fleet_app::App;
use prometheus_client::registry::Registry;

pub use error::ApiError;
pub use fleet_app::Settings;

/// The native API's state: the application, and what only HTTP needs.
#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub keys: KeyCache,
    pub registry: Arc<Registry>,
}

/// Handlers reach the application's parts (`state.pool`, `state.bus`) directly.
impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.app
    }
}

pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .merge(routes::instances::router())
        .merge(routes::inventory::router())
        .merge(routes::customers::router())
        .merge(routes::users::router())
        .merge(routes::subscriptions::router())
        .merge(routes::subscription_requests::router())
        .merge(routes::audit::router())
        .merge(routes::events::router())
        .merge(routes::notification_channels::router())
        .merge(routes::pricing::router())
        .merge(routes::invoices::router())
        .merge(routes::billing_terms::router())
        .merge(routes::reports::router())
        .merge(routes::usage::router())
        .merge(routes::cost::router())
        // Layers run outside-in: auth first, then idempotency (which needs the caller).
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            idempotency::middleware,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::middleware,
        ));
    Router::new()
        .nest("/v1", v1)
        .merge(routes::ops::router())
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_context::middleware,
        ))
        .with_state(state)
}
