//! Idempotency records: the first request with a key runs and what it answered is kept for 24
//! hours; a retry of the same request with the same key gets that answer again and causes
//! nothing. The same key with a different request is refused, and while the first is still
//! running a retry is told to wait.
//!
//! A record belongs to the credential that made the request, never to the whole tenant: a
//! retry is the same caller asking again, so the authorisation that let the first request
//! through holds for it, and no other key (of another role) can read a saved answer. Saved
//! answers never hold secrets: the face that saves one removes them first.
//!
//! The key is also the command's JetStream message id, so a retry after a crash between the
//! append and the record here is not stored twice either.

use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::AppError;

/// Whose record: the tenant and the calling credential.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    pub tenant: &'a str,
    pub credential: &'a str,
}

/// A saved answer, in the terms of the face that gave it.
#[derive(Debug, Clone)]
pub struct Saved {
    pub status: u16,
    pub headers: serde_json::Value,
    pub body: Vec<u8>,
}

/// What a request with a key may do.
#[derive(Debug)]
pub enum Claim {
    /// The key is this request's: run it, then [`complete`] or [`abandon`].
    Claimed,
    /// The same request ran before: answer what it answered.
    Replay(Saved),
}

/// A digest of a request, to tell a retry from a different request under the same key.
pub fn request_hash(method: &str, target: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method);
    hasher.update(b" ");
    hasher.update(target);
    hasher.update(b"\n");
    hasher.update(body);
    hex::encode(hasher.finalize())
}

type StoredRow = (
    String,
    Option<i32>,
    Option<serde_json::Value>,
    Option<Vec<u8>>,
);

/// Claims `key` for a request, or finds what the same request answered before.
pub async fn claim(
    pool: &PgPool,
    scope: &Scope<'_>,
    key: &str,
    hash: &str,
) -> Result<Claim, AppError> {
    // A new key, an expired record, or an abandoned attempt of this same request (its process
    // died before recording an answer) may be taken.
    let claimed = sqlx::query(
        "INSERT INTO idempotency_keys (tenant, credential, key, request_hash) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant, credential, key) DO UPDATE
            SET request_hash = EXCLUDED.request_hash, created_at = now(), completed_at = NULL,
                status_code = NULL, response_headers = NULL, response_body = NULL
          WHERE idempotency_keys.created_at < now() - interval '24 hours'
             OR (idempotency_keys.completed_at IS NULL
                 AND idempotency_keys.request_hash = EXCLUDED.request_hash
                 AND idempotency_keys.created_at < now() - interval '30 seconds')",
    )
    .bind(scope.tenant)
    .bind(scope.credential)
    .bind(key)
    .bind(hash)
    .execute(pool)
    .await?
    .rows_affected()
        == 1;
    if claimed {
        return Ok(Claim::Claimed);
    }
    let (stored_hash, status, headers, body): StoredRow = sqlx::query_as(
        "SELECT request_hash, status_code, response_headers, response_body
           FROM idempotency_keys WHERE tenant = $1 AND credential = $2 AND key = $3",
    )
    .bind(scope.tenant)
    .bind(scope.credential)
    .bind(key)
    .fetch_one(pool)
    .await?;
    if stored_hash != hash {
        return Err(AppError::unprocessable(
            "Idempotency-Key",
            "was already used with a different request; use a new key for a new request",
        ));
    }
    let Some(status) = status else {
        return Err(AppError::conflict(
            "a request with this Idempotency-Key is still in progress; retry shortly",
        ));
    };
    Ok(Claim::Replay(Saved {
        status: u16::try_from(status).unwrap_or(200),
        headers: headers.unwrap_or_default(),
        body: body.unwrap_or_default(),
    }))
}

/// Keeps the answer of a claimed request.
pub async fn complete(
    pool: &PgPool,
    scope: &Scope<'_>,
    key: &str,
    saved: &Saved,
) -> Result<(), AppError> {
    sqlx::query(
        "UPDATE idempotency_keys
            SET status_code = $4, response_headers = $5, response_body = $6, completed_at = now()
          WHERE tenant = $1 AND credential = $2 AND key = $3",
    )
    .bind(scope.tenant)
    .bind(scope.credential)
    .bind(key)
    .bind(i32::from(saved.status))
    .bind(&saved.headers)
    .bind(&saved.body)
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets a claim whose request failed on our side: the client may retry with the same key.
pub async fn abandon(pool: &PgPool, scope: &Scope<'_>, key: &str) -> Result<(), AppError> {
    sqlx::query("DELETE FROM idempotency_keys WHERE tenant = $1 AND credential = $2 AND key = $3")
        .bind(scope.tenant)
        .bind(scope.credential)
        .bind(key)
        .execute(pool)
        .await?;
    Ok(())
}

/// Records are kept 24 hours.
pub async fn expire(pool: &PgPool) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours'")
            .execute(pool)
            .await?
            .rows_affected(),
    )
}
