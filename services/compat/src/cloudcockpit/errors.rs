//! 003's `ErrorResponse`: `{statusCode, type, description, correlationId, errors:
//! [{propertyName, description: [..]}]}`, for every failure (003 documents it for 400, 404
//! and 500; 401 and 403 carry it here too, so a client always has the correlation id).

use aide::generate::GenContext;
use aide::openapi::{Operation, Response as ApiResponse, StatusCode};
use aide::OperationOutput;
use axum::http::StatusCode as Http;
use axum::response::{IntoResponse, Response};
use axum::Json;
use fleet_api::ApiError;
use fleet_app::command_bus::CommandError;
use fleet_app::AppError;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    pub property_name: Option<String>,
    pub description: Option<Vec<String>>,
}

#[derive(Debug)]
pub struct ErrorResponse {
    status: Http,
    description: String,
    errors: Vec<ErrorDetail>,
}

impl ErrorResponse {
    fn new(status: Http, description: impl Into<String>) -> Self {
        Self {
            status,
            description: description.into(),
            errors: Vec::new(),
        }
    }

    pub fn unauthorized(description: impl Into<String>) -> Self {
        Self::new(Http::UNAUTHORIZED, description)
    }

    pub fn forbidden(description: impl Into<String>) -> Self {
        Self::new(Http::FORBIDDEN, description)
    }

    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(Http::NOT_FOUND, description)
    }

    pub fn bad_request(property: &str, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Self {
            errors: vec![ErrorDetail {
                property_name: Some(property.into()),
                description: Some(vec![reason.clone()]),
            }],
            ..Self::new(Http::BAD_REQUEST, reason)
        }
    }
}

impl From<ApiError> for ErrorResponse {
    fn from(e: ApiError) -> Self {
        let status = e.status();
        match e {
            ApiError::BadRequest { errors, detail }
            | ApiError::Unprocessable { errors, detail } => Self {
                status: Http::BAD_REQUEST,
                description: detail,
                errors: errors
                    .into_iter()
                    .map(|e| ErrorDetail {
                        property_name: Some(e.field),
                        description: Some(vec![e.reason]),
                    })
                    .collect(),
            },
            // A transition the customer's state refuses is a bad request in 003's terms.
            ApiError::Conflict { detail, .. } => Self::new(Http::BAD_REQUEST, detail),
            ApiError::Internal(reason) => {
                tracing::error!(reason, "CloudCockpit request failed");
                Self::new(Http::INTERNAL_SERVER_ERROR, "the server failed to answer")
            }
            other => Self::new(status, other.to_string()),
        }
    }
}

impl From<AppError> for ErrorResponse {
    fn from(e: AppError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<CommandError> for ErrorResponse {
    fn from(e: CommandError) -> Self {
        AppError::from(e).into()
    }
}

impl From<sqlx::Error> for ErrorResponse {
    fn from(e: sqlx::Error) -> Self {
        AppError::from(e).into()
    }
}

/// The body.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Body {
    status_code: u16,
    #[serde(rename = "type")]
    kind: Option<String>,
    description: Option<String>,
    correlation_id: Option<String>,
    errors: Option<Vec<ErrorDetail>>,
}

impl IntoResponse for ErrorResponse {
    fn into_response(self) -> Response {
        let body = Body {
            status_code: self.status.as_u16(),
            kind: self.status.canonical_reason().map(|r| r.replace(' ', "")),
            description: Some(self.description),
            correlation_id: fleet_api::request_context::correlation_id(),
            errors: (!self.errors.is_empty()).then_some(self.errors),
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == Http::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response
    }
}

impl OperationOutput for ErrorResponse {
    type Inner = Body;

    fn operation_response(ctx: &mut GenContext, operation: &mut Operation) -> Option<ApiResponse> {
        <Json<Body> as OperationOutput>::operation_response(ctx, operation)
    }

    fn inferred_responses(
        ctx: &mut GenContext,
        operation: &mut Operation,
    ) -> Vec<(Option<StatusCode>, ApiResponse)> {
        crate::answer::error_statuses(
            Self::operation_response(ctx, operation),
            &[
                (400, "Bad Request"),
                (401, "Unauthorized"),
                (403, "Forbidden"),
                (404, "Not Found"),
                (503, "Service Unavailable"),
            ],
        )
    }
}
