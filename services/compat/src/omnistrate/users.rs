//! Users (inventory-api): the consumption users of a service's subscriptions, and the
//! tenant's users. A consumption user is created with their organisation: a new customer
//! named by `legalCompanyName`, of which the user is the root user. Passwords are not kept:
//! Fleetledger signs no one in.

use aide::axum::routing::{get_with, post_with, put_with};
use aide::axum::ApiRouter;
use aide::transform::TransformOperation;
use axum::extract::{Path, State};
use axum::Json;
use fleet_api::auth::Permission;
use fleet_api::AppState;
use fleet_domain::customer::{Customer, CustomerCommand};
use fleet_domain::user::{User as UserAggregate, UserCommand};
use fleet_domain::Aggregate;
use fleet_events::customer::CustomerProfile;
use fleet_projections::inventory::users;
use fleet_projections::inventory::NAME as INVENTORY;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::instances::Scope;
use super::shapes::{Lookup, User};
use super::wire::{id, native, native_opt, prefix, Body, Paging, Query};
use super::{applied, fresh, Agent, Done, GoaError};

fn op(summary: &'static str) -> impl FnOnce(TransformOperation) -> TransformOperation {
    super::operation("inventory-api", summary)
}

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/service/{serviceId}/environment/{environmentId}/users",
            get_with(list_of_service, op("ListUsers")),
        )
        .api_route(
            "/service/{serviceId}/environment/{environmentId}/user/{userId}",
            get_with(describe_in_service, op("DescribeUser")),
        )
        .api_route("/user", post_with(create, op("CreateConsumptionUser")))
        .api_route(
            "/user/{userId}",
            get_with(describe, op("DescribeOrgUser")).delete_with(delete, op("DeleteUser")),
        )
        .api_route(
            "/user/{userId}/suspend",
            put_with(suspend, op("SuspendUser")),
        )
        .api_route(
            "/user/{userId}/unsuspend",
            put_with(unsuspend, op("UnsuspendUser")),
        )
        .api_route(
            "/user/{userId}/verification-email",
            post_with(resend_verification, op("ResendVerificationEmail")),
        )
        .api_route("/users", get_with(list_all, op("ListAllUsers")))
}

const READS: &[&str] = &[
    fleet_events::user::AGGREGATE_TYPE,
    fleet_events::customer::AGGREGATE_TYPE,
    fleet_events::subscription::AGGREGATE_TYPE,
];

