//! The API's error: every failure leaves as `application/problem+json` (RFC 9457) with the
//! correlation id of the request and, for bad input, the fields and what is wrong with them.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fleet_domain::DomainError;
use serde::Serialize;

use crate::request_context;
use fleet_app::command_bus::CommandError;
use fleet_app::AppError;

pub use fleet_app::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing or invalid credentials")]
    Unauthorized,
    #[error("the {role} role may not {action}")]
    Forbidden { role: String, action: &'static str },
    #[error("{0}")]
    NotFound(String),
    /// An illegal state transition or a lost race.
    #[error("{detail}")]
    Conflict {
        detail: String,
        current_state: Option<String>,
    },
    /// Malformed input (400): unreadable JSON, a bad query parameter or header.
    #[error("{detail}")]
    BadRequest {
        detail: String,
        errors: Vec<FieldError>,
    },
    /// Well-formed input that breaks a rule (422).
    #[error("{detail}")]
    Unprocessable {
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// 431: too many header fields, or too many bytes of them.
    #[error("{0}")]
    HeadersTooLarge(String),
    /// Past a rate or a count: `detail` says which, `retry_after` when to try again.
    #[error("{detail}")]
    RateLimited { retry_after: u64, detail: String },
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(field: &str, reason: impl Into<String>) -> Self {
        AppError::bad_request(field, reason).into()
    }

    pub fn unprocessable(field: &str, reason: impl Into<String>) -> Self {
        AppError::unprocessable(field, reason).into()
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Forbidden { .. } => "forbidden",
            Self::NotFound(_) => "not-found",
            Self::Conflict { .. } => "conflict",
            Self::BadRequest { .. } => "bad-request",
            Self::Unprocessable { .. } => "invalid-input",
            Self::TooLarge { .. } => "too-large",
            Self::HeadersTooLarge(_) => "headers-too-large",
            Self::RateLimited { .. } => "rate-limited",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

/// A problem (RFC 9457): what every failure of the native API answers.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Problem {
    /// `https://fleetledger.dev/problems/<slug>`
    #[serde(rename = "type")]
    kind: String,
    title: String,
    status: u16,
    /// What went wrong, for a person.
    detail: String,
    /// The request's `X-Correlation-Id`, as recorded on any event it caused.
    #[serde(skip_serializing_if = "Option::is_none")]
    correlation_id: Option<String>,
    /// On a 409: the state that refused the command.
    #[serde(skip_serializing_if = "Option::is_none")]
    current_state: Option<String>,
    /// On a 400 or 422: each field and what is wrong with it. (`default` keeps it out of the
    /// schema's required fields: it is absent when empty.)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    errors: Vec<FieldError>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let (current_state, errors) = match &self {
            Self::Conflict { current_state, .. } => (current_state.clone(), Vec::new()),
            Self::BadRequest { errors, .. } | Self::Unprocessable { errors, .. } => {
                (None, errors.clone())
            }
            _ => (None, Vec::new()),
        };
        let problem = Problem {
            kind: format!("https://fleetledger.dev/problems/{}", self.slug()),
            title: status.canonical_reason().unwrap_or("error").to_owned(),
            status: status.as_u16(),
            detail: self.to_string(),
            correlation_id: request_context::correlation_id(),
            current_state,
            errors,
        };
        let mut response = (status, axum::Json(problem)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if matches!(self, Self::Unauthorized) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Self::RateLimited { retry_after, .. } = &self {
            if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        if matches!(self, Self::Unavailable(_)) {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Forbidden { role, action } => Self::Forbidden { role, action },
            AppError::NotFound(what) => Self::NotFound(what),
            AppError::Conflict {
                detail,
                current_state,
            } => Self::Conflict {
                detail,
                current_state,
            },
            AppError::BadRequest { detail, errors } => Self::BadRequest { detail, errors },
            AppError::Unprocessable { detail, errors } => Self::Unprocessable { detail, errors },
            AppError::Unavailable(why) => Self::Unavailable(why),
            AppError::Internal(why) => Self::Internal(why),
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        AppError::from(e).into()
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        AppError::from(e).into()
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        AppError::from(e).into()
    }
}
