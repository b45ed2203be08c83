//! The HTTP face of Fleetledger: `/v1` commands and queries, health, metrics, OpenAPI.
//!
//! Handlers only translate: HTTP into a command for the [`command_bus::CommandBus`] or a query
//! on a read model, and the result back into HTTP.

pub mod auth;
pub mod command_bus;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod invoicing;
pub mod metrics;
pub mod openapi;
pub mod pagination;
pub mod policies;
pub mod process_managers;
pub mod rater;
pub mod request_context;
pub mod routes;
pub mod scheduler;
pub mod streaming;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use fleet_events::jetstream::JetStreamLog;
use prometheus_client::registry::Registry;
use sqlx::PgPool;

pub use error::ApiError;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub bus: command_bus::CommandBus,
    pub log: JetStreamLog,
    /// The usage stream.
    pub usage_log: JetStreamLog,
    pub nats: async_nats::Client,
    pub keys: auth::KeyCache,
    pub locks: policies::KeyedLocks,
    pub metrics: metrics::ApiMetrics,
    pub registry: Arc<Registry>,
    pub settings: Settings,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a query with `X-Fleet-Position` waits for its read model.
    pub read_wait: Duration,
    /// `/readyz` reports not ready when a projection lags more than this many events.
    pub ready_max_lag: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            read_wait: Duration::from_secs(5),
            ready_max_lag: 100_000,
        }
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
