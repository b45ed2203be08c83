//! Astra's problem details: `{type, title, detail, status, correlationID, invalidFields |
//! invalidParams}`, with `status` a string as 004 writes it and 004's numbered problem types.
//!
//! 004 shows types 1, 2, 3, 5, 10 and 11. It has none for a body whose fields are wrong (its
//! examples reuse 5, "Invalid query parameters"), for media types, or for an outage; this
//! dialect numbers those 7, 12, 13 and 14 on the same base and says so in its document.

use aide::generate::GenContext;
use aide::openapi::{Operation, Response as ApiResponse, StatusCode};
use aide::OperationOutput;
use axum::http::{header, HeaderValue, StatusCode as Http};
use axum::response::{IntoResponse, Response};
use axum::Json;
use fleet_api::ApiError;
use fleet_app::command_bus::CommandError;
use fleet_app::AppError;
use serde::Serialize;

const BASE: &str = "https://astra.netapp.io/problems/";

/// A problem type: its number and title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub number: u16,
    pub title: &'static str,
    pub detail: &'static str,
    pub status: u16,
}

pub const RESOURCE_NOT_FOUND: Kind = Kind {
    number: 1,
    title: "Resource not found",
    detail: "The resource specified in the request URI wasn't found.",
    status: 404,
};
pub const COLLECTION_NOT_FOUND: Kind = Kind {
    number: 2,
    title: "Collection not found",
    detail: "The collection specified in the request URI wasn't found.",
    status: 404,
};
pub const MISSING_TOKEN: Kind = Kind {
    number: 3,
    title: "Missing bearer token",
    detail: "The request is missing the required bearer token.",
    status: 401,
};
pub const INVALID_PARAMS: Kind = Kind {
    number: 5,
    title: "Invalid query parameters",
    detail: "The supplied query parameters are invalid.",
    status: 400,
};
pub const INVALID_FIELDS: Kind = Kind {
    number: 7,
    title: "Invalid JSON body fields",
    detail: "The supplied request body fields are invalid.",
    status: 400,
};
pub const CONFLICT: Kind = Kind {
    number: 10,
    title: "JSON resource conflict",
    detail: "The request body JSON contains a field that conflicts with an idempotent value.",
    status: 409,
};
pub const NOT_PERMITTED: Kind = Kind {
    number: 11,
    title: "Operation not permitted",
    detail: "The requested operation isn't permitted.",
    status: 403,
};
pub const UNSUPPORTED_MEDIA: Kind = Kind {
    number: 12,
    title: "Unsupported media type",
    detail: "The request body's media type is not one this resource takes.",
    status: 415,
};
pub const NOT_ACCEPTABLE: Kind = Kind {
    number: 13,
    title: "Not acceptable",
    detail: "None of the media types the request accepts is one this resource is served in.",
    status: 406,
};
pub const UNAVAILABLE: Kind = Kind {
    number: 14,
    title: "Service unavailable",
    detail: "A service the answer needs cannot answer now; try again shortly.",
    status: 503,
};

/// One invalid field or parameter, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Invalid {
    pub name: String,
    pub reason: String,
}

#[derive(Debug)]
pub struct Problem {
    pub kind: Kind,
    pub detail: Option<String>,
    pub invalid_fields: Vec<Invalid>,
    pub invalid_params: Vec<Invalid>,
}

