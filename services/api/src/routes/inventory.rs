//! `/v1/inventory`: fleet-wide counts.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use fleet_projections::inventory::{self, InventorySummary};

use crate::auth::Caller;
use crate::extract::ReadPosition;
use crate::routes::wait_for_position;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/inventory/summary", get(inventory_summary))
}

async fn inventory_summary(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
) -> Result<Json<InventorySummary>, ApiError> {
    wait_for_position(&state, inventory::NAME, position).await?;
    Ok(Json(
        inventory::summary(&state.pool, caller.tenant.as_str()).await?,
    ))
}
