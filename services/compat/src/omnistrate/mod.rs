//! Omnistrate's Fleet API (000) at `/2022-09-01-00/fleet`: resource instances and their
//! snapshots, subscriptions and their requests, users, cost, usage, invoices, audit events,
//! end-customer events, the environment report, organisations and the service's summary and
//! resources, the host clusters (deployment cells) and notification channels, each translated onto the same
//! application functions and read models as the native API.
//!
//! - Auth: `Authorization: Bearer <token>`, which takes the same API keys as the native API;
//!   the key's role decides what it may do, as natively.
//! - Ids: Omnistrate's prefixed forms (`instance-…`, `sub-…`, `subr-…`, `user-…`, `org-…`)
//!   around the native id, so both APIs name the same resource. A bare native id is read too.
//! - Scope: `serviceId` is the instances' and subscriptions' `service_id`, `productTierId`
//!   their `plan_id`. Fleetledger has no environments as entities: `environmentId` is echoed
//!   where Omnistrate echoes it and narrows nothing.
//! - Lists: `nextPageToken` and `pageSize`; errors are Goa's; asynchronous operations answer
//!   202 as Omnistrate does.
//! - Reads see every write already acknowledged: Omnistrate's clients send no position, so a
//!   read waits for its read model to catch up with the tenant's subjects it reads.

mod account_configs;
mod billing;
mod configuration;
mod cost;
mod errors;
mod feeds;
mod health;
mod helm;
mod hooks;
mod host_cluster_entities;
mod host_clusters;
mod instance_events;
mod instances;
mod inventory;
mod networks;
mod notifications;
mod onboardings;
mod operations;
mod orchestrations;
mod search;
mod shapes;
mod snapshots;
mod subscriptions;
mod upgrade_paths;
mod users;
mod wire;
mod workflows;

use aide::axum::ApiRouter;
use aide::OperationInput;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use fleet_api::auth::{Caller, Permission};
use fleet_api::routes::Issuer;
use fleet_api::AppState;

use crate::document::{documented, About};
use fleet_events::Tenant;

pub use errors::GoaError;

/// Where the dialect is served.
pub const BASE: &str = "/2022-09-01-00/fleet";

/// The dialect's routes under [`BASE`], with its own document at `BASE/openapi.json`.
pub fn router(state: AppState) -> Router<AppState> {
    let routes = ApiRouter::new()
        .merge(instances::router())
        .merge(instance_events::router())
        .merge(configuration::router())
        .merge(snapshots::router())
        .merge(subscriptions::router())
        .merge(users::router())
        .merge(cost::router())
        .merge(billing::router())
        .merge(feeds::router())
        .merge(operations::router())
        .merge(inventory::router())
        .merge(host_clusters::router())
        .merge(host_cluster_entities::router())
        .merge(notifications::router())
        .merge(workflows::router())
        .merge(upgrade_paths::router())
        .merge(account_configs::router())
        .merge(networks::router())
        .merge(onboardings::router())
        .merge(orchestrations::router())
        .merge(health::router())
        .merge(search::router())
        .merge(helm::router())
        .layer(axum::middleware::from_fn_with_state(state, authenticate))
        // Producers sign their deliveries instead of holding a token.
        .merge(hooks::router());
    let about = About {
        title: "Fleetledger: Omnistrate Fleet API dialect",
        version: "2022-09-01-00",
        description: "Omnistrate's Fleet API, served over Fleetledger. Authenticate with \
            `Authorization: Bearer <api key>`.",
    };
    documented(about, BASE, routes, &format!("{BASE}/openapi.json")).route(
        &format!("{BASE}/{{*rest}}"),
        axum::routing::any(|| async {
            GoaError::NotFound("no such operation of the Fleet API".into())
        }),
    )
}

