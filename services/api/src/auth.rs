//! Authentication of the native API: `Authorization: Bearer <key>`, resolved onto the
//! application's keys and roles ([`fleet_app::access`]).

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

/// Resolves the bearer key and puts the [`Caller`] into the request; 401 otherwise.
pub async fn middleware(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let ip = request
        .extensions()
        .get::<crate::request_context::RequestMeta>()
        .and_then(|m| m.ip.clone());
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
