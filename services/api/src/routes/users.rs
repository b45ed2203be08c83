//! Users of customers: `/v1/customers/{id}/users` and `/v1/users/{id}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use fleet_domain::user::{User, UserCommand};
use fleet_domain::Aggregate;
use fleet_projections::inventory::users::{self, UserRow};
use fleet_projections::inventory::NAME as INVENTORY;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::{Caller, Permission};
use crate::extract::{ApiJson, ApiQuery, ReadPosition};
use crate::pagination::{self, Page};
use crate::routes::{
    command_response, parse_id, run, wait_for_latest, wait_for_position, Issuer, Target,
};
use crate::{ApiError, AppState};
use fleet_app::command_bus::Executed;
use fleet_app::policies;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users/{id}/events", crate::routes::history_route::<User>())
        .route("/customers/{id}/users", post(create_user).get(list_users))
        .route("/users/{id}", get(get_user).delete(delete_user))
        .route("/users/{id}/suspend", post(suspend_user))
        .route("/users/{id}/unsuspend", post(unsuspend_user))
}

#[derive(Serialize)]
struct UserState {
    id: String,
    customer_id: Option<String>,
    status: &'static str,
    position: u64,
    event_type: String,
}

fn respond(status: StatusCode, executed: Executed<User>) -> Response {
    let position = executed.event.sequence;
    let id = executed.event.event.aggregate_id.clone();
    let location = (status == StatusCode::ACCEPTED).then(|| format!("/v1/users/{id}"));
    let body = UserState {
        id,
        customer_id: executed.state.customer_id,
        status: executed.state.status.as_str(),
        position,
        event_type: executed.event.event.event_type,
    };
    command_response(status, position, location, body)
}

async fn execute(
    state: &AppState,
    issuer: Issuer,
    id: &str,
    command: UserCommand,
) -> Result<Response, ApiError> {
    let id = parse_id(User::TYPE, id)?;
    let executed = run::<User>(
        state,
        &issuer,
        Permission::ManageAccounts,
        id,
        Target::Existing,
        command,
    )
    .await?;
    Ok(respond(StatusCode::OK, executed))
}

#[derive(Deserialize)]
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
) -> Result<Response, ApiError> {
    issuer.caller.require(Permission::ManageAccounts)?;
    let tenant = &issuer.caller.tenant;
    let customer = parse_id("customer", &customer_id)?;
    let customer = policies::active_customer(&state, tenant, "customer_id", &customer.to_string())
        .await
        .map_err(|e| match e {
            fleet_app::AppError::Unprocessable { .. } => {
                ApiError::NotFound(format!("customer {customer_id} not found"))
            }
            other => other.into(),
        })?;
    // Emails identify people within a tenant. Checked against everything recorded so far.
    wait_for_latest(
        &state,
        tenant,
        fleet_events::user::AGGREGATE_TYPE,
        INVENTORY,
    )
    .await?;
    if let Some(existing) =
        users::live_user_with_email(&state.pool, tenant.as_str(), &body.email).await?
    {
        return Err(ApiError::Conflict {
            detail: format!("user {existing} already has the email {}", body.email),
            current_state: None,
        });
    }
    let command = UserCommand::Create {
        customer_id: customer.to_string(),
        email: body.email,
        name: body.name,
        role: body.role,
    };
    let executed = run::<User>(
        &state,
        &issuer,
        Permission::ManageAccounts,
        Uuid::now_v7(),
        Target::New,
        command,
    )
    .await?;
    Ok(respond(StatusCode::ACCEPTED, executed))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SuspendUser {
    reason: Option<String>,
}

async fn suspend_user(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let body: SuspendUser = crate::extract::optional_json(&body)?;
    execute(
        &state,
        issuer,
        &id,
        UserCommand::Suspend {
            reason: body.reason,
        },
    )
    .await
}

async fn unsuspend_user(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    execute(&state, issuer, &id, UserCommand::Unsuspend).await
}

async fn delete_user(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    execute(&state, issuer, &id, UserCommand::Delete).await
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

#[derive(Deserialize)]
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