#[derive(Deserialize, schemars::JsonSchema)]
struct UserPath {
    #[serde(rename = "userId")]
    user_id: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ScopedUserPath {
    #[serde(rename = "serviceId")]
    service_id: String,
    #[serde(rename = "environmentId")]
    #[allow(dead_code)]
    environment_id: String,
    #[serde(rename = "userId")]
    user_id: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    subscription_id: Option<String>,
    next_page_token: Option<String>,
    page_size: Option<i64>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ServiceUsers {
    environment_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
    service_id: String,
    users: Vec<User>,
}

async fn shaped_page(
    state: &AppState,
    agent: &Agent,
    service_id: Option<&str>,
    subscription_id: Option<Uuid>,
    paging: &Paging,
) -> Result<(Vec<User>, Option<String>), GoaError> {
    fresh(state, agent.tenant(), INVENTORY, READS).await?;
    let rows = users::list_of_tenant(
        &state.pool,
        agent.tenant().as_str(),
        service_id,
        subscription_id,
        paging.after,
        paging.limit + 1,
    )
    .await?;
    let (rows, token) = paging.page(rows, |r| r.id);
    let mut lookup = Lookup::new(&state.pool, agent.tenant().as_str());
    let mut shaped = Vec::with_capacity(rows.len());
    for row in &rows {
        shaped.push(User::of(row, &mut lookup).await?);
    }
    Ok((shaped, token))
}

/// The users of customers holding a live subscription to the service.
async fn list_of_service(
    State(state): State<AppState>,
    agent: Agent,
    Path(scope): Path<Scope>,
    Query(query): Query<ListQuery>,
) -> Result<Json<ServiceUsers>, GoaError> {
    let paging = Paging::read(query.page_size, query.next_page_token.as_deref())?;
    let subscription = native_opt(
        prefix::SUBSCRIPTION,
        "subscriptionId",
        query.subscription_id.as_deref(),
    )?;
    let (users, next_page_token) = shaped_page(
        &state,
        &agent,
        Some(&scope.service_id),
        subscription,
        &paging,
    )
    .await?;
    Ok(Json(ServiceUsers {
        environment_id: scope.environment_id,
        next_page_token,
        service_id: scope.service_id,
        users,
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct AllQuery {
    service_id: Option<String>,
    next_page_token: Option<String>,
    page_size: Option<i64>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct AllUsers {
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_id: Option<String>,
    users: Vec<User>,
}

async fn list_all(
    State(state): State<AppState>,
    agent: Agent,
    Query(query): Query<AllQuery>,
) -> Result<Json<AllUsers>, GoaError> {
    let paging = Paging::read(query.page_size, query.next_page_token.as_deref())?;
    let (users, next_page_token) =
        shaped_page(&state, &agent, query.service_id.as_deref(), None, &paging).await?;
    Ok(Json(AllUsers {
        next_page_token,
        service_id: query.service_id,
        users,
    }))
}

async fn read_user(state: &AppState, agent: &Agent, shown: &str) -> Result<User, GoaError> {
    let uuid = native(prefix::USER, "user", shown)?;
    fresh(state, agent.tenant(), INVENTORY, READS).await?;
    let row = users::get(&state.pool, agent.tenant().as_str(), uuid)
        .await?
        .filter(|u| u.status != "deleted")
        .ok_or_else(|| GoaError::not_found("user", shown))?;
    let mut lookup = Lookup::new(&state.pool, agent.tenant().as_str());
    User::of(&row, &mut lookup).await
}

async fn describe(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<UserPath>,
) -> Result<Json<User>, GoaError> {
    Ok(Json(read_user(&state, &agent, &path.user_id).await?))
}

/// A user of the service: one whose customer holds a subscription to it.
async fn describe_in_service(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<ScopedUserPath>,
) -> Result<Json<User>, GoaError> {
    let user = read_user(&state, &agent, &path.user_id).await?;
    if !user
        .subscriptions
        .iter()
        .any(|s| s.service_id == path.service_id)
    {
        return Err(GoaError::not_found("user", &path.user_id));
    }
    Ok(Json(user))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Create {
    #[serde(default)]
    #[allow(dead_code)]
    attributes: std::collections::BTreeMap<String, String>,
    company_url: Option<String>,
    email: String,
    /// Every user is enabled at once here: there is no email verification to wait for.
    #[allow(dead_code)]
    enable_auto_verification: bool,
    legal_company_name: String,
    name: String,
    /// Read and discarded: Fleetledger signs no one in.
    #[allow(dead_code)]
    password: String,
}

/// Creates the user's organisation (a customer; its country unknown, ISO's `ZZ`) and the
/// user as its root user. Answers the new user's id as a bare string.
async fn create(
    State(state): State<AppState>,
    agent: Agent,
    Body(body): Body<Create>,
) -> Result<Json<String>, GoaError> {
    agent.require(Permission::ManageAccounts)?;
    if body.password.is_empty() {
        return Err(GoaError::field("password", "must not be empty"));
    }
    state
        .caught_up_on(
            agent.tenant(),
            fleet_events::user::AGGREGATE_TYPE,
            INVENTORY,
        )
        .await?;
    if users::live_user_with_email(&state.pool, agent.tenant().as_str(), &body.email)
        .await?
        .is_some()
    {
        return Err(GoaError::InvalidState(format!(
            "a user with the email {} exists already",
            body.email
        )));
    }
    let domain = body.company_url.as_deref().map(|url| {
        url.trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned()
    });
    let profile = CustomerProfile {
        name: body.legal_company_name,
        country: "ZZ".into(),
        email: body.email.clone(),
        domain: domain.filter(|d| !d.is_empty()),
        tax_id: None,
        internal_identifier: None,
    };
    // The user is decided before the organisation is created, so that a user refused (a bad
    // email, say) leaves no organisation behind.
    let user = UserCommand::Create {
        customer_id: String::new(),
        email: body.email.clone(),
        name: body.name.clone(),
        role: "root".into(),
    };
    UserAggregate::default()
        .decide(&user)
        .map_err(|e| GoaError::from(fleet_app::AppError::from(e)))?;
    let customer_id = Uuid::now_v7().to_string();
    state
        .bus
        .execute_on_new::<Customer>(agent.meta(), &customer_id, CustomerCommand::Create(profile))
        .await
        .map_err(|e| match GoaError::from(e) {
            GoaError::BadRequest(reason) => GoaError::BadRequest(
                reason
                    .replace("name:", "legalCompanyName:")
                    .replace("domain:", "companyUrl:"),
            ),
            other => other,
        })?;
    let executed = fleet_app::accounts::create_user(
        &state,
        agent.meta(),
        &customer_id,
        body.email,
        body.name,
        "root".into(),
    )
    .await?;
    applied(&state, INVENTORY, executed.event.sequence).await?;
    Ok(Json(id(prefix::USER, executed.event.event.aggregate_id)))
}

async fn user_command(
    state: &AppState,
    agent: &Agent,
    shown: &str,
    command: UserCommand,
) -> Result<Done, GoaError> {
    agent.require(Permission::ManageAccounts)?;
    let uuid = native(prefix::USER, "user", shown)?;
    state
        .bus
        .execute::<UserAggregate>(agent.meta(), &uuid.to_string(), command)
        .await
        .map_err(|e| GoaError::refused(e, "user", shown))?;
    Ok(Done)
}

async fn delete(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<UserPath>,
) -> Result<Done, GoaError> {
    user_command(&state, &agent, &path.user_id, UserCommand::Delete).await
}

async fn suspend(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<UserPath>,
) -> Result<Done, GoaError> {
    let command = UserCommand::Suspend { reason: None };
    user_command(&state, &agent, &path.user_id, command).await
}

/// Records that the verification email is to be sent again; the event tells subscribers to
/// send it. Only an active user gets one (a suspended or deleted one is a 409).
async fn resend_verification(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<UserPath>,
) -> Result<Done, GoaError> {
    user_command(
        &state,
        &agent,
        &path.user_id,
        UserCommand::ResendVerification,
    )
    .await
}

async fn unsuspend(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<UserPath>,
) -> Result<Done, GoaError> {
    user_command(&state, &agent, &path.user_id, UserCommand::Unsuspend).await
}
