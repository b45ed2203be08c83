//! A billable resource's `reseller_metadata` (001 op 9). The billable resources with a record
//! of their own are the instances; object storage is metered by volume, not as a resource, so
//! it has none, as 001 says ("all billable resources except for object storage").

use aide::axum::routing::put_with;
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use fleet_api::auth::Permission;
use fleet_api::routes::{run_on, wait_for_position, Issuer, Target};
use fleet_api::AppState;
use fleet_domain::instance::{Configuration, Instance, InstanceCommand};
use fleet_projections::inventory;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::wire::Body;
use super::OrmucoError;

pub fn router() -> ApiRouter<AppState> {
    let op = |s| super::operation("resources", s);
    let mut router = ApiRouter::new();
    for path in [
        "/resources/{resource_id}/metadata/",
        "/resources/{resource_id}/metadata",
    ] {
        router = router.api_route(
            path,
            put_with(
                set_metadata,
                op("Edits the reseller_metadata field of a project's resource"),
            ),
        );
    }
    router
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ResourcePath {
    /// The id of the billable resource (an instance).
    resource_id: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Metadata {
    /// The JSON object to put in the metadata field.
    metadata: Value,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Resource {
    resource_id: String,
    reseller_metadata: Value,
}

async fn set_metadata(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(path): Path<ResourcePath>,
    crate::extract::Body(body, _): Body<Metadata>,
) -> Result<Json<Resource>, OrmucoError> {
    let id = path.resource_id.trim();
    if id == "object_storage" {
        return Err(OrmucoError::field(
            "resource_id",
            "object storage is not a billable resource with metadata",
        ));
    }
    let uuid = Uuid::parse_str(id).map_err(|_| OrmucoError::not_found("resource", id))?;
    let command = InstanceCommand::Configure(Configuration::SetResellerMetadata {
        metadata: body.metadata,
    });
    let executed = run_on::<Instance>(
        &state,
        &issuer,
        Permission::ManageInvoices,
        &uuid.to_string(),
        Target::Existing,
        command,
    )
    .await
    .map_err(|e| OrmucoError::failed(e, "resource", id))?;
    wait_for_position(&state, inventory::NAME, Some(executed.event.sequence)).await?;
    let row = inventory::get_instance(&state.pool, issuer.caller.tenant.as_str(), uuid)
        .await?
        .ok_or_else(|| OrmucoError::not_found("resource", id))?;
    Ok(Json(Resource {
        resource_id: uuid.to_string(),
        reseller_metadata: row.reseller_metadata,
    }))
}
