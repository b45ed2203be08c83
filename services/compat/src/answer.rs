//! What the dialects' answers share: a bodiless answer at the operation's status, and the
//! documented error statuses of a dialect's error body.

use aide::openapi::{Response as ApiResponse, StatusCode};
use axum::response::{IntoResponse, Response};

/// An answer with no body, at the status the source system answers the operation with (200,
/// 202, 204).
pub struct Done<const STATUS: u16 = 200>;

impl<const STATUS: u16> IntoResponse for Done<STATUS> {
    fn into_response(self) -> Response {
        axum::http::StatusCode::from_u16(STATUS)
            .unwrap_or(axum::http::StatusCode::OK)
            .into_response()
    }
}

impl<const STATUS: u16> aide::OperationOutput for Done<STATUS> {
    type Inner = ();

    fn operation_response(
        _: &mut aide::generate::GenContext,
        _: &mut aide::openapi::Operation,
    ) -> Option<ApiResponse> {
        Some(ApiResponse {
            description: "Done; no body".into(),
            ..Default::default()
        })
    }

    fn inferred_responses(
        ctx: &mut aide::generate::GenContext,
        operation: &mut aide::openapi::Operation,
    ) -> Vec<(Option<StatusCode>, ApiResponse)> {
        Self::operation_response(ctx, operation)
            .map(|r| (Some(StatusCode::Code(STATUS)), r))
            .into_iter()
            .collect()
    }
}

/// An error body's documented response at each of `statuses`, described by the words given.
pub fn error_statuses(
    response: Option<ApiResponse>,
    statuses: &[(u16, &str)],
) -> Vec<(Option<StatusCode>, ApiResponse)> {
    let Some(response) = response else {
        return Vec::new();
    };
    statuses
        .iter()
        .map(|(code, description)| {
            let mut r = response.clone();
            r.description = (*description).into();
            (Some(StatusCode::Code(*code)), r)
        })
        .collect()
}
