//! Users of customers: `/v1/customers/{id}/users` and `/v1/users/{id}`.

use aide::axum::routing::{get_with, post_with};
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use fleet_domain::user::{User, UserCommand};
use fleet_domain::Aggregate;
use fleet_projections::inventory::users::{self, UserRow};
use fleet_projections::inventory::NAME as INVENTORY;
use serde::{Deserialize, Serialize};

use crate::auth::{Caller, Permission};
use crate::docs::summary;
use crate::extract::{ApiJson, ApiQuery, ReadPosition};
use crate::pagination::{self, Page};
use crate::routes::commands::{action, action_with_optional, removal, reply, Accepted, Exposed};
use crate::routes::{history_route, parse_id, wait_for_position, Issuer};
use crate::{ApiError, AppState};
use fleet_app::command_bus::Executed;

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route("/users/{id}/events", history_route::<User>())
        .api_route(
            "/customers/{id}/users",
            post_with(create_user, summary("Create a user of a customer"))
                .get_with(list_users, summary("List a customer's users")),
        )
        .api_route(
            "/users/{id}",
            get_with(get_user, summary("Get a user"))
                .merge(removal::<User>("Delete a user", || UserCommand::Delete)),
        )
        .api_route(
            "/users/{id}/suspend",
            action_with_optional::<User, SuspendUser>("active -> suspended", |body| {
                Ok(UserCommand::Suspend {
                    reason: body.reason,
                })
            }),
        )
        .api_route(
            "/users/{id}/unsuspend",
            action::<User>("suspended -> active", || UserCommand::Unsuspend),
        )
        .with_path_items(|item| item.tag("users"))
}
#[derive(Serialize, schemars::JsonSchema)]
pub struct UserState {
    id: String,
    customer_id: Option<String>,
    status: &'static str,
    position: u64,
    event_type: String,
}

impl Exposed for User {
    type View = UserState;
    const PERMISSION: Permission = Permission::ManageAccounts;
    const COLLECTION: &'static str = "/v1/users";

    fn view(executed: Executed<User>) -> UserState {
        UserState {
            id: executed.event.event.aggregate_id,
            customer_id: executed.state.customer_id,
            status: executed.state.status.as_str(),
            position: executed.event.sequence,
            event_type: executed.event.event.event_type,
        }
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct CreateUser {
    email: String,
    name: String,
    #[serde(default = "default_role")]
    role: String,
}

fn default_role() -> String {
    "reader".into()
}

async fn create_user(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(customer_id): Path<String>,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<Accepted<UserState>, ApiError> {
    issuer.caller.require(Permission::ManageAccounts)?;
    let customer = parse_id("customer", &customer_id)?;
    let executed = fleet_app::accounts::create_user(
        &state,
        &issuer.meta,
        &customer.to_string(),
        body.email,
        body.name,
        body.role,
    )
    .await?;
    Ok(reply::<User, 202>(executed))
}

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct SuspendUser {
    reason: Option<String>,
}

async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    Path(id): Path<String>,
) -> Result<Json<UserRow>, ApiError> {
    let uuid = parse_id(User::TYPE, &id)?;
    wait_for_position(&state, INVENTORY, position).await?;
    users::get(&state.pool, caller.tenant.as_str(), uuid)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("user {id} not found")))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListUsers {
    status: Option<String>,
    page_size: Option<i64>,
    page_token: Option<String>,
}

async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    Path(customer_id): Path<String>,
    ApiQuery(query): ApiQuery<ListUsers>,
) -> Result<Json<Page<UserRow>>, ApiError> {
    let customer = parse_id("customer", &customer_id)?;
    if let Some(status) = &query.status {
        if !["active", "suspended", "deleted"].contains(&status.as_str()) {
            return Err(ApiError::bad_request(
                "status",
                "must be one of active, suspended, deleted",
            ));
        }
    }
    let limit = pagination::page_size(query.page_size)?;
    let after = pagination::decode_token(query.page_token.as_deref())?;
    wait_for_position(&state, INVENTORY, position).await?;
    let tenant = caller.tenant.as_str();
    if fleet_projections::inventory::customers::get(&state.pool, tenant, customer)
        .await?
        .is_none()
    {
        return Err(ApiError::NotFound(format!(
            "customer {customer_id} not found"
        )));
    }
    let rows = users::list(
        &state.pool,
        tenant,
        &customer.to_string(),
        query.status.as_deref(),
        after,
        limit + 1,
    )
    .await?;
    Ok(Json(Page::from_rows(rows, limit, |r| r.id)))
}