/// `Authorization: Bearer <key>` onto the same keys as the native API.
async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let header = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let ip = fleet_api::auth::client_ip(&request);
    let Some(header) = header else {
        state
            .metrics
            .auth_failed("omnistrate", "missing", ip.as_deref());
        return GoaError::Unauthorized("the Authorization header is missing".into())
            .into_response();
    };
    let Some(key) = header
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|k| k.starts_with(fleet_app::access::KEY_PREFIX) && k.len() < 200)
        .map(str::to_owned)
    else {
        state
            .metrics
            .auth_failed("omnistrate", "invalid", ip.as_deref());
        return GoaError::Unauthorized("the bearer token is not valid".into()).into_response();
    };
    match state.keys.resolve(&state.pool, &key).await {
        Ok(Some(principal)) => {
            request.extensions_mut().insert(Caller(principal));
            next.run(request).await
        }
        Ok(None) => {
            state
                .metrics
                .auth_failed("omnistrate", "invalid", ip.as_deref());
            GoaError::Unauthorized("the bearer token is not valid".into()).into_response()
        }
        Err(e) => GoaError::from(e).into_response(),
    }
}

/// The authenticated caller with the envelope metadata of the commands it issues.
pub struct Agent(pub Issuer);

impl Agent {
    pub fn tenant(&self) -> &Tenant {
        &self.0.caller.tenant
    }

    pub fn meta(&self) -> &fleet_app::command_bus::CommandMeta {
        &self.0.meta
    }

    pub fn require(&self, permission: Permission) -> Result<(), GoaError> {
        self.0.caller.require(permission).map_err(GoaError::from)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Agent {
    type Rejection = GoaError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, GoaError> {
        Issuer::from_request_parts(parts, state)
            .await
            .map(Self)
            .map_err(|_| GoaError::Unauthorized("the bearer token is not valid".into()))
    }
}

impl OperationInput for Agent {}

/// Waits until `projection` holds every event of the tenant's `aggregate_types` recorded so
/// far.
pub async fn fresh(
    state: &AppState,
    tenant: &Tenant,
    projection: &str,
    aggregate_types: &[&str],
) -> Result<(), GoaError> {
    for aggregate_type in aggregate_types {
        state
            .caught_up_on(tenant, aggregate_type, projection)
            .await?;
    }
    Ok(())
}

/// Waits until `projection` has applied `position` (a command's).
pub async fn applied(state: &AppState, projection: &str, position: u64) -> Result<(), GoaError> {
    if position > 0 {
        fleet_api::routes::wait_for_position(state, projection, Some(position)).await?;
    }
    Ok(())
}

/// An operation's summary, under its Omnistrate group's tag.
fn operation(
    tag: &'static str,
    summary: &'static str,
) -> impl FnOnce(aide::transform::TransformOperation) -> aide::transform::TransformOperation {
    move |op| op.summary(summary).tag(tag)
}

pub use crate::answer::Done;

/// A JSON answer at status `STATUS` (Omnistrate answers some creations 202).
pub struct Answer<T, const STATUS: u16 = 200>(pub T);

impl<T: serde::Serialize, const STATUS: u16> IntoResponse for Answer<T, STATUS> {
    fn into_response(self) -> Response {
        let status = axum::http::StatusCode::from_u16(STATUS).unwrap_or(axum::http::StatusCode::OK);
        (status, Json(self.0)).into_response()
    }
}

impl<T: schemars::JsonSchema, const STATUS: u16> aide::OperationOutput for Answer<T, STATUS> {
    type Inner = T;

    fn operation_response(
        ctx: &mut aide::generate::GenContext,
        operation: &mut aide::openapi::Operation,
    ) -> Option<aide::openapi::Response> {
        <Json<T> as aide::OperationOutput>::operation_response(ctx, operation)
    }

    fn inferred_responses(
        ctx: &mut aide::generate::GenContext,
        operation: &mut aide::openapi::Operation,
    ) -> Vec<(Option<aide::openapi::StatusCode>, aide::openapi::Response)> {
        Self::operation_response(ctx, operation)
            .map(|r| (Some(aide::openapi::StatusCode::Code(STATUS)), r))
            .into_iter()
            .collect()
    }
}
