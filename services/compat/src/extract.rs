//! Bodies and query strings for the dialects that came after the first two: each reads the
//! request the same way and words the failure in its own error body, through [`Rejects`].

use std::marker::PhantomData;

use aide::generate::GenContext;
use aide::openapi::Operation;
use aide::OperationInput;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::IntoResponse;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::json::Unreadable;

/// A dialect's error body for a request it cannot read.
pub trait Rejects: IntoResponse + Send + 'static {
    /// The body is not what the operation takes.
    fn body(unreadable: Unreadable) -> Self;
    /// A query parameter does not fit; `reason` names it where serde could.
    fn query(reason: String) -> Self;
}

/// A JSON body; blank reads as `{}`.
pub struct Body<T, E>(pub T, pub PhantomData<E>);

impl<S: Send + Sync, T: DeserializeOwned, E: Rejects> FromRequest<S> for Body<T, E> {
    type Rejection = E;

    async fn from_request(request: Request, state: &S) -> Result<Self, E> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|_| E::body(Unreadable::Body("the body could not be read".into())))?;
        crate::json::read(&bytes)
            .map(|value| Self(value, PhantomData))
            .map_err(E::body)
    }
}

impl<T: JsonSchema, E> OperationInput for Body<T, E> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        <axum::Json<T> as OperationInput>::operation_input(ctx, operation);
    }
}

/// A query string.
pub struct Query<T, E>(pub T, pub PhantomData<E>);

impl<S: Send + Sync, T: DeserializeOwned, E: Rejects> FromRequestParts<S> for Query<T, E> {
    type Rejection = E;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, E> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| Self(q.0, PhantomData))
            .map_err(|e| {
                let text = e.body_text();
                E::query(
                    text.strip_prefix("Failed to deserialize query string: ")
                        .unwrap_or(&text)
                        .to_owned(),
                )
            })
    }
}

impl<T: JsonSchema, E> OperationInput for Query<T, E> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        <axum::extract::Query<T> as OperationInput>::operation_input(ctx, operation);
    }
}
