//! Extractors that turn bad input into problem+json errors naming the field.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// `axum::Json` with errors that say which field is wrong and why.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(JsonRejection::JsonDataError(e)) => {
                let (field, reason) = split_serde_message(&e.body_text());
                Err(ApiError::unprocessable(&field, reason))
            }
            Err(JsonRejection::BytesRejection(e))
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::TooLarge {
                    limit: crate::idempotency::MAX_BODY,
                })
            }
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::bad_request(
                "Content-Type",
                "must be application/json",
            )),
            Err(e) => Err(ApiError::bad_request("body", e.body_text())),
        }
    }
}

/// `axum::extract::Query` with errors that say which parameter is wrong.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                let (field, reason) = split_serde_message(&e.body_text());
                Err(ApiError::bad_request(&field, reason))
            }
            Err(e) => Err(ApiError::bad_request("query", e.body_text())),
        }
    }
}

/// Finds the field in a serde error message: axum reports `path: message` for a bad value,
/// and serde says "missing field `x`" or "unknown field `x`" when the path is the root.
fn split_serde_message(text: &str) -> (String, String) {
    let message = text
        .split_once("target type: ")
        .or_else(|| text.split_once("query string: "))
        .map_or(text, |(_, rest)| rest);
    let quoted = |m: &str| m.split('`').nth(1).map(str::to_owned);
    if let Some((path, reason)) = message.split_once(": ") {
        if path != "." && !path.contains(' ') {
            return (path.to_owned(), reason.to_owned());
        }
        if let Some(field) = quoted(reason) {
            return (field, reason.to_owned());
        }
    }
    let field = quoted(message).unwrap_or_else(|| "body".into());
    (field, message.to_owned())
}

/// A JSON body that may be left out: the command's fields are all optional.
pub struct OptionalJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|_| ApiError::TooLarge {
                limit: crate::idempotency::MAX_BODY,
            })?;
        optional_json(&body).map(Self)
    }
}

/// A body that may be empty (the command's fields are all optional).
pub fn optional_json<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        let message = e.to_string();
        let field = message
            .split('`')
            .nth(1)
            .map_or_else(|| "body".to_owned(), str::to_owned);
        ApiError::unprocessable(&field, message)
    })
}

/// `X-Fleet-Position`: the stream position a query must reflect (read your writes).
pub struct ReadPosition(pub Option<u64>);

pub const POSITION_HEADER: &str = "x-fleet-position";

impl<S: Send + Sync> FromRequestParts<S> for ReadPosition {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.headers.get(POSITION_HEADER) {
            None => Ok(Self(None)),
            Some(value) => value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|p| Self(Some(p)))
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "X-Fleet-Position",
                        "must be a stream position (an unsigned integer)",
                    )
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_serde_message;

    #[test]
    fn finds_the_field_in_serde_messages() {
        assert_eq!(
            split_serde_message("Failed to deserialize the JSON body into the target type: capacity: invalid type: string \"x\", expected i64 at line 1 column 15").0,
            "capacity"
        );
        assert_eq!(
            split_serde_message("Failed to deserialize the JSON body into the target type: missing field `region` at line 1 column 2").0,
            "region"
        );
        assert_eq!(
            split_serde_message(
                "Failed to deserialize query string: page_size: invalid digit found in string"
            )
            .0,
            "page_size"
        );
    }
}
