//! Authentication of the native API: `Authorization: Bearer <key>`, resolved onto the
//! application's keys and roles ([`fleet_app::access`]), or `Authorization: Bearer <JWT>`
//! signed by one of the configured keys (HS256 or RS256, a key set, so a signing key rotates
//! without logging anyone out), with its `iss` and `aud` checked when configured, and the
//! tenant and role taken from its `tenant` and `role` (or first of `roles`) claims.

use std::ops::Deref;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use fleet_app::access::{Principal, KEY_PREFIX};

use crate::error::ApiError;
use crate::AppState;

pub use fleet_app::access::{create_api_key, hash_key, Permission, Role};

/// The authenticated caller, available to every handler under `/v1`.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl Deref for Caller {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or(ApiError::Unauthorized)
    }
}

/// The presented bearer key, if it has the shape of one of ours.
pub fn bearer_key(request: &Request) -> Option<&str> {
    request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| k.starts_with(KEY_PREFIX) && k.len() < 200)
}

/// Where a request came from, for the log of a refused credential.
pub fn client_ip(request: &Request) -> Option<String> {
    request
        .extensions()
        .get::<crate::request_context::RequestMeta>()
        .and_then(|m| m.ip.clone())
}

/// A bearer token that is not one of our keys: a JWT, perhaps.
fn bearer_token(request: &Request) -> Option<&str> {
    request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.starts_with(KEY_PREFIX) && t.len() < 8192 && t.contains('.'))
}

/// The caller a verified token names: its tenant and role, and its subject as the actor.
fn principal_of(claims: &crate::jwt::Claims) -> Option<Principal> {
    Some(Principal {
        tenant: fleet_events::Tenant::parse(&claims.tenant).ok()?,
        role: Role::parse(claims.role()?)?,
        key_id: uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_OID,
            format!("jwt:{}", claims.sub).as_bytes(),
        ),
        key_name: Some(claims.sub.clone()),
        subject: Some(claims.sub.clone()),
    })
}

/// Resolves the bearer key and puts the [`Caller`] into the request; 401 otherwise.
pub async fn middleware(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let ip = client_ip(&request);
    if let Some(token) = bearer_token(&request) {
        let verified = state.jwt.verify(token).ok().and_then(|c| principal_of(&c));
        let Some(principal) = verified else {
            state
                .metrics
                .auth_failed("native", "invalid", ip.as_deref());
            return ApiError::Unauthorized.into_response();
        };
        request.extensions_mut().insert(Caller(principal));
        return next.run(request).await;
    }
    let Some(key) = bearer_key(&request).map(str::to_owned) else {
        state
            .metrics
            .auth_failed("native", "missing", ip.as_deref());
        return ApiError::Unauthorized.into_response();
    };
    match state.keys.resolve(&state.pool, &key).await {
        Ok(Some(principal)) => {
            request.extensions_mut().insert(Caller(principal));
            next.run(request).await
        }
        Ok(None) => {
            state
                .metrics
                .auth_failed("native", "invalid", ip.as_deref());
            ApiError::Unauthorized.into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}
