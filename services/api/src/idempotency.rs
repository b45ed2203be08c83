//! `Idempotency-Key` on HTTP commands.
//!
//! The first request with a key runs and its response is kept for 24 hours; a retry with the
//! same key and the same request gets that response again (with `Idempotent-Replayed: true`)
//! and causes nothing. The same key with a different request is a 422. While the first is
//! still running, a retry gets a 409. The key also becomes the JetStream message id, so a
//! retry after a crash between the append and the record here is not stored twice either.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::AppState;

pub const HEADER: &str = "idempotency-key";
const MAX_BODY: usize = 16 * 1024 * 1024;
/// Headers of the first response that a replay repeats.
const KEPT_HEADERS: [&str; 3] = ["content-type", "location", "x-fleet-position"];

/// The key of the request being served, for the command bus.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub String);

fn request_hash(method: &Method, uri: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_str());
    hasher.update(b" ");
    hasher.update(uri);
    hasher.update(b"\n");
    hasher.update(body);
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

type StoredResponse = (
    String,
    Option<i32>,
    Option<serde_json::Value>,
    Option<Vec<u8>>,
);

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
    let tenant = caller.tenant.as_str();

    let (parts, body) = request.into_parts();
    let body = to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| ApiError::bad_request("body", "unreadable or larger than 16 MiB"))?;
    let hash = request_hash(&parts.method, &parts.uri.to_string(), &body);

    // Claim the key: a new key, an expired record, or an abandoned attempt of this same
    // request (its process died before recording a response) may be taken.
    let claimed = sqlx::query(
        "INSERT INTO idempotency_keys (tenant, key, request_hash) VALUES ($1, $2, $3)
         ON CONFLICT (tenant, key) DO UPDATE
            SET request_hash = EXCLUDED.request_hash, created_at = now(), completed_at = NULL,
                status_code = NULL, response_headers = NULL, response_body = NULL
          WHERE idempotency_keys.created_at < now() - interval '24 hours'
             OR (idempotency_keys.completed_at IS NULL
                 AND idempotency_keys.request_hash = EXCLUDED.request_hash
                 AND idempotency_keys.created_at < now() - interval '30 seconds')",
    )
    .bind(tenant)
    .bind(&key)
    .bind(&hash)
    .execute(&state.pool)
    .await?
    .rows_affected()
        == 1;

    if !claimed {
        let (stored_hash, status, headers, body): StoredResponse = sqlx::query_as(
            "SELECT request_hash, status_code, response_headers, response_body
               FROM idempotency_keys WHERE tenant = $1 AND key = $2",
        )
        .bind(tenant)
        .bind(&key)
        .fetch_one(&state.pool)
        .await?;
        if stored_hash != hash {
            return Err(ApiError::unprocessable(
                "Idempotency-Key",
                "was already used with a different request; use a new key for a new request",
            ));
        }
        let Some(status) = status else {
            return Err(ApiError::Conflict {
                detail: "a request with this Idempotency-Key is still in progress; retry shortly"
                    .into(),
                current_state: None,
            });
        };
        return Ok(replay(status, headers, body));
    }

    let mut request = Request::from_parts(parts, Body::from(body));
    request.extensions_mut().insert(IdempotencyKey(key.clone()));
    let response = next.run(request).await;
    let (parts, body) = response.into_parts();
    let body = to_bytes(body, MAX_BODY)
        .await
        .map_err(|e| ApiError::Internal(format!("buffering a response: {e}")))?;

    if parts.status.is_server_error() {
        // Nothing to remember: the client may retry with the same key.
        sqlx::query("DELETE FROM idempotency_keys WHERE tenant = $1 AND key = $2")
            .bind(tenant)
            .bind(&key)
            .execute(&state.pool)
            .await?;
    } else {
        sqlx::query(
            "UPDATE idempotency_keys
                SET status_code = $3, response_headers = $4, response_body = $5, completed_at = now()
              WHERE tenant = $1 AND key = $2",
        )
        .bind(tenant)
        .bind(&key)
        .bind(parts.status.as_u16() as i32)
        .bind(kept_headers(&parts.headers))
        .bind(body.as_ref())
        .execute(&state.pool)
        .await?;
    }
    Ok(Response::from_parts(parts, Body::from(body)))
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

fn replay(status: i32, headers: Option<serde_json::Value>, body: Option<Vec<u8>>) -> Response {
    let status = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
    let mut response = (status, body.unwrap_or_default()).into_response();
    if let Some(serde_json::Value::Object(headers)) = headers {
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
