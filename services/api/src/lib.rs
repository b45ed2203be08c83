//! The native HTTP face of Fleetledger: `/v1` commands and queries, health, metrics, and the
//! OpenAPI document generated from the routers ([`docs`]).
//!
//! Handlers only translate: HTTP into a command or query of the application layer
//! ([`fleet_app`]), and its answer back into HTTP.

pub mod auth;
pub mod docs;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod jwt;
pub mod limits;
pub mod pagination;
pub mod request_context;
pub mod routes;
pub mod streaming;

use std::ops::Deref;
use std::sync::Arc;

use aide::axum::ApiRouter;
use axum::Router;
use fleet_app::access::KeyCache;
use fleet_app::App;
use prometheus_client::registry::Registry;

pub use error::ApiError;
pub use fleet_app::Settings;

/// The native API's state: the application, and what only HTTP needs.
#[derive(Clone)]
pub struct AppState {
    /// Shared, not copied: axum clones the state for every request and every layer.
    pub app: Arc<App>,
    pub keys: KeyCache,
    pub registry: Arc<Registry>,
    pub limits: Arc<limits::Limits>,
    /// The keys bearer tokens (JWT) are verified with; empty: only API keys.
    pub jwt: Arc<jwt::JwtKeys>,
}

/// Handlers reach the application's parts (`state.pool`, `state.bus`) directly.
impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.app
    }
}

/// The native API: `/v1` behind authentication and idempotency, and the operations routes.
pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// The native API with the dialects' routes beside it, under the same request context
/// (correlation id, tracing span, metrics). The dialects answer their own unknown paths; the
/// rest falls back to the native 404.
pub fn router_with(state: AppState, dialects: Router<AppState>) -> Router {
    let (router, _) = router_and_document_with(state, dialects);
    router
}

/// A dialect's routes served on a listener of their own, with the same per-request context
/// (correlation id, tracing) as the main listener.
pub fn served_alone(state: AppState, routes: Router<AppState>) -> Router {
    routes
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::middleware,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_context::middleware,
        ))
        .with_state(state)
}

/// The router and the OpenAPI document generated from it.
pub fn router_and_document(state: AppState) -> (Router, Arc<serde_json::Value>) {
    router_and_document_with(state, Router::new())
}

fn router_and_document_with(
    state: AppState,
    dialects: Router<AppState>,
) -> (Router, Arc<serde_json::Value>) {
    aide::generate::on_error(|error| tracing::warn!(%error, "documenting the API"));
    aide::generate::extract_schemas(true);
    let v1 = ApiRouter::new()
        .merge(routes::instances::router())
        .merge(routes::snapshots::router())
        .merge(routes::host_clusters::router())
        .merge(routes::workflows::router())
        .merge(routes::account_configs::router())
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
        .merge(routes::simulations::router())
        .merge(routes::reports::router())
        .merge(routes::usage::router())
        .merge(routes::cost::router())
        .merge(routes::marketplace::router())
        // Layers run outside-in: auth first, then idempotency (which needs the caller).
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            idempotency::middleware,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::middleware,
        ));
    let mut api = docs::base_document();
    let router = ApiRouter::new()
        .nest("/v1", v1)
        .merge(routes::ops::router())
        .finish_api(&mut api);
    docs::declare_path_parameters(&mut api);
    let document = Arc::new(serde_json::to_value(&api).expect("the document serialises"));
    let router = router
        .merge(dialects)
        .merge(routes::reference::router())
        .merge(routes::console::router())
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .layer(axum::Extension(document.clone()))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::middleware,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_context::middleware,
        ))
        .with_state(state);
    (router, document)
}
