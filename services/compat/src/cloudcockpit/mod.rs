//! CloudCockpit's CSP API (003) at `/v1/Customers`: deleting a customer, listing its licenses
//! on a provider instance, and removing its reseller relationship there.
//!
//! - `X-Tenant` names the tenant by its portal domain, as configured per deployment
//!   (`FLEET_CLOUDCOCKPIT_TENANTS=portal.example.com=acme,…`). An unknown domain is a 404.
//! - `Authorization: Bearer <JWT>`, HS256 or RS256, verified against the deployment's key set
//!   ([`fleet_api::jwt`]). Its `tenant` claim must be the domain's tenant (a 403 otherwise:
//!   never another tenant's data), its `role` `csp` or `reseller`; a reseller's token carries
//!   its `reseller_id`. An expired or badly signed token is a 401.
//! - `X-Correlation-Id` is carried into every event and so into the audit log, and echoed in
//!   `correlationId` of every error.
//! - Errors are 003's `ErrorResponse`.

mod customers;
mod errors;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use fleet_api::auth::Caller;
use fleet_api::jwt::JwtKeys;
use fleet_api::AppState;

use crate::document::{documented, About};
use fleet_app::access::{Principal, Role};
use fleet_events::Tenant;

pub use errors::ErrorResponse;

/// Where the dialect's document is.
pub const DOCUMENT: &str = "/v1/Customers/openapi.json";

/// Who may call, as the deployment configures it.
#[derive(Default)]
pub struct Access {
    pub jwt: Arc<JwtKeys>,
    /// Portal domain -> tenant.
    pub tenants: BTreeMap<String, Tenant>,
}

/// The caller's CloudCockpit role, from its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CockpitRole {
    Csp,
    Reseller { reseller_id: Option<String> },
}

impl<S: Send + Sync> FromRequestParts<S> for CockpitRole {
    type Rejection = ErrorResponse;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ErrorResponse> {
        parts
            .extensions
            .get::<CockpitRole>()
            .cloned()
            .ok_or_else(|| ErrorResponse::unauthorized("the bearer token is missing"))
    }
}

impl aide::OperationInput for CockpitRole {}

impl CockpitRole {
    /// 003 makes some operations the CSP's alone.
    pub fn require_csp(&self, action: &str) -> Result<(), ErrorResponse> {
        match self {
            Self::Csp => Ok(()),
            Self::Reseller { .. } => Err(ErrorResponse::forbidden(format!(
                "only the CSP may {action}"
            ))),
        }
    }
}

pub fn router(state: AppState, access: Arc<Access>) -> Router<AppState> {
    let routes = customers::router()
        .layer(axum::middleware::from_fn_with_state(state, authenticate))
        .layer(Extension(access));
    let about = About {
        title: "Fleetledger: CloudCockpit CSP API dialect",
        version: "v1",
        description: "CloudCockpit's CSP API, served over Fleetledger. Send `X-Tenant` (the \
            portal domain) and `Authorization: Bearer <JWT>`; `X-Correlation-Id` is optional.",
    };
    documented(about, "/v1", routes, DOCUMENT)
}

/// The token's subject as a stable id, for idempotency keys kept per credential.
fn subject_id(tenant: &str, subject: &str) -> uuid::Uuid {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("jwt/{tenant}/{subject}").as_bytes(),
    )
}

async fn authenticate(
    State(state): State<AppState>,
    Extension(access): Extension<Arc<Access>>,
    mut request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let ip = fleet_api::auth::client_ip(&request);
    let Some(token) = token else {
        state
            .metrics
            .auth_failed("cloudcockpit", "missing", ip.as_deref());
        return ErrorResponse::unauthorized("the Authorization header has no bearer token")
            .into_response();
    };
    let claims = match access.jwt.verify(token) {
        Ok(claims) => claims,
        Err(e) => {
            state
                .metrics
                .auth_failed("cloudcockpit", "invalid", ip.as_deref());
            return ErrorResponse::unauthorized(e.to_string()).into_response();
        }
    };
    match admit(&access, headers, claims) {
        Ok((principal, role)) => {
            request.extensions_mut().insert(Caller(principal));
            request.extensions_mut().insert(role);
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

/// Who a verified token's holder is at the portal it names.
fn admit(
    access: &Access,
    headers: &axum::http::HeaderMap,
    claims: fleet_api::jwt::Claims,
) -> Result<(Principal, CockpitRole), ErrorResponse> {
    let domain = headers
        .get("x-tenant")
        .and_then(|v| v.to_str().ok())
        .map(|d| d.trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .ok_or_else(|| ErrorResponse::bad_request("X-Tenant", "the X-Tenant header is required"))?;
    let tenant = access
        .tenants
        .get(&domain)
        .ok_or_else(|| ErrorResponse::not_found(format!("no tenant is served at {domain}")))?;
    if claims.tenant != tenant.as_str() {
        return Err(ErrorResponse::forbidden(format!(
            "the token is not for the tenant of {domain}"
        )));
    }
    let (role, cockpit) = match claims.role() {
        Some("csp") => (Role::Admin, CockpitRole::Csp),
        // A reseller reads; what it may see is narrowed to its own relationships.
        Some("reseller") => (
            Role::Viewer,
            CockpitRole::Reseller {
                reseller_id: claims.reseller_id.clone(),
            },
        ),
        other => {
            return Err(ErrorResponse::forbidden(format!(
                "the token's role {} is not csp or reseller",
                other.unwrap_or("(none)")
            )))
        }
    };
    let principal = Principal {
        tenant: tenant.clone(),
        role,
        key_id: subject_id(tenant.as_str(), &claims.sub),
        key_name: Some(claims.sub.clone()),
        subject: Some(claims.sub),
    };
    Ok((principal, cockpit))
}
