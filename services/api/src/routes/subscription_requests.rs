//! `/v1/subscription-requests`: customers ask for subscriptions; the provider approves (which
//! creates the subscription), denies, or the customer cancels.

use aide::axum::routing::{get_with, post_with};
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use fleet_domain::subscription_request::{SubscriptionRequest, SubscriptionRequestCommand};
use fleet_domain::Aggregate;
use fleet_projections::inventory::requests::{self, RequestRow};
use fleet_projections::inventory::NAME as INVENTORY;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::{Caller, Permission};
use crate::docs::summary;
use crate::extract::{ApiJson, ApiQuery, OptionalJson, ReadPosition};
use crate::pagination::{self, Page};
use crate::routes::commands::{action, action_with, reply, Accepted, Exposed, Reply};
use crate::routes::subscriptions::GrantedTerms;
use crate::routes::{history_route, parse_id, run, wait_for_position, Issuer, Target};
use crate::{ApiError, AppState};
use fleet_app::command_bus::Executed;
use fleet_app::{policies, AppError};

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/subscription-requests/{id}/events",
            history_route::<SubscriptionRequest>(),
        )
        .api_route(
            "/subscription-requests",
            post_with(
                create_subscription_request,
                summary("Request a subscription"),
            )
            .get_with(
                list_subscription_requests,
                summary("List subscription requests"),
            ),
        )
        .api_route(
            "/subscription-requests/{id}",
            get_with(
                get_subscription_request,
                summary("Get a subscription request"),
            ),
        )
        .api_route(
            "/subscription-requests/{id}/approve",
            post_with(
                approve_subscription_request,
                summary("pending -> approved; the subscription is created exactly once"),
            ),
        )
        .api_route(
            "/subscription-requests/{id}/deny",
            action_with::<SubscriptionRequest, Deny>("pending -> denied", |body| {
                Ok(SubscriptionRequestCommand::Deny {
                    reason: body.reason,
                })
            }),
        )
        .api_route(
            "/subscription-requests/{id}/cancel",
            action::<SubscriptionRequest>("pending -> cancelled", || {
                SubscriptionRequestCommand::Cancel
            }),
        )
        .with_path_items(|item| item.tag("subscription requests"))
}
#[derive(Serialize, schemars::JsonSchema)]
pub struct RequestState {
    id: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscription_id: Option<String>,
    position: u64,
    event_type: String,
}

impl Exposed for SubscriptionRequest {
    type View = RequestState;
    const PERMISSION: Permission = Permission::ManageAccounts;
    const COLLECTION: &'static str = "/v1/subscription-requests";

    fn view(executed: Executed<SubscriptionRequest>) -> RequestState {
        RequestState {
            id: executed.event.event.aggregate_id,
            status: executed.state.status,
            subscription_id: executed.state.subscription_id,
            position: executed.event.sequence,
            event_type: executed.event.event.event_type,
        }
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    customer_id: String,
    service_id: String,
    plan_id: String,
    requested_by_user_id: Option<String>,
}

async fn create_subscription_request(
    State(state): State<AppState>,
    issuer: Issuer,
    ApiJson(body): ApiJson<CreateRequest>,
) -> Result<Accepted<RequestState>, ApiError> {
    issuer.caller.require(Permission::ManageAccounts)?;
    let tenant = &issuer.caller.tenant;
    let customer =
        policies::active_customer(&state, tenant, "customer_id", &body.customer_id).await?;
    let requester = match &body.requested_by_user_id {
        Some(user) => Some(
            policies::user_of_customer(
                &state,
                tenant,
                "requested_by_user_id",
                user,
                &customer.to_string(),
            )
            .await?
            .to_string(),
        ),
        None => None,
    };
    let command = SubscriptionRequestCommand::Create {
        customer_id: customer.to_string(),
        service_id: body.service_id,
        plan_id: body.plan_id,
        requested_by_user_id: requester,
    };
    let executed = run::<SubscriptionRequest>(
        &state,
        &issuer,
        Permission::ManageAccounts,
        Uuid::now_v7(),
        Target::New,
        command,
    )
    .await?;
    Ok(reply::<SubscriptionRequest, 202>(executed))
}

/// Approves with the terms in the body (all optional: none by default, a trial when trial
/// days are given). The subscription is created by a process manager reacting to the
/// approval, exactly once.
async fn approve_subscription_request(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
    OptionalJson(granted): OptionalJson<GrantedTerms>,
) -> Result<Reply<RequestState>, ApiError> {
    issuer.caller.require(Permission::ManageAccounts)?;
    let uuid = parse_id(SubscriptionRequest::TYPE, &id)?;
    let executed = fleet_app::subscriptions::approve_request(
        &state,
        &issuer.meta,
        &uuid.to_string(),
        granted.into(),
    )
    .await
    .map_err(|e| match e {
        AppError::NotFound(_) => ApiError::NotFound(format!("subscription request {id} not found")),
        other => other.into(),
    })?;
    Ok(reply(executed))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Deny {
    reason: String,
}

async fn get_subscription_request(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    Path(id): Path<String>,
) -> Result<Json<RequestRow>, ApiError> {
    let uuid = parse_id(SubscriptionRequest::TYPE, &id)?;
    wait_for_position(&state, INVENTORY, position).await?;
    requests::get(&state.pool, caller.tenant.as_str(), uuid)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("subscription request {id} not found")))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListRequests {
    status: Option<String>,
    customer_id: Option<String>,
    page_size: Option<i64>,
    page_token: Option<String>,
}

async fn list_subscription_requests(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    ApiQuery(query): ApiQuery<ListRequests>,
) -> Result<Json<Page<RequestRow>>, ApiError> {
    let statuses = ["pending", "approved", "denied", "cancelled"];
    if query
        .status
        .as_ref()
        .is_some_and(|s| !statuses.contains(&s.as_str()))
    {
        return Err(ApiError::bad_request(
            "status",
            format!("must be one of {}", statuses.join(", ")),
        ));
    }
    let limit = pagination::page_size(query.page_size)?;
    let after = pagination::decode_token(query.page_token.as_deref())?;
    wait_for_position(&state, INVENTORY, position).await?;
    let rows = requests::list(
        &state.pool,
        caller.tenant.as_str(),
        query.status.as_deref(),
        query.customer_id.as_deref(),
        after,
        limit + 1,
    )
    .await?;
    Ok(Json(Page::from_rows(rows, limit, |r| r.id)))
}
