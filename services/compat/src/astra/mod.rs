//! NetApp Astra's Subscription API (004) at `/accounts/{account_id}/core/v1/subscriptions`,
//! translated onto the same subscription aggregate and read model as the native API.
//!
//! - Auth: `Authorization: Bearer <api key>`, the same keys as the native API; without one,
//!   problem 3. The key's role decides what it may change (problem 11 otherwise).
//! - Accounts: an account is a customer of the caller's tenant; its collection holds its
//!   subscriptions to the `astra` service. An unknown account is problem 2.
//! - Media types: `application/json`, or `application/astra-subscription(+json)` with a
//!   `version` of 1.0, 1.1 or 1.2 to read the resource in; bodies carry `type` and
//!   `version` as 004 requires ([`media`]).
//! - Writes: POST answers 201 with the resource and its `Location`; PUT and DELETE answer 204.
//!   A PUT is read as the changes it makes to the stored resource ([`subscriptions`]).
//! - Errors: problem details with `status` a string and `correlationID` ([`problems`]).

pub(crate) mod collection;
mod media;
mod problems;
mod resource;
mod subscriptions;

use std::marker::PhantomData;

use aide::axum::ApiRouter;
use aide::generate::GenContext;
use aide::openapi::Operation;
use aide::{OperationInput, OperationOutput};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use fleet_api::auth::Caller;
use fleet_api::AppState;

use crate::document::{documented, About};
use serde_json::value::RawValue;

pub use problems::Problem;

/// Where the dialect's routes are.
pub const BASE: &str = "/accounts/{account_id}/core/v1";
/// Where its document is.
pub const DOCUMENT: &str = "/accounts/openapi.json";

pub fn router(state: AppState) -> Router<AppState> {
    let routes = ApiRouter::new()
        .merge(subscriptions::router())
        .layer(axum::middleware::from_fn_with_state(state, authenticate));
    let about = About {
        title: "Fleetledger: NetApp Astra Subscription API dialect",
        version: "1.2",
        description: "Astra's subscriptions, served over Fleetledger. Authenticate with \
            `Authorization: Bearer <api key>`. Problem types 1, 2, 3, 5, 10 and 11 are 004's; 7 \
            (invalid body fields), 12 (unsupported media type), 13 (not acceptable) and 14 \
            (service unavailable) are this dialect's.",
    };
    documented(about, BASE, routes, DOCUMENT).route(
        "/accounts/{account_id}/core/v1/{*rest}",
        axum::routing::any(|| async {
            Problem::new(problems::COLLECTION_NOT_FOUND)
                .detail("no such collection in the Astra API")
        }),
    )
}

/// `Authorization: Bearer <key>` onto the same keys as the native API.
async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let ip = fleet_api::auth::client_ip(&request);
    let Some(key) = fleet_api::auth::bearer_key(&request).map(str::to_owned) else {
        state.metrics.auth_failed("astra", "missing", ip.as_deref());
        return Problem::new(problems::MISSING_TOKEN).into_response();
    };
    match state.keys.resolve(&state.pool, &key).await {
        Ok(Some(principal)) => {
            request.extensions_mut().insert(Caller(principal));
            next.run(request).await
        }
        Ok(None) => {
            state.metrics.auth_failed("astra", "invalid", ip.as_deref());
            Problem::new(problems::MISSING_TOKEN)
                .detail("The bearer token is not a valid API key.")
                .into_response()
        }
        Err(e) => Problem::from(e).into_response(),
    }
}

/// An operation's summary, under 004's tag.
fn operation(
    summary: &'static str,
) -> impl FnOnce(aide::transform::TransformOperation) -> aide::transform::TransformOperation {
    move |op| op.summary(summary).tag("subscription")
}

/// What a read needs of the request: its headers and its query string.
pub struct Asked {
    pub headers: HeaderMap,
    pub query: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Asked {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        Ok(Self {
            headers: parts.headers.clone(),
            query: parts.uri.query().unwrap_or_default().to_owned(),
        })
    }
}

impl OperationInput for Asked {}

/// A write's headers and body; `D` documents the body's shape.
pub struct Sent<D> {
    pub headers: HeaderMap,
    pub body: Bytes,
    shape: PhantomData<D>,
}

impl<S: Send + Sync, D> FromRequest<S> for Sent<D> {
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        let headers = request.headers().clone();
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|_| Problem::field("body", "could not be read"))?;
        if fleet_app::input::json_holds_nul(&body) {
            return Err(Problem::field("body", fleet_app::input::NUL_REFUSED));
        }
        Ok(Self {
            headers,
            body,
            shape: PhantomData,
        })
    }
}

impl<D: schemars::JsonSchema> OperationInput for Sent<D> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        <Json<D> as OperationInput>::operation_input(ctx, operation);
    }
}

/// An answer with a body: its status and media type, with a `Location` after a creation. `D`
/// documents the body's shape and `S` the status the document names.
pub struct Answer<D, const S: u16 = 200> {
    content_type: String,
    body: Box<RawValue>,
    location: Option<String>,
    shape: PhantomData<D>,
}

impl<D> Answer<D, 200> {
    pub fn ok(content_type: String, body: Box<RawValue>) -> Self {
        Self {
            content_type,
            body,
            location: None,
            shape: PhantomData,
        }
    }
}

impl<D> Answer<D, 201> {
    pub fn created(content_type: String, body: Box<RawValue>, location: String) -> Self {
        Self {
            content_type,
            body,
            location: Some(location),
            shape: PhantomData,
        }
    }
}

impl<D, const S: u16> IntoResponse for Answer<D, S> {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(S).unwrap_or(StatusCode::OK);
        let mut response = (status, self.body.get().to_owned()).into_response();
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&self.content_type) {
            headers.insert(header::CONTENT_TYPE, value);
        }
        if let Some(location) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            headers.insert(header::LOCATION, location);
        }
        response
    }
}

impl<D: schemars::JsonSchema, const S: u16> OperationOutput for Answer<D, S> {
    type Inner = D;

    fn operation_response(
        ctx: &mut GenContext,
        operation: &mut Operation,
    ) -> Option<aide::openapi::Response> {
        <Json<D> as OperationOutput>::operation_response(ctx, operation).map(|mut r| {
            if let Some(json) = r.content.get("application/json").cloned() {
                r.content.insert(format!("{}+json", media::RESOURCE), json);
            }
            r
        })
    }

    fn inferred_responses(
        ctx: &mut GenContext,
        operation: &mut Operation,
    ) -> Vec<(Option<aide::openapi::StatusCode>, aide::openapi::Response)> {
        Self::operation_response(ctx, operation)
            .map(|r| (Some(aide::openapi::StatusCode::Code(S)), r))
            .into_iter()
            .collect()
    }
}