impl Problem {
    pub fn new(kind: Kind) -> Self {
        Self {
            kind,
            detail: None,
            invalid_fields: Vec::new(),
            invalid_params: Vec::new(),
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn fields(invalid: Vec<Invalid>) -> Self {
        Self {
            invalid_fields: invalid,
            ..Self::new(INVALID_FIELDS)
        }
    }

    pub fn field(name: &str, reason: impl Into<String>) -> Self {
        Self::fields(vec![Invalid {
            name: name.into(),
            reason: reason.into(),
        }])
    }

    pub fn param(name: &str, reason: impl Into<String>) -> Self {
        Self {
            invalid_params: vec![Invalid {
                name: name.into(),
                reason: reason.into(),
            }],
            ..Self::new(INVALID_PARAMS)
        }
    }

    /// A conflict with an immutable value, naming the field.
    pub fn conflict(name: &str, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Self {
            detail: Some(format!("{name}: {reason}")),
            invalid_fields: vec![Invalid {
                name: name.into(),
                reason,
            }],
            ..Self::new(CONFLICT)
        }
    }
}

/// Native field names as Astra spells them, for errors raised by the core.
fn astra_name(field: &str) -> String {
    match field {
        "payment_profile_id" => "paymentProfileID",
        "customer_profile_id" => "customerProfileID",
        "purchase_order_number" => "purchaseOrderNumber",
        "license_serial" => "licenseSN",
        "app_limit" => "appLimit",
        "namespace_limit" => "namespaceLimit",
        "onboarding" => "onboardStatus",
        "cost_per_app_unit" => "costPerAppUnit",
        "cost_per_namespace_unit" => "costPerNamespaceUnit",
        "grace_days" => "gracePeriod",
        "reminder_days" => "reminderBeforePeriod",
        "trial_ends_at" => "subscriptionPeriod",
        "trial_days" => "subscriptionPeriod",
        "labels" | "labels.name" | "labels.value" => "metadata.labels",
        other => other,
    }
    .to_owned()
}

impl From<ApiError> for Problem {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Unauthorized => Self::new(MISSING_TOKEN),
            ApiError::Forbidden { role, action } => {
                Self::new(NOT_PERMITTED).detail(format!("the {role} role may not {action}"))
            }
            ApiError::NotFound(detail) => Self::new(RESOURCE_NOT_FOUND).detail(detail),
            ApiError::Conflict { detail, .. } => Self::new(CONFLICT).detail(detail),
            ApiError::BadRequest { errors, detail }
            | ApiError::Unprocessable { errors, detail } => {
                let invalid: Vec<Invalid> = errors
                    .into_iter()
                    .map(|e| Invalid {
                        name: astra_name(&e.field),
                        reason: e.reason,
                    })
                    .collect();
                Self::fields(invalid).detail(detail)
            }
            ApiError::TooLarge { limit } => {
                Self::field("body", format!("is larger than {limit} bytes"))
            }
            ApiError::HeadersTooLarge(reason) => Self::field("headers", reason),
            ApiError::RateLimited { retry_after, .. } => Self::new(UNAVAILABLE)
                .detail(format!("too many requests: retry in {retry_after} s")),
            ApiError::Unavailable(reason) => Self::new(UNAVAILABLE).detail(reason),
            ApiError::Internal(reason) => Self {
                kind: Kind {
                    number: 0,
                    title: "Internal error",
                    detail: "The server failed to answer.",
                    status: 500,
                },
                detail: None,
                invalid_fields: Vec::new(),
                invalid_params: vec![],
            }
            .logged(&reason),
        }
    }
}

impl Problem {
    fn logged(self, reason: &str) -> Self {
        tracing::error!(reason, "Astra request failed");
        self
    }
}

impl From<AppError> for Problem {
    fn from(e: AppError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<CommandError> for Problem {
    fn from(e: CommandError) -> Self {
        AppError::from(e).into()
    }
}

impl From<sqlx::Error> for Problem {
    fn from(e: sqlx::Error) -> Self {
        AppError::from(e).into()
    }
}

/// The body of every failure.
#[derive(Serialize, schemars::JsonSchema)]
pub struct ProblemBody {
    #[serde(rename = "type")]
    kind: String,
    title: String,
    detail: String,
    /// The HTTP status, as a string.
    status: String,
    #[serde(rename = "correlationID", skip_serializing_if = "Option::is_none")]
    correlation_id: Option<String>,
    #[serde(
        rename = "invalidFields",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    invalid_fields: Vec<Invalid>,
    #[serde(
        rename = "invalidParams",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    invalid_params: Vec<Invalid>,
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = Http::from_u16(self.kind.status).unwrap_or(Http::INTERNAL_SERVER_ERROR);
        let body = ProblemBody {
            kind: format!("{BASE}{}", self.kind.number),
            title: self.kind.title.into(),
            detail: self.detail.unwrap_or_else(|| self.kind.detail.into()),
            status: self.kind.status.to_string(),
            correlation_id: fleet_api::request_context::correlation_id(),
            invalid_fields: self.invalid_fields,
            invalid_params: self.invalid_params,
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == Http::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl OperationOutput for Problem {
    type Inner = ProblemBody;

    fn operation_response(ctx: &mut GenContext, operation: &mut Operation) -> Option<ApiResponse> {
        <Json<ProblemBody> as OperationOutput>::operation_response(ctx, operation).map(|mut r| {
            if let Some(json) = r.content.shift_remove("application/json") {
                r.content.insert("application/problem+json".into(), json);
            }
            r
        })
    }

    fn inferred_responses(
        ctx: &mut GenContext,
        operation: &mut Operation,
    ) -> Vec<(Option<StatusCode>, ApiResponse)> {
        crate::answer::error_statuses(
            Self::operation_response(ctx, operation),
            &[
                (400, "Invalid query parameters or body fields"),
                (401, "Missing bearer token"),
                (403, "Operation not permitted"),
                (404, "Resource or collection not found"),
                (406, "Not acceptable"),
                (409, "JSON resource conflict"),
                (415, "Unsupported media type"),
                (503, "Service unavailable"),
            ],
        )
    }
}
