//! Waldur's marketplace API (002): `/api/marketplace-provider-resources/` with every operation
//! of the seed and HEAD for the count, and what a provider's site agent calls besides:
//! `/api/marketplace-orders/` and `/api/marketplace-component-usages/`.
//!
//! - Auth: `Authorization: Token <key>`, the same API keys as the native API. The tenant is the
//!   service provider. An `admin` key is Waldur's staff; an `operator` key is the provider's
//!   service manager (every provider action that is not staff-only); the other roles read,
//!   as Waldur's support users do.
//! - Lists: `page` and `page_size` (10, at most 300), a bare array with `Link` and
//!   `X-Result-Count`, `o=` ordering and `field=` selection; multi-values repeated or
//!   comma-separated.
//! - Errors: DRF's bodies; a state conflict is a 409 with `detail`; an unknown uuid, or
//!   another provider's, is a 404.
//! - Reads see every write already acknowledged: Waldur's clients send no position, so a read
//!   waits for the marketplace read model to catch up with the tenant's marketplace subjects.

mod body;
mod errors;
mod orders;
pub(crate) mod params;
mod resources;
mod shapes;
mod usages;

use aide::axum::ApiRouter;
use aide::OperationInput;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use fleet_api::auth::{Caller, Role};
use fleet_api::routes::Issuer;
use fleet_api::AppState;

use crate::document::{documented, About};
use fleet_events::Tenant;
use fleet_projections::marketplace::NAME;

pub use errors::DrfError;

/// The dialect's routes under `/api`, with its own document at `/api/openapi.json`.
pub fn router(state: AppState) -> Router<AppState> {
    let routes = ApiRouter::new()
        .merge(resources::router())
        .merge(orders::router())
        .merge(usages::router())
        .layer(axum::middleware::from_fn_with_state(state, authenticate));
    let about = About {
        title: "Fleetledger: Waldur marketplace dialect",
        version: env!("CARGO_PKG_VERSION"),
        description: "Waldur's marketplace provider resources, orders and component usages, \
            served over Fleetledger. Authenticate with `Authorization: Token <api key>`.",
    };
    documented(about, "/api", routes, "/api/openapi.json").route(
        "/api/{*rest}",
        axum::routing::any(|| async { DrfError::NotFound }),
    )
}

/// `Authorization: Token <key>` onto the same keys as the native API.
async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let header = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let ip = fleet_api::auth::client_ip(&request);
    let Some(header) = header else {
        state
            .metrics
            .auth_failed("waldur", "missing", ip.as_deref());
        return DrfError::Unauthorized("Authentication credentials were not provided.")
            .into_response();
    };
    let Some(key) = header
        .strip_prefix("Token ")
        .map(str::trim)
        .filter(|k| k.starts_with(fleet_app::access::KEY_PREFIX) && k.len() < 200)
        .map(str::to_owned)
    else {
        state
            .metrics
            .auth_failed("waldur", "invalid", ip.as_deref());
        return DrfError::Unauthorized("Invalid token.").into_response();
    };
    match state.keys.resolve(&state.pool, &key).await {
        Ok(Some(principal)) => {
            request.extensions_mut().insert(Caller(principal));
            next.run(request).await
        }
        Ok(None) => {
            state
                .metrics
                .auth_failed("waldur", "invalid", ip.as_deref());
            DrfError::Unauthorized("Invalid token.").into_response()
        }
        Err(e) => DrfError::from(e).into_response(),
    }
}

/// Who Waldur would say the caller is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Staff,
    ServiceProvider,
    Support,
}

/// The authenticated caller with the envelope metadata of the commands it issues.
pub struct Agent {
    pub issuer: Issuer,
    pub standing: Standing,
}

impl Agent {
    pub fn tenant(&self) -> &Tenant {
        &self.issuer.caller.tenant
    }

    /// A provider action: staff or the provider's service managers.
    pub fn require_provider(&self) -> Result<(), DrfError> {
        match self.standing {
            Standing::Staff | Standing::ServiceProvider => Ok(()),
            Standing::Support => Err(DrfError::Forbidden),
        }
    }

    pub fn require_staff(&self) -> Result<(), DrfError> {
        match self.standing {
            Standing::Staff => Ok(()),
            _ => Err(DrfError::Forbidden),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Agent {
    type Rejection = DrfError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, DrfError> {
        let issuer = Issuer::from_request_parts(parts, state)
            .await
            .map_err(|_| DrfError::Unauthorized("Invalid token."))?;
        let standing = match issuer.caller.role {
            Role::Admin => Standing::Staff,
            Role::Operator => Standing::ServiceProvider,
            Role::Billing | Role::Auditor | Role::Viewer => Standing::Support,
        };
        Ok(Self { issuer, standing })
    }
}

impl OperationInput for Agent {}

/// Waits until the marketplace read model holds every marketplace write of the tenant
/// acknowledged so far.
pub async fn fresh(state: &AppState, tenant: &Tenant) -> Result<(), DrfError> {
    use fleet_events::{offering, order, project, resource};
    for aggregate_type in [
        resource::AGGREGATE_TYPE,
        order::AGGREGATE_TYPE,
        offering::AGGREGATE_TYPE,
        project::AGGREGATE_TYPE,
    ] {
        state.caught_up_on(tenant, aggregate_type, NAME).await?;
    }
    Ok(())
}

/// Waits until the marketplace read model has applied `position` (a command's).
pub async fn applied(state: &AppState, position: u64) -> Result<(), DrfError> {
    if position > 0 {
        fleet_api::routes::wait_for_position(state, NAME, Some(position)).await?;
    }
    Ok(())
}

/// An operation's summary, under its group's tag.
fn operation(
    tag: &'static str,
    summary: &'static str,
) -> impl FnOnce(aide::transform::TransformOperation) -> aide::transform::TransformOperation {
    move |op| op.summary(summary).tag(tag)
}

/// `{"status": "..."}`, the answer of Waldur's setters.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct Status {
    pub status: String,
}

pub fn status(text: impl Into<String>) -> Json<Status> {
    Json(Status {
        status: text.into(),
    })
}
