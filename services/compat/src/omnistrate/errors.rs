//! Goa's error body, as Omnistrate answers every failure:
//! `{name, id, message, temporary, timeout, fault}`, with the status codes of its document.

use aide::generate::GenContext;
use aide::openapi::{Operation, Response as ApiResponse, StatusCode};
use aide::OperationOutput;
use axum::http::{HeaderValue, StatusCode as Http};
use axum::response::{IntoResponse, Response};
use axum::Json;
use fleet_api::docs::media;
use fleet_api::ApiError;
use fleet_app::command_bus::CommandError;
use fleet_app::AppError;
use fleet_domain::DomainError;
use serde::Serialize;

#[derive(Debug)]
pub enum GoaError {
    /// 400 `bad_request`.
    BadRequest(String),
    /// 401 `auth_failure`.
    Unauthorized(String),
    /// 403 `forbidden`.
    Forbidden(String),
    /// 404 `not_found`.
    NotFound(String),
    /// 409 `invalid_state`.
    InvalidState(String),
    /// 503: a service the answer needs is down; Goa's name for it is `service_unavailable`.
    Unavailable(String),
    /// 500 `failed_request`, the only fault.
    Internal(String),
}

impl GoaError {
    pub fn field(field: &str, reason: impl std::fmt::Display) -> Self {
        Self::BadRequest(format!("{field}: {reason}"))
    }

    pub fn required(field: &str) -> Self {
        Self::BadRequest(format!("\"{field}\" is missing from the request"))
    }

    pub fn not_found(what: &str, id: &str) -> Self {
        Self::NotFound(format!("{what} {id} is not found"))
    }

    /// A command's failure, where "not found" names what the caller asked for by its id.
    pub fn refused(e: CommandError, what: &str, id: &str) -> Self {
        match e {
            CommandError::Domain(DomainError::NotFound { .. }) => Self::not_found(what, id),
            other => other.into(),
        }
    }

    /// An application function's failure, where "not found" names what the caller asked for.
    pub fn failed(e: AppError, what: &str, id: &str) -> Self {
        match e {
            AppError::NotFound(_) => Self::not_found(what, id),
            other => other.into(),
        }
    }
}

impl From<AppError> for GoaError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Forbidden { role, action } => {
                Self::Forbidden(format!("the {role} role may not {action}"))
            }
            AppError::NotFound(detail) => Self::NotFound(detail),
            AppError::Conflict { detail, .. } => Self::InvalidState(detail),
            AppError::BadRequest { errors, detail }
            | AppError::Unprocessable { errors, detail } => match errors.first() {
                Some(first) => Self::field(&first.field, &first.reason),
                None => Self::BadRequest(detail),
            },
            AppError::Unavailable(reason) => Self::Unavailable(reason),
            AppError::Internal(reason) => Self::Internal(reason),
        }
    }
}

impl From<ApiError> for GoaError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Unauthorized => Self::Unauthorized("invalid or missing token".into()),
            ApiError::Forbidden { role, action } => {
                Self::Forbidden(format!("the {role} role may not {action}"))
            }
            ApiError::NotFound(detail) => Self::NotFound(detail),
            ApiError::Conflict { detail, .. } => Self::InvalidState(detail),
            ApiError::BadRequest { errors, detail }
            | ApiError::Unprocessable { errors, detail } => {
                AppError::BadRequest { errors, detail }.into()
            }
            ApiError::TooLarge { limit } => {
                Self::BadRequest(format!("the body is larger than {limit} bytes"))
            }
            ApiError::HeadersTooLarge(reason) => Self::BadRequest(reason),
            ApiError::RateLimited { retry_after, .. } => {
                Self::Unavailable(format!("too many requests: retry in {retry_after} s"))
            }
            ApiError::Unavailable(reason) => Self::Unavailable(reason),
            ApiError::Internal(reason) => Self::Internal(reason),
        }
    }
}

impl From<sqlx::Error> for GoaError {
    fn from(e: sqlx::Error) -> Self {
        AppError::from(e).into()
    }
}

impl From<CommandError> for GoaError {
    fn from(e: CommandError) -> Self {
        AppError::from(e).into()
    }
}

/// The body of every failure.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Goa {
    /// `bad_request`, `auth_failure`, `forbidden`, `not_found`, `invalid_state`,
    /// `failed_request` or `service_unavailable`.
    pub name: String,
    /// This occurrence, to quote when reporting it.
    pub id: String,
    pub message: String,
    pub temporary: bool,
    pub timeout: bool,
    pub fault: bool,
}

impl IntoResponse for GoaError {
    fn into_response(self) -> Response {
        let (status, name, message) = match self {
            Self::BadRequest(m) => (Http::BAD_REQUEST, "bad_request", m),
            Self::Unauthorized(m) => (Http::UNAUTHORIZED, "auth_failure", m),
            Self::Forbidden(m) => (Http::FORBIDDEN, "forbidden", m),
            Self::NotFound(m) => (Http::NOT_FOUND, "not_found", m),
            Self::InvalidState(m) => (Http::CONFLICT, "invalid_state", m),
            Self::Unavailable(reason) => {
                tracing::warn!(%reason, "a service is unavailable");
                (
                    Http::SERVICE_UNAVAILABLE,
                    "service_unavailable",
                    "a service is temporarily unavailable, try again".to_owned(),
                )
            }
            Self::Internal(reason) => {
                tracing::error!(%reason, "internal error");
                (
                    Http::INTERNAL_SERVER_ERROR,
                    "failed_request",
                    "failure to process the request".to_owned(),
                )
            }
        };
        let body = Goa {
            name: name.into(),
            id: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
            message,
            temporary: status == Http::SERVICE_UNAVAILABLE,
            timeout: false,
            fault: status == Http::INTERNAL_SERVER_ERROR,
        };
        let mut response = (status, Json(body)).into_response();
        if status == Http::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
        }
        response
    }
}

/// The failures every operation declares, as Omnistrate's document does.
const FAILURES: [(u16, &str); 7] = [
    (
        400,
        "bad_request: the input cannot be read or breaks a rule",
    ),
    (401, "auth_failure: missing or invalid bearer token"),
    (403, "forbidden: the token's role may not do this"),
    (404, "not_found: requested resource is not found"),
    (
        409,
        "invalid_state: requested resource is in an invalid state for this operation",
    ),
    (500, "failed_request: failure to process the request"),
    (503, "service_unavailable: try again after Retry-After"),
];

impl OperationOutput for GoaError {
    type Inner = Goa;

    fn operation_response(ctx: &mut GenContext, _: &mut Operation) -> Option<ApiResponse> {
        let schema = ctx.schema.subschema_for::<Goa>();
        Some(ApiResponse {
            description: "A Goa error".into(),
            content: [media("application/json", schema)].into_iter().collect(),
            ..Default::default()
        })
    }

    fn inferred_responses(
        ctx: &mut GenContext,
        operation: &mut Operation,
    ) -> Vec<(Option<StatusCode>, ApiResponse)> {
        let Some(error) = Self::operation_response(ctx, operation) else {
            return Vec::new();
        };
        FAILURES
            .iter()
            .map(|(code, description)| {
                (
                    Some(StatusCode::Code(*code)),
                    ApiResponse {
                        description: (*description).into(),
                        ..error.clone()
                    },
                )
            })
            .collect()
    }
}
