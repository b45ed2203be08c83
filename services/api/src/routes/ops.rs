//! Operations: liveness, readiness, metrics and the OpenAPI document.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use fleet_events::EventLog;
use fleet_projections::{checkpoint, Source};
use serde::Serialize;
use serde_json::json;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readiness))
        .route("/metrics", get(metrics))
        .route(
            "/v1/openapi.json",
            get(|| async { Json(crate::openapi::document()) }),
        )
}

#[derive(Serialize)]
struct Check {
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct ProjectionState {
    name: &'static str,
    position: u64,
    lag: u64,
}

#[derive(Serialize)]
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
async fn readiness(State(state): State<AppState>) -> Response {
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
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &state.registry) {
        return crate::ApiError::Internal(e.to_string()).into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
