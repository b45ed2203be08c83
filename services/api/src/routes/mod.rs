//! One router per resource.

pub mod instances;
pub mod inventory;
pub mod ops;

use fleet_projections::checkpoint;

use crate::{ApiError, AppState};

/// Read your writes: waits until `projection` has applied `position`, if one was given.
pub async fn wait_for_position(
    state: &AppState,
    projection: &str,
    position: Option<u64>,
) -> Result<(), ApiError> {
    let Some(position) = position else {
        return Ok(());
    };
    if checkpoint::wait_for(&state.pool, projection, position, state.settings.read_wait).await? {
        Ok(())
    } else {
        Err(ApiError::Unavailable(format!(
            "the {projection} read model has not reached position {position} yet; retry shortly"
        )))
    }
}
