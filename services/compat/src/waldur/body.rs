//! Request bodies read as DRF reads them: an empty body is an empty object, and a bad field
//! is named with its reason.

use aide::generate::GenContext;
use aide::openapi::Operation;
use aide::OperationInput;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use super::errors::DrfError;
use crate::json::Unreadable;

pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = DrfError;

    async fn from_request(request: Request, state: &S) -> Result<Self, DrfError> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|_| DrfError::field("non_field_errors", "The body could not be read."))?;
        match crate::json::read(&bytes) {
            Ok(value) => Ok(Self(value)),
            Err(Unreadable::Body(reason)) => Err(DrfError::field("non_field_errors", reason)),
            Err(Unreadable::Field { field, reason }) => {
                // DRF names the top-level field.
                let field = field.split(['.', '[']).next().unwrap_or("non_field_errors");
                let reason = if reason.starts_with("missing field") {
                    "This field is required.".to_owned()
                } else {
                    reason
                };
                Err(DrfError::field(field, reason))
            }
        }
    }
}

impl<T: JsonSchema> OperationInput for Body<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        <axum::Json<T> as OperationInput>::operation_input(ctx, operation);
    }
}
