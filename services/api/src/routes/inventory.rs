//! `/v1/inventory`: fleet-wide counts.

use aide::axum::routing::get_with;
use aide::axum::ApiRouter;
use axum::extract::State;
use axum::Json;
use fleet_projections::inventory::{self, InventorySummary};

use crate::auth::Caller;
use crate::docs::summary;
use crate::extract::ReadPosition;
use crate::routes::wait_for_position;
use crate::{ApiError, AppState};

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/inventory/summary",
            get_with(
                inventory_summary,
                summary("Counts of instances and subscriptions"),
            ),
        )
        .with_path_items(|item| item.tag("inventory"))
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
