//! Extractors that turn bad input into problem+json errors naming the field.

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// `axum::Json` with errors that say which field is wrong and why.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|essence| {
                let essence = essence.trim().to_ascii_lowercase();
                essence == "application/json" || essence.ends_with("+json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::bad_request(
                "Content-Type",
                "must be application/json",
            ));
        }
        let body = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|_| ApiError::TooLarge {
                limit: crate::idempotency::MAX_BODY,
            })?;
        parse_json(&body).map(Self)
    }
}

/// Reads a JSON document into `T`; a value that does not fit names its field by its path
/// (`records[2].quantity`), as serde_path_to_error tracks it.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if fleet_app::input::json_holds_nul(body) {
        return Err(ApiError::bad_request("body", fleet_app::input::NUL_REFUSED));
    }
    let mut reader = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut reader).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        // serde_json ends its messages with the position, which says nothing to a caller
        // who is told the field.
        let reason = message
            .split_once(" at line ")
            .map_or(message.as_str(), |(reason, _)| reason)
            .to_owned();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = if path == "." {
                    // A missing or unknown field is named in the message only.
                    reason
                        .split('`')
                        .nth(1)
                        .map_or_else(|| "body".to_owned(), str::to_owned)
                } else {
                    path
                };
                ApiError::unprocessable(&field, reason)
            }
            _ => ApiError::bad_request("body", format!("is not a JSON document: {reason}")),
        }
    })?;
    reader
        .end()
        .map_err(|_| ApiError::bad_request("body", "has more after the JSON document"))?;
    Ok(value)
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
    parse_json(body)
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
    use super::{parse_json, split_serde_message};
    use crate::error::ApiError;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Line {
        quantity: i64,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Batch {
        region: String,
        lines: Vec<Line>,
    }

    fn field_of(body: &str) -> (u16, String) {
        match parse_json::<Batch>(body.as_bytes()) {
            Err(e @ (ApiError::Unprocessable { .. } | ApiError::BadRequest { .. })) => {
                let status = e.status().as_u16();
                match e {
                    ApiError::Unprocessable { errors, .. }
                    | ApiError::BadRequest { errors, .. } => (status, errors[0].field.clone()),
                    _ => unreachable!(),
                }
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_bad_value_is_named_by_its_path() {
        let nested = r#"{"region": "r", "lines": [{"quantity": 1}, {"quantity": "x"}]}"#;
        assert_eq!(field_of(nested), (422, "lines[1].quantity".into()));
        assert_eq!(field_of(r#"{"lines": []}"#), (422, "region".into()));
        assert_eq!(
            field_of(r#"{"region": "r", "lines": [], "x": 1}"#),
            (422, "x".into())
        );
        assert_eq!(field_of(r#"{"region": "r""#), (400, "body".into()));
        assert_eq!(
            field_of(r#"{"region": "r", "lines": []} []"#),
            (400, "body".into())
        );
    }

    #[test]
    fn finds_the_field_in_query_messages() {
        assert_eq!(
            split_serde_message(
                "Failed to deserialize query string: page_size: invalid digit found in string"
            )
            .0,
            "page_size"
        );
    }
}
