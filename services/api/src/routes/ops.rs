//! Operations: liveness, readiness, metrics and the OpenAPI document.

use std::sync::Arc;

use aide::axum::routing::get_with;
use aide::axum::ApiRouter;
use aide::generate::GenContext;
use aide::openapi::{Operation, StatusCode as ApiStatus};
use aide::OperationOutput;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use fleet_events::EventLog;
use fleet_projections::{checkpoint, Source};
use serde::Serialize;

use crate::docs::{self, summary, OpenMetrics, Served};
use crate::{ApiError, AppState};

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route("/healthz", get_with(liveness, summary("Alive")))
        .api_route(
            "/readyz",
            get_with(readiness, summary("NATS, PostgreSQL and projection lag")),
        )
        .api_route("/metrics", get_with(metrics, summary("Prometheus metrics")))
        .api_route(
            "/v1/openapi.json",
            get_with(openapi_document, summary("This document")),
        )
        .with_path_items(|item| item.tag("operations"))
}

#[derive(Serialize, schemars::JsonSchema)]
struct Alive {
    /// Always `ok`.
    status: &'static str,
}

async fn liveness() -> Json<Alive> {
    Json(Alive { status: "ok" })
}

/// The document generated from the routers (set by [`crate::router_and_document`]).
async fn openapi_document(
    Extension(document): Extension<Arc<serde_json::Value>>,
) -> Json<serde_json::Value> {
    Json((*document).clone())
}

#[derive(Serialize, schemars::JsonSchema)]
struct Check {
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct ProjectionState {
    name: &'static str,
    position: u64,
    lag: u64,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Readiness {
    ready: bool,
    postgres: Check,
    nats: Check,
    stream_position: u64,
    projections: Vec<ProjectionState>,
}

fn check<T, E: std::fmt::Display>(result: &Result<T, E>) -> Check {
    Check {
        ok: result.is_ok(),
        error: result.as_ref().err().map(ToString::to_string),
    }
}

/// Ready when PostgreSQL and NATS answer and no projection lags beyond the configured limit.
async fn readiness(State(state): State<AppState>) -> Ready {
    let postgres = sqlx::query("SELECT 1").execute(&state.pool).await;
    let stream = state.log.last_sequence().await;
    let stream_position = *stream.as_ref().unwrap_or(&0);
    let usage_position = state.usage_log.last_sequence().await.unwrap_or(0);
    let mut projections = Vec::new();
    for projection in fleet_projections::all() {
        let position = checkpoint::read(&state.pool, projection.name())
            .await
            .unwrap_or(0);
        let end = match projection.source() {
            Source::Domain => stream_position,
            Source::Usage => usage_position,
        };
        projections.push(ProjectionState {
            name: projection.name(),
            position,
            lag: end.saturating_sub(position),
        });
    }
    let ready = postgres.is_ok()
        && stream.is_ok()
        && projections
            .iter()
            .all(|p| p.lag <= state.settings.ready_max_lag);
    let body = Readiness {
        ready,
        postgres: check(&postgres),
        nats: check(&stream),
        stream_position,
        projections,
    };
    Ready(body)
}

/// 200 when ready, else 503, with the same body.
struct Ready(Readiness);

impl IntoResponse for Ready {
    fn into_response(self) -> Response {
        let status = if self.0.ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        (status, Json(self.0)).into_response()
    }
}

impl OperationOutput for Ready {
    type Inner = Readiness;

    fn inferred_responses(
        ctx: &mut GenContext,
        _: &mut Operation,
    ) -> Vec<(Option<ApiStatus>, aide::openapi::Response)> {
        let schema = ctx.schema.subschema_for::<Readiness>();
        [
            docs::response(
                200,
                "Ready",
                vec![("application/json", schema.clone())],
                &[],
            ),
            docs::response(
                503,
                "Not ready: the body says why",
                vec![("application/json", schema)],
                &[],
            ),
        ]
        .concat()
    }
}

async fn metrics(State(state): State<AppState>) -> Result<Served<OpenMetrics>, ApiError> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &state.registry)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let response = (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response();
    Ok(Served::new(response))
}
