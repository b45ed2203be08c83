//! Omnistrate's wire conventions: prefixed ids naming the same resources as the native ids,
//! bodies and query strings that fail with Goa's `bad_request`, `nextPageToken` paging, and
//! money written as JSON numbers straight from decimals (never through a binary float).

use std::fmt::Display;

use aide::generate::GenContext;
use aide::openapi::Operation;
use aide::OperationInput;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use chrono::{DateTime, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::errors::GoaError;
use crate::json::Unreadable;

/// The prefix of each kind of id.
pub mod prefix {
    pub const INSTANCE: &str = "instance";
    pub const SUBSCRIPTION: &str = "sub";
    pub const REQUEST: &str = "subr";
    pub const USER: &str = "user";
    pub const ORG: &str = "org";
    pub const INVOICE: &str = "inv";
    pub const EVENT: &str = "event";
    pub const SNAPSHOT: &str = "instance-ss";
    pub const CHANNEL: &str = "channel";
    pub const WORKFLOW: &str = "wf";
    pub const UPGRADE_PATH: &str = "up";
    pub const ACCOUNT_CONFIG: &str = "ac";
    pub const NETWORK: &str = "n";
    pub const ONBOARDING: &str = "onboarding";
    pub const ORCHESTRATION: &str = "so";
}

/// A native id in Omnistrate's form: `instance-0193…`.
pub fn id(prefix: &str, native: impl Display) -> String {
    format!("{prefix}-{native}")
}

/// The native id an Omnistrate id names (a bare native id is read too). An id that cannot
/// exist is not found.
pub fn native(prefix: &str, what: &str, text: &str) -> Result<Uuid, GoaError> {
    text.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .or(Some(text))
        .and_then(|raw| Uuid::parse_str(raw).ok())
        .ok_or_else(|| GoaError::not_found(what, text))
}

/// A native id named in a body or query field: unknown is a `bad_request` on the field.
pub fn native_in(prefix: &str, field: &str, text: &str) -> Result<Uuid, GoaError> {
    native(prefix, field, text).map_err(|_| GoaError::field(field, format!("{text} is not known")))
}

/// An optional id of a query or body field.
pub fn native_opt(prefix: &str, field: &str, text: Option<&str>) -> Result<Option<Uuid>, GoaError> {
    text.filter(|t| !t.is_empty())
        .map(|t| native_in(prefix, field, t))
        .transpose()
}

/// RFC 3339 in UTC with seconds, as Omnistrate writes times.
pub fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A JSON body; blank reads as `{}`.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = GoaError;

    async fn from_request(request: Request, state: &S) -> Result<Self, GoaError> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|_| GoaError::BadRequest("the body could not be read".into()))?;
        match crate::json::read(&bytes) {
            Ok(value) => Ok(Self(value)),
            Err(Unreadable::Body(reason)) => Err(GoaError::BadRequest(reason)),
            Err(Unreadable::Field { field, reason }) => Err(GoaError::field(&field, reason)),
        }
    }
}

impl<T: JsonSchema> OperationInput for Body<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        <axum::Json<T> as OperationInput>::operation_input(ctx, operation);
    }
}

/// A query string; a value that does not fit is a `bad_request` naming the parameter.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = GoaError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, GoaError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| Self(q.0))
            .map_err(|e| {
                let text = e.body_text();
                let reason = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text);
                GoaError::BadRequest(format!("query: {reason}"))
            })
    }
}

impl<T: JsonSchema> OperationInput for Query<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        <axum::extract::Query<T> as OperationInput>::operation_input(ctx, operation);
    }
}

/// `pageSize` (default 100, at most 1000) and `nextPageToken`, read as the native cursor.
pub struct Paging {
    pub limit: i64,
    pub after: Option<Uuid>,
}

pub const DEFAULT_PAGE_SIZE: i64 = 100;

impl Paging {
    pub fn read(page_size: Option<i64>, token: Option<&str>) -> Result<Self, GoaError> {
        let limit = match page_size {
            None => DEFAULT_PAGE_SIZE,
            Some(n) if (1..=fleet_api::pagination::MAX_PAGE_SIZE).contains(&n) => n,
            Some(_) => {
                return Err(GoaError::field(
                    "pageSize",
                    format!(
                        "must be between 1 and {}",
                        fleet_api::pagination::MAX_PAGE_SIZE
                    ),
                ))
            }
        };
        let after = fleet_api::pagination::decode_token(token)
            .map_err(|_| GoaError::field("nextPageToken", "is not a token this API returned"))?;
        Ok(Self { limit, after })
    }

    /// `rows` were fetched with `limit + 1`: the page, and the token of the next if any.
    pub fn page<T>(&self, mut rows: Vec<T>, id: impl Fn(&T) -> Uuid) -> (Vec<T>, Option<String>) {
        let more = rows.len() as i64 > self.limit;
        rows.truncate(self.limit as usize);
        let token = more
            .then(|| {
                rows.last()
                    .map(|r| fleet_api::pagination::encode_token(id(r)))
            })
            .flatten();
        (rows, token)
    }
}

/// An amount of money as a JSON number, written digit for digit from the decimal.
pub use crate::number::Exact as Number;

/// A comma-separated list of ids (`instance-1,instance-2`), each read as its native form.
pub fn list(text: Option<&str>, strip: &[&str]) -> Vec<String> {
    text.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            strip
                .iter()
                .find_map(|p| s.strip_prefix(p).and_then(|r| r.strip_prefix('-')))
                .unwrap_or(s)
                .to_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;

    #[test]
    fn ids_name_the_native_resource_both_ways() {
        let uuid = Uuid::now_v7();
        let wire = id(prefix::INSTANCE, uuid);
        assert_eq!(wire, format!("instance-{uuid}"));
        assert_eq!(native(prefix::INSTANCE, "instance", &wire).unwrap(), uuid);
        assert_eq!(
            native(prefix::INSTANCE, "instance", &uuid.to_string()).unwrap(),
            uuid
        );
        assert!(native(prefix::INSTANCE, "instance", "instance-nope").is_err());
        let request = id(prefix::REQUEST, uuid);
        assert!(native(prefix::SUBSCRIPTION, "subscription", &request).is_err());
        assert_eq!(native(prefix::REQUEST, "request", &request).unwrap(), uuid);
    }

    #[test]
    fn money_is_written_digit_for_digit() {
        let value: Decimal = "1.00000003".parse().unwrap();
        assert_eq!(serde_json::to_string(&Number(value)).unwrap(), "1.00000003");
        let cents: Decimal = "20.730".parse().unwrap();
        assert_eq!(serde_json::to_string(&Number(cents)).unwrap(), "20.73");
        assert_eq!(serde_json::to_string(&Number(Decimal::ZERO)).unwrap(), "0");
    }

    #[test]
    fn id_lists_are_comma_separated_and_lose_their_prefix() {
        assert_eq!(
            list(Some("hc-a, b,,hc-c"), &["hc"]),
            vec!["a".to_owned(), "b".into(), "c".into()]
        );
        assert!(list(None, &["hc"]).is_empty());
    }
}
