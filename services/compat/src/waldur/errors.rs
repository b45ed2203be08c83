//! Django REST framework's error bodies: `{"detail": "..."}` for 401, 403, 404 and 409, and
//! `{"field": ["reason"]}` for 400.

use std::collections::BTreeMap;

use aide::generate::GenContext;
use aide::openapi::{Operation, Response as ApiResponse, StatusCode};
use aide::OperationOutput;
use axum::http::{HeaderValue, StatusCode as Http};
use axum::response::{IntoResponse, Response};
use axum::Json;
use fleet_api::docs::media;
use fleet_api::ApiError;
use fleet_app::AppError;
use serde::Serialize;
use serde_json::json;

#[derive(Debug)]
pub enum DrfError {
    Unauthorized(&'static str),
    Forbidden,
    NotFound,
    /// Field -> reasons.
    Invalid(BTreeMap<String, Vec<String>>),
    Conflict(String),
    Unavailable(String),
    Internal(String),
}

impl DrfError {
    pub fn field(field: &str, reason: impl Into<String>) -> Self {
        Self::Invalid(BTreeMap::from([(field.to_owned(), vec![reason.into()])]))
    }

    pub fn required(field: &str) -> Self {
        Self::field(field, "This field is required.")
    }
}

impl From<AppError> for DrfError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Forbidden { .. } => Self::Forbidden,
            AppError::NotFound(_) => Self::NotFound,
            AppError::Conflict { detail, .. } => Self::Conflict(detail),
            AppError::BadRequest { errors, detail }
            | AppError::Unprocessable { errors, detail } => {
                if errors.is_empty() {
                    return Self::field("non_field_errors", detail);
                }
                let mut fields: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for error in errors {
                    fields.entry(error.field).or_default().push(error.reason);
                }
                Self::Invalid(fields)
            }
            AppError::Unavailable(reason) => Self::Unavailable(reason),
            AppError::Internal(reason) => Self::Internal(reason),
        }
    }
}

impl From<ApiError> for DrfError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Unauthorized => Self::Unauthorized("Invalid token."),
            ApiError::Forbidden { .. } => Self::Forbidden,
            ApiError::NotFound(_) => Self::NotFound,
            ApiError::Conflict { detail, .. } => Self::Conflict(detail),
            ApiError::BadRequest { errors, detail }
            | ApiError::Unprocessable { errors, detail } => {
                AppError::BadRequest { errors, detail }.into()
            }
            ApiError::TooLarge { limit } => Self::field(
                "non_field_errors",
                format!("The body is larger than {limit} bytes."),
            ),
            ApiError::HeadersTooLarge(reason) => Self::field("non_field_errors", reason),
            ApiError::RateLimited { retry_after, .. } => {
                Self::Unavailable(format!("too many requests: retry in {retry_after} s"))
            }
            ApiError::Unavailable(reason) => Self::Unavailable(reason),
            ApiError::Internal(reason) => Self::Internal(reason),
        }
    }
}

impl From<sqlx::Error> for DrfError {
    fn from(e: sqlx::Error) -> Self {
        AppError::from(e).into()
    }
}

impl IntoResponse for DrfError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            Self::Unauthorized(detail) => (Http::UNAUTHORIZED, json!({ "detail": detail })),
            Self::Forbidden => (
                Http::FORBIDDEN,
                json!({"detail": "You do not have permission to perform this action."}),
            ),
            Self::NotFound => (Http::NOT_FOUND, json!({"detail": "Not found."})),
            Self::Invalid(fields) => (Http::BAD_REQUEST, json!(fields)),
            Self::Conflict(detail) => (Http::CONFLICT, json!({ "detail": detail })),
            Self::Unavailable(reason) => {
                tracing::warn!(%reason, "a service is unavailable");
                let mut response = (
                    Http::SERVICE_UNAVAILABLE,
                    Json(json!({"detail": "Service temporarily unavailable, try again later."})),
                )
                    .into_response();
                response
                    .headers_mut()
                    .insert("retry-after", HeaderValue::from_static("1"));
                return response;
            }
            Self::Internal(reason) => {
                tracing::error!(%reason, "internal error");
                (
                    Http::INTERNAL_SERVER_ERROR,
                    json!({"detail": "A server error occurred."}),
                )
            }
        };
        let mut response = (status, Json(body)).into_response();
        if status == Http::UNAUTHORIZED {
            response
                .headers_mut()
                .insert("www-authenticate", HeaderValue::from_static("Token"));
        }
        response
    }
}

/// `{"detail": "..."}`.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Detail {
    pub detail: String,
}

/// The statuses a Waldur operation may fail with, and their bodies.
const FAILURES: [(u16, &str); 5] = [
    (400, "Invalid input: each field with its reasons"),
    (401, "Missing or invalid token"),
    (403, "The token's role may not do this"),
    (404, "No such object (or another provider's)"),
    (409, "Not allowed in the object's state"),
];

impl OperationOutput for DrfError {
    type Inner = Detail;

    fn operation_response(ctx: &mut GenContext, _: &mut Operation) -> Option<ApiResponse> {
        let schema = ctx.schema.subschema_for::<Detail>();
        Some(ApiResponse {
            description: "An error".into(),
            content: [media("application/json", schema)].into_iter().collect(),
            ..Default::default()
        })
    }

    fn inferred_responses(
        ctx: &mut GenContext,
        operation: &mut Operation,
    ) -> Vec<(Option<StatusCode>, ApiResponse)> {
        let Some(detail) = Self::operation_response(ctx, operation) else {
            return Vec::new();
        };
        let fields = ApiResponse {
            description: FAILURES[0].1.into(),
            content: [media(
                "application/json",
                schemars::json_schema!({
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}}
                }),
            )]
            .into_iter()
            .collect(),
            ..Default::default()
        };
        std::iter::once((Some(StatusCode::Code(400)), fields))
            .chain(FAILURES[1..].iter().map(|(code, description)| {
                (
                    Some(StatusCode::Code(*code)),
                    ApiResponse {
                        description: (*description).into(),
                        ..detail.clone()
                    },
                )
            }))
            .collect()
    }
}
