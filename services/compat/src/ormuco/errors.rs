//! Ormuco's failures. 001 documents the statuses (400, 401) but no error body; this dialect
//! answers the body a Flask service of its kind does: `{"message": …}`, with the status, its
//! name, and the field at fault when there is one.

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

use crate::extract::Rejects;
use crate::json::Unreadable;

#[derive(Debug)]
pub enum OrmucoError {
    BadRequest {
        message: String,
        field: Option<String>,
    },
    Unauthorized(String),
    Forbidden(String),
    NotFound(String),
    Conflict(String),
    Unavailable(String),
    Internal(String),
}

impl OrmucoError {
    pub fn field(field: &str, reason: impl std::fmt::Display) -> Self {
        Self::BadRequest {
            message: format!("{field}: {reason}"),
            field: Some(field.to_owned()),
        }
    }

    pub fn not_found(what: &str, id: &str) -> Self {
        Self::NotFound(format!("{what} {id} was not found"))
    }

    /// An application failure where "not found" names what the caller asked for.
    pub fn failed(e: impl Into<OrmucoError>, what: &str, id: &str) -> Self {
        match e.into() {
            Self::NotFound(_) => Self::not_found(what, id),
            other => other,
        }
    }

    fn status(&self) -> Http {
        match self {
            Self::BadRequest { .. } => Http::BAD_REQUEST,
            Self::Unauthorized(_) => Http::UNAUTHORIZED,
            Self::Forbidden(_) => Http::FORBIDDEN,
            Self::NotFound(_) => Http::NOT_FOUND,
            Self::Conflict(_) => Http::CONFLICT,
            Self::Unavailable(_) => Http::SERVICE_UNAVAILABLE,
            Self::Internal(_) => Http::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<ApiError> for OrmucoError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Unauthorized => Self::Unauthorized("the API key is not valid".into()),
            ApiError::Forbidden { role, action } => {
                Self::Forbidden(format!("the {role} role may not {action}"))
            }
            ApiError::NotFound(detail) => Self::NotFound(detail),
            ApiError::Conflict { detail, .. } => Self::Conflict(detail),
            ApiError::BadRequest { errors, detail }
            | ApiError::Unprocessable { errors, detail } => match errors.first() {
                Some(first) => Self::field(&first.field, &first.reason),
                None => Self::BadRequest {
                    message: detail,
                    field: None,
                },
            },
            ApiError::TooLarge { limit } => Self::BadRequest {
                message: format!("the body is larger than {limit} bytes"),
                field: None,
            },
            ApiError::HeadersTooLarge(reason) => Self::BadRequest {
                message: reason,
                field: None,
            },
            ApiError::RateLimited { retry_after, .. } => {
                Self::Unavailable(format!("too many requests: retry in {retry_after} s"))
            }
            ApiError::Unavailable(reason) => Self::Unavailable(reason),
            ApiError::Internal(reason) => Self::Internal(reason),
        }
    }
}

impl From<AppError> for OrmucoError {
    fn from(e: AppError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<CommandError> for OrmucoError {
    fn from(e: CommandError) -> Self {
        AppError::from(e).into()
    }
}

impl From<sqlx::Error> for OrmucoError {
    fn from(e: sqlx::Error) -> Self {
        AppError::from(e).into()
    }
}

impl Rejects for OrmucoError {
    fn body(unreadable: Unreadable) -> Self {
        match unreadable {
            Unreadable::Body(reason) => Self::BadRequest {
                message: reason,
                field: None,
            },
            Unreadable::Field { field, reason } => Self::field(&field, reason),
        }
    }

    fn query(reason: String) -> Self {
        Self::BadRequest {
            message: format!("query: {reason}"),
            field: None,
        }
    }
}

/// The body of every failure.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Failure {
    /// What went wrong, for a person.
    message: String,
    /// The HTTP status.
    status: u16,
    /// The status's name: `BAD_REQUEST`, `UNAUTHORIZED`, `NOT_FOUND`…
    error: String,
    /// The parameter or field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

impl IntoResponse for OrmucoError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = ?self, "Ormuco request failed");
        }
        let (message, field) = match self {
            Self::BadRequest { message, field } => (message, field),
            Self::Unauthorized(m)
            | Self::Forbidden(m)
            | Self::NotFound(m)
            | Self::Conflict(m)
            | Self::Unavailable(m) => (m, None),
            Self::Internal(_) => ("the server failed to answer".to_owned(), None),
        };
        let body = Failure {
            message,
            status: status.as_u16(),
            error: status
                .canonical_reason()
                .unwrap_or("ERROR")
                .to_ascii_uppercase()
                .replace(' ', "_"),
            field,
        };
        let mut response = (status, Json(body)).into_response();
        if status == Http::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response
    }
}

impl OperationOutput for OrmucoError {
    type Inner = Failure;

    fn operation_response(ctx: &mut GenContext, operation: &mut Operation) -> Option<ApiResponse> {
        <Json<Failure> as OperationOutput>::operation_response(ctx, operation)
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
                (409, "Conflict"),
                (503, "Service Unavailable"),
            ],
        )
    }
}
