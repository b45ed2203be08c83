//! `/v1/account-configs`: customers' own cloud accounts (BYOA) the fleet deploys into. A
//! customer's account is registered here; the customer connects it (Omnistrate's
//! `setConnection`), and the agent reports whether it verified.

use aide::axum::routing::{get_with, post_with};
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use fleet_app::command_bus::Executed;
use fleet_domain::account_config::{AccountConfig, AccountConfigCommand, CloudAccount};
use fleet_domain::Aggregate;
use fleet_projections::inventory::account_configs::{self, AccountConfigRow};
use fleet_projections::inventory::NAME as INVENTORY;
use serde::{Deserialize, Serialize};

use crate::auth::{Caller, Permission};
use crate::docs::summary;
use crate::extract::{ApiJson, ReadPosition};
use crate::pagination::Items;
use crate::routes::commands::{reply, Accepted, Exposed, Reply};
use crate::routes::{history_route, parse_id, run_on, wait_for_position, Issuer, Target};
use crate::{ApiError, AppState};

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/account-configs",
            post_with(
                create_account_config,
                summary("Register a customer's cloud account: pending until connected"),
            )
            .get_with(list_account_configs, summary("List account configs")),
        )
        .api_route(
            "/account-configs/{id}",
            get_with(get_account_config, summary("Get an account config")),
        )
        .api_route(
            "/account-configs/{id}/events",
            history_route::<AccountConfig>(),
        )
        .api_route(
            "/account-configs/{id}/verification",
            post_with(
                verify,
                summary("The agent checked a verifying account: ready, or failed with why"),
            ),
        )
        .with_path_items(|item| item.tag("account-configs"))
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct AccountConfigState {
    id: String,
    status: &'static str,
    position: u64,
    event_type: String,
}

impl Exposed for AccountConfig {
    type View = AccountConfigState;
    const PERMISSION: Permission = Permission::OperateFleet;
    const COLLECTION: &'static str = "/v1/account-configs";

    fn view(executed: Executed<AccountConfig>) -> AccountConfigState {
        AccountConfigState {
            id: executed.event.event.aggregate_id,
            status: executed.state.status.as_str(),
            position: executed.event.sequence,
            event_type: executed.event.event.event_type,
        }
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct CreateAccountConfig {
    #[serde(flatten)]
    account: CloudAccount,
}

async fn create_account_config(
    State(state): State<AppState>,
    issuer: Issuer,
    ApiJson(body): ApiJson<CreateAccountConfig>,
) -> Result<Accepted<AccountConfigState>, ApiError> {
    let id = uuid::Uuid::now_v7().to_string();
    let command = AccountConfigCommand::Create(Box::new(body.account));
    let executed = run_on::<AccountConfig>(
        &state,
        &issuer,
        Permission::OperateFleet,
        &id,
        Target::New,
        command,
    )
    .await?;
    Ok(reply(executed))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Verification {
    ready: bool,
    /// Why it failed (required then), or a note.
    message: Option<String>,
}

async fn verify(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Verification>,
) -> Result<Reply<AccountConfigState>, ApiError> {
    let uuid = parse_id(AccountConfig::TYPE, &id)?;
    let command = AccountConfigCommand::Verify {
        ready: body.ready,
        message: body.message,
    };
    let executed = run_on::<AccountConfig>(
        &state,
        &issuer,
        Permission::OperateFleet,
        &uuid.to_string(),
        Target::Existing,
        command,
    )
    .await?;
    Ok(reply(executed))
}

async fn get_account_config(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    Path(id): Path<String>,
) -> Result<Json<AccountConfigRow>, ApiError> {
    wait_for_position(&state, INVENTORY, position).await?;
    let uuid = parse_id(AccountConfig::TYPE, &id)?;
    account_configs::get(&state.pool, caller.tenant.as_str(), uuid)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("account config {id} not found")))
}

async fn list_account_configs(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
) -> Result<Json<Items<AccountConfigRow>>, ApiError> {
    wait_for_position(&state, INVENTORY, position).await?;
    let items = account_configs::list(&state.pool, caller.tenant.as_str(), None).await?;
    Ok(Json(Items { items }))
}
