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

/// Most bytes a body may have.
const LIMIT: usize = 1 << 20;

pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = DrfError;

    async fn from_request(request: Request, state: &S) -> Result<Self, DrfError> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|_| DrfError::field("non_field_errors", "The body could not be read."))?;
        if bytes.len() > LIMIT {
            return Err(DrfError::field(
                "non_field_errors",
                "The body is too large.",
            ));
        }
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        match serde_path_to_error::deserialize(&mut deserializer) {
            Ok(value) => Ok(Self(value)),
            Err(e) => {
                let path = e.path().to_string();
                let inner = e.into_inner();
                if inner.is_syntax() || inner.is_eof() {
                    return Err(DrfError::field(
                        "non_field_errors",
                        format!("JSON parse error - {inner}"),
                    ));
                }
                let message = inner.to_string();
                // A missing field is named in the message, not in the path.
                let field = if path == "." {
                    message
                        .split('`')
                        .nth(1)
                        .unwrap_or("non_field_errors")
                        .to_owned()
                } else {
                    path.split(['.', '['])
                        .next()
                        .unwrap_or("non_field_errors")
                        .to_owned()
                };
                let reason = if message.starts_with("missing field") {
                    "This field is required.".to_owned()
                } else {
                    message
                        .split(" at line")
                        .next()
                        .unwrap_or(&message)
                        .to_owned()
                };
                Err(DrfError::field(&field, reason))
            }
        }
    }
}

impl<T: JsonSchema> OperationInput for Body<T> {
    fn operation_input(ctx: &mut GenContext, operation: &mut Operation) {
        <axum::Json<T> as OperationInput>::operation_input(ctx, operation);
    }
}
