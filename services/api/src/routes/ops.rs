//! Operations: liveness, readiness, metrics and the OpenAPI document.
//!
//! Liveness and whether the process is ready answer anyone (load balancers and probes ask
//! them without a key). What readiness is made of (the stream position, each projection's
//! lag, the services' errors) and the metrics tell how the deployment runs: they are shown
//! only to an admin, operator or auditor key (`Authorization: Bearer`, as Prometheus sends
//! one).

use std::sync::Arc;

use aide::axum::routing::get_with;
use aide::axum::ApiRouter;
use aide::generate::GenContext;
use aide::openapi::{Operation, StatusCode as ApiStatus};
use aide::OperationOutput;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
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
            get_with(
                readiness,
                summary("Ready or not; with an operator key, NATS, PostgreSQL and each projection's lag"),
            ),
        )
        .api_route(
            "/metrics",
            get_with(metrics, summary("Prometheus metrics, to an admin, operator or auditor key")),
        )
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
    /// Events it could not apply, set aside (see `projection_parked`).
    parked: u64,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Readiness {
    ready: bool,
    /// What follows is shown to an admin, operator or auditor key only.
    #[serde(skip_serializing_if = "Option::is_none")]
    postgres: Option<Check>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nats: Option<Check>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_position: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    projections: Option<Vec<ProjectionState>>,
}

/// Whether the request carries a key that may see how the deployment runs; `Err` says why
/// not when one was presented.
async fn operator(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    use fleet_app::access::Role;
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| k.starts_with(fleet_app::access::KEY_PREFIX) && k.len() < 200)
        .ok_or(ApiError::Unauthorized)?;
    match state.keys.resolve(&state.pool, key).await? {
        Some(p) if matches!(p.role, Role::Admin | Role::Operator | Role::Auditor) => Ok(()),
        Some(p) => Err(ApiError::Forbidden {
            role: p.role.to_string(),
            action: "see how the deployment runs",
        }),
        None => Err(ApiError::Unauthorized),
    }
}

fn check<T, E: std::fmt::Display>(result: &Result<T, E>) -> Check {
    Check {
        ok: result.is_ok(),
        error: result.as_ref().err().map(ToString::to_string),
    }
}

/// Ready when PostgreSQL and NATS answer and no projection lags beyond the configured limit.
async fn readiness(State(state): State<AppState>, headers: HeaderMap) -> Ready {
    let postgres = sqlx::query("SELECT 1").execute(&state.pool).await;
    let stream = state.log.last_sequence().await;
    let stream_position = *stream.as_ref().unwrap_or(&0);
    let usage_position = state.usage_log.last_sequence().await.unwrap_or(0);
    // Anyone may ask whether fleetd is ready (probes do, often); the detail is counted only
    // for those who may see it.
    let shown = operator(&state, &headers).await.is_ok();
    let parked: std::collections::HashMap<String, i64> = if shown {
        sqlx::query_as("SELECT projection, count(*) FROM projection_parked GROUP BY projection")
            .fetch_all(&state.pool)
            .await
            .map(|rows| rows.into_iter().collect())
            .unwrap_or_default()
    } else {
        Default::default()
    };
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
            parked: parked.get(projection.name()).copied().unwrap_or(0) as u64,
        });
    }
    let ready = postgres.is_ok()
        && stream.is_ok()
        && projections
            .iter()
            .all(|p| p.lag <= state.settings.ready_max_lag);
    let body = Readiness {
        ready,
        postgres: shown.then(|| check(&postgres)),
        nats: shown.then(|| check(&stream)),
        stream_position: shown.then_some(stream_position),
        projections: shown.then_some(projections),
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

async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Served<OpenMetrics>, ApiError> {
    operator(&state, &headers).await?;
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
