//! `Idempotency-Key` on native commands, kept by [`fleet_app::idempotency`].
//!
//! A retry with the same key and request gets the first response again, with
//! `Idempotent-Replayed: true`, and causes nothing. The record is the calling credential's, so
//! only the caller who was authorised the first time can have it replayed. Fields a handler
//! marks as secret ([`SecretFields`]) are blanked in the saved copy: a secret is shown once.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use fleet_app::idempotency::{self, Claim, Saved, Scope};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::AppState;

pub const HEADER: &str = "idempotency-key";
/// The largest body a command takes (axum's JSON limit): a keyed request is buffered to be
/// hashed, and never buffers more than an unkeyed one would.
pub const MAX_BODY: usize = 2 * 1024 * 1024;
/// Responses are small documents; a larger one is not saved.
const MAX_SAVED_RESPONSE: usize = 4 * 1024 * 1024;
/// Headers of the first response that a replay repeats.
const KEPT_HEADERS: [&str; 3] = ["content-type", "location", "x-fleet-position"];

/// The key of the request being served, for the command bus.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub String);

/// Top-level fields of a response body that are secret: set by a handler as a response
/// extension, they are blanked in the saved copy.
#[derive(Debug, Clone, Copy)]
pub struct SecretFields(pub &'static [&'static str]);

pub async fn middleware(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match run(state, request, next).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn run(state: AppState, request: Request, next: Next) -> Result<Response, ApiError> {
    let is_command = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let key = request.headers().get(HEADER).cloned();
    let (Some(key), true) = (key, is_command) else {
        return Ok(next.run(request).await);
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()))
        .ok_or_else(|| {
            ApiError::bad_request(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            )
        })?
        .to_owned();
    let caller = request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or(ApiError::Unauthorized)?;
    let credential = caller.key_id.to_string();
    let scope = Scope {
        tenant: caller.tenant.as_str(),
        credential: &credential,
    };

    let (parts, body) = request.into_parts();
    let body = to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| ApiError::TooLarge { limit: MAX_BODY })?;
    let hash = idempotency::request_hash(parts.method.as_str(), &parts.uri.to_string(), &body);
    if let Claim::Replay(saved) = idempotency::claim(&state.pool, &scope, &key, &hash).await? {
        return Ok(replay(saved));
    }

    let mut request = Request::from_parts(parts, Body::from(body));
    request.extensions_mut().insert(IdempotencyKey(key.clone()));
    let response = next.run(request).await;
    let (parts, body) = response.into_parts();
    let body = to_bytes(body, MAX_SAVED_RESPONSE)
        .await
        .map_err(|e| ApiError::Internal(format!("buffering a response: {e}")))?;

    if parts.status.is_server_error() {
        // Nothing to remember: the client may retry with the same key.
        idempotency::abandon(&state.pool, &scope, &key).await?;
    } else {
        let saved = Saved {
            status: parts.status.as_u16(),
            headers: kept_headers(&parts.headers),
            body: match parts.extensions.get::<SecretFields>() {
                Some(secrets) => without_secrets(&body, secrets),
                None => body.to_vec(),
            },
        };
        idempotency::complete(&state.pool, &scope, &key, &saved).await?;
    }
    Ok(Response::from_parts(parts, Body::from(body)))
}

/// The body with the secret fields set to `null`.
fn without_secrets(body: &[u8], secrets: &SecretFields) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(mut fields)) => {
            for name in secrets.0 {
                if let Some(value) = fields.get_mut(*name) {
                    *value = serde_json::Value::Null;
                }
            }
            serde_json::to_vec(&fields).unwrap_or_default()
        }
        // Not a document we can blank fields of: keep nothing rather than a secret.
        _ => Vec::new(),
    }
}

fn kept_headers(headers: &HeaderMap) -> serde_json::Value {
    let kept: serde_json::Map<String, serde_json::Value> = KEPT_HEADERS
        .iter()
        .filter_map(|name| {
            let value = headers.get(*name)?.to_str().ok()?;
            Some((name.to_string(), value.into()))
        })
        .collect();
    kept.into()
}

fn replay(saved: Saved) -> Response {
    let status = StatusCode::from_u16(saved.status).unwrap_or(StatusCode::OK);
    let mut response = (status, saved.body).into_response();
    if let serde_json::Value::Object(headers) = saved.headers {
        for (name, value) in headers {
            if let (Ok(name), Some(Ok(value))) = (
                HeaderName::try_from(name.as_str()),
                value.as_str().map(HeaderValue::from_str),
            ) {
                response.headers_mut().insert(name, value);
            }
        }
    }
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_copies_lose_their_secrets_only() {
        let body = br#"{"id":"c-1","secret":"whsec_abc","url":"https://x"}"#;
        let saved = without_secrets(body, &SecretFields(&["secret"]));
        let saved: serde_json::Value = serde_json::from_slice(&saved).unwrap();
        assert_eq!(saved["secret"], serde_json::Value::Null);
        assert_eq!(saved["id"], "c-1");
        assert!(without_secrets(b"not json", &SecretFields(&["secret"])).is_empty());
    }
}
