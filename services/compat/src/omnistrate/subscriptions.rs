//! Subscriptions and subscription requests (inventory-api). A subscription created here has
//! no terms unless its caller gives them: it is never put on a trial that would suspend it
//! later. A request is approved with PUT and denied with DELETE, neither with a body.

use aide::axum::routing::{get_with, put_with};
use aide::axum::ApiRouter;
use aide::transform::TransformOperation;
use axum::extract::{Path, State};
use axum::Json;
use fleet_api::auth::Permission;
use fleet_api::AppState;
use fleet_app::subscriptions::Granted;
use fleet_domain::subscription::{Subscription as Sub, SubscriptionChanges, SubscriptionCommand};
use fleet_domain::subscription_request::{SubscriptionRequest, SubscriptionRequestCommand};
use fleet_domain::user::User;
use fleet_domain::vocabulary::Marketplace;
use fleet_projections::inventory::subscriptions::{self, SubscriptionFilter};
use fleet_projections::inventory::{requests, NAME as INVENTORY};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::instances::Scope;
use super::shapes::{Lookup, Subscription, SubscriptionRequest as RequestShape};
use super::wire::{id, native, native_in, prefix, Body, Paging, Query};
use super::{applied, fresh, Agent, Done, GoaError};

fn op(summary: &'static str) -> impl FnOnce(TransformOperation) -> TransformOperation {
    super::operation("inventory-api", summary)
}

const SCOPE: &str = "/service/{serviceId}/environment/{environmentId}";

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            &format!("{SCOPE}/subscription"),
            get_with(list, op("ListSubscription"))
                .post_with(create, op("CreateSubscriptionOnBehalfOfCustomer")),
        )
        .api_route(
            &format!("{SCOPE}/subscription/{{id}}"),
            get_with(describe, op("DescribeSubscription"))
                .patch_with(update, op("UpdateSubscription"))
                .delete_with(terminate, op("TerminateSubscription")),
        )
        .api_route(
            &format!("{SCOPE}/subscription/{{id}}/suspend"),
            put_with(suspend, op("SuspendSubscription")),
        )
        .api_route(
            &format!("{SCOPE}/subscription/{{id}}/resume"),
            put_with(resume, op("ResumeSubscription")),
        )
        .api_route(
            &format!("{SCOPE}/subscriptions"),
            aide::axum::routing::patch_with(update_many, op("UpdateSubscriptions")),
        )
        .api_route(
            &format!("{SCOPE}/subscription/request"),
            get_with(list_requests, op("ListSubscriptionRequests")),
        )
        .api_route(
            &format!("{SCOPE}/subscription/request/{{id}}"),
            get_with(describe_request, op("DescribeSubscriptionRequest"))
                .put_with(approve_request, op("ApproveSubscriptionRequest"))
                .delete_with(deny_request, op("DenySubscriptionRequest")),
        )
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ItemPath {
    #[serde(rename = "serviceId")]
    service_id: String,
    #[serde(rename = "environmentId")]
    #[allow(dead_code)]
    environment_id: String,
    id: String,
}

const READS: &[&str] = &[
    fleet_events::subscription::AGGREGATE_TYPE,
    fleet_events::subscription_request::AGGREGATE_TYPE,
    fleet_events::instance::AGGREGATE_TYPE,
    fleet_events::customer::AGGREGATE_TYPE,
    fleet_events::user::AGGREGATE_TYPE,
];

/// The subscription's native id, once its history shows it belongs to the path's service.
async fn scoped(state: &AppState, agent: &Agent, path: &ItemPath) -> Result<String, GoaError> {
    let uuid = native(prefix::SUBSCRIPTION, "subscription", &path.id)?.to_string();
    let subscription = state
        .bus
        .state::<Sub>(agent.tenant(), &uuid)
        .await
        .map_err(|e| GoaError::Unavailable(e.to_string()))?;
    match subscription.terms {
        Some(terms) if terms.service_id == path.service_id => Ok(uuid),
        _ => Err(GoaError::not_found("subscription", &path.id)),
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    product_tier_id: Option<String>,
    /// Terminated and cancelled subscriptions are listed only when true.
    include_inactive: Option<bool>,
    next_page_token: Option<String>,
    page_size: Option<i64>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct SubscriptionList {
    ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
    subscriptions: Vec<Subscription>,
}

async fn list(
    State(state): State<AppState>,
    agent: Agent,
    Path(scope): Path<Scope>,
    Query(query): Query<ListQuery>,
) -> Result<Json<SubscriptionList>, GoaError> {
    let paging = Paging::read(query.page_size, query.next_page_token.as_deref())?;
    fresh(&state, agent.tenant(), INVENTORY, READS).await?;
    let filter = SubscriptionFilter {
        service_id: Some(scope.service_id),
        plan_id: query.product_tier_id,
        ..Default::default()
    };
    let inactive = query.include_inactive.unwrap_or(false);
    let mut kept = Vec::new();
    let mut after = paging.after;
    // Ended subscriptions are skipped unless asked for; read on until the page is full.
    loop {
        let rows = subscriptions::list(
            &state.pool,
            agent.tenant().as_str(),
            &filter,
            after,
            paging.limit + 1,
        )
        .await?;
        let exhausted = rows.len() as i64 <= paging.limit;
        after = rows.last().map(|r| r.id);
        kept.extend(
            rows.into_iter()
                .filter(|r| inactive || !["terminated", "cancelled"].contains(&r.status.as_str())),
        );
        if exhausted || kept.len() as i64 > paging.limit {
            break;
        }
    }
    let (rows, next_page_token) = paging.page(kept, |r| r.id);
    let mut lookup = Lookup::new(&state.pool, agent.tenant().as_str());
    let mut shaped = Vec::with_capacity(rows.len());
    for row in &rows {
        shaped.push(Subscription::of(row, &mut lookup).await?);
    }
    Ok(Json(SubscriptionList {
        ids: shaped.iter().map(|s| s.id.clone()).collect(),
        next_page_token,
        subscriptions: shaped,
    }))
}

async fn describe(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<ItemPath>,
) -> Result<Json<Subscription>, GoaError> {
    let uuid = native(prefix::SUBSCRIPTION, "subscription", &path.id)?;
    fresh(&state, agent.tenant(), INVENTORY, READS).await?;
    let row = subscriptions::get(&state.pool, agent.tenant().as_str(), uuid)
        .await?
        .filter(|r| r.service_id == path.service_id)
        .ok_or_else(|| GoaError::not_found("subscription", &path.id))?;
    let mut lookup = Lookup::new(&state.pool, agent.tenant().as_str());
    Ok(Json(Subscription::of(&row, &mut lookup).await?))
}

/// The billing settings of CreateSubscriptionOnBehalfOfCustomer, UpdateSubscription and
/// UpdateSubscriptions. Custom prices belong to the price book here, not to a subscription.
#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Billing {
    /// Instances are never refused for want of a payment profile here: only true is taken.
    allow_creates_when_payment_not_configured: Option<bool>,
    /// STRIPE or BRING_YOUR_OWN: payments are recorded directly either way.
    billing_provider: Option<String>,
    custom_price: Option<bool>,
    custom_price_per_unit: Option<serde_json::Value>,
    external_payer_id: Option<String>,
    /// -1 removes the cap.
    max_number_of_instances: Option<i64>,
    price_effective_date: Option<String>,
}

impl Billing {
    fn check(&self) -> Result<(), GoaError> {
        if self.allow_creates_when_payment_not_configured == Some(false) {
            return Err(GoaError::field(
                "allowCreatesWhenPaymentNotConfigured",
                "only true is supported: instances are never refused for want of a payment profile",
            ));
        }
        if let Some(provider) = &self.billing_provider {
            if !["STRIPE", "BRING_YOUR_OWN"].contains(&provider.as_str()) {
                return Err(GoaError::field(
                    "billingProvider",
                    "must be STRIPE or BRING_YOUR_OWN",
                ));
            }
        }
        let custom = self.custom_price == Some(true)
            || self.custom_price_per_unit.is_some()
            || self.price_effective_date.is_some();
        if custom {
            return Err(GoaError::field(
                "customPrice",
                "custom prices are set in the price book (PUT /v1/price-book), not on a subscription",
            ));
        }
        Ok(())
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Create {
    on_behalf_of_customer_user_id: String,
    product_tier_id: String,
    #[serde(flatten)]
    billing: Billing,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Created {
    id: String,
}

/// A subscription of the user's customer to the path's service on the tier, owned by the user.
async fn create(
    State(state): State<AppState>,
    agent: Agent,
    Path(scope): Path<Scope>,
    Body(body): Body<Create>,
) -> Result<Json<Created>, GoaError> {
    agent.require(Permission::ManageAccounts)?;
    body.billing.check()?;
    let user_id = native_in(
        prefix::USER,
        "onBehalfOfCustomerUserId",
        &body.on_behalf_of_customer_user_id,
    )?
    .to_string();
    let user = state
        .bus
        .state::<User>(agent.tenant(), &user_id)
        .await
        .map_err(|e| GoaError::Unavailable(e.to_string()))?;
    let Some(customer_id) = user
        .customer_id
        .filter(|_| user.status != fleet_domain::user::UserStatus::Deleted)
    else {
        return Err(GoaError::field(
            "onBehalfOfCustomerUserId",
            format!(
                "{} is not a user of this tenant",
                body.on_behalf_of_customer_user_id
            ),
        ));
    };
    fleet_app::policies::active_customer(&state, agent.tenant(), "customer", &customer_id).await?;
    let granted = Granted {
        marketplace: Some(Marketplace::Direct),
        max_instances: body.billing.max_number_of_instances,
        external_payer_id: body.billing.external_payer_id,
        owner_user_id: Some(user_id),
        ..Default::default()
    };
    let terms = granted
        .fix(customer_id, scope.service_id, body.product_tier_id)
        .map_err(|e| match GoaError::from(e) {
            GoaError::BadRequest(reason) => GoaError::BadRequest(
                reason
                    .replace("max_instances", "maxNumberOfInstances")
                    .replace("plan_id", "productTierId")
                    .replace("external_payer_id", "externalPayerId"),
            ),
            other => other,
        })?;
    let new_id = Uuid::now_v7().to_string();
    let executed = state
        .bus
        .execute_on_new::<Sub>(
            agent.meta(),
            &new_id,
            SubscriptionCommand::Create {
                terms,
                request_id: None,
            },
        )
        .await?;
    applied(&state, INVENTORY, executed.event.sequence).await?;
    Ok(Json(Created {
        id: id(prefix::SUBSCRIPTION, new_id),
    }))
}

fn changes(billing: &Billing) -> SubscriptionChanges {
    SubscriptionChanges {
        max_instances: billing.max_number_of_instances,
        external_payer_id: billing.external_payer_id.clone(),
        ..Default::default()
    }
}

async fn update(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<ItemPath>,
    Body(body): Body<Billing>,
) -> Result<Done, GoaError> {
    agent.require(Permission::ManageAccounts)?;
    body.check()?;
    let uuid = scoped(&state, &agent, &path).await?;
    update_one(&state, &agent, &uuid, &path.id, &body).await?;
    Ok(Done)
}

async fn update_one(
    state: &AppState,
    agent: &Agent,
    uuid: &str,
    shown: &str,
    billing: &Billing,
) -> Result<(), GoaError> {
    fleet_app::subscriptions::update_subscription(state, agent.meta(), uuid, changes(billing))
        .await
        .map_err(|e| GoaError::failed(e, "subscription", shown))
        .map_err(|e| match e {
            GoaError::BadRequest(reason) => {
                GoaError::BadRequest(reason.replace("max_instances", "maxNumberOfInstances"))
            }
            other => other,
        })?;
    Ok(())
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct UpdateMany {
    #[serde(rename = "subscriptionIDs")]
    subscription_ids: Vec<String>,
    #[serde(flatten)]
    billing: Billing,
}

/// The same change to each subscription, each its own command. Every id is checked before
/// any is changed, so an unknown id changes nothing.
async fn update_many(
    State(state): State<AppState>,
    agent: Agent,
    Path(scope): Path<Scope>,
    Body(body): Body<UpdateMany>,
) -> Result<Done, GoaError> {
    agent.require(Permission::ManageAccounts)?;
    body.billing.check()?;
    if body.subscription_ids.is_empty() || body.subscription_ids.len() > 100 {
        return Err(GoaError::field("subscriptionIDs", "must hold 1 to 100 ids"));
    }
    let mut targets = Vec::with_capacity(body.subscription_ids.len());
    for shown in &body.subscription_ids {
        let path = ItemPath {
            service_id: scope.service_id.clone(),
            environment_id: scope.environment_id.clone(),
            id: shown.clone(),
        };
        targets.push((scoped(&state, &agent, &path).await?, shown));
    }
    for (uuid, shown) in targets {
        update_one(&state, &agent, &uuid, shown, &body.billing).await?;
    }
    Ok(Done)
}

async fn lifecycle(
    state: &AppState,
    agent: &Agent,
    path: &ItemPath,
    command: SubscriptionCommand,
) -> Result<Done, GoaError> {
    agent.require(Permission::ManageAccounts)?;
    let uuid = scoped(state, agent, path).await?;
    state
        .bus
        .execute::<Sub>(agent.meta(), &uuid, command)
        .await
        .map_err(|e| GoaError::refused(e, "subscription", &path.id))?;
    Ok(Done)
}

async fn suspend(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<ItemPath>,
) -> Result<Done, GoaError> {
    let command = SubscriptionCommand::Suspend {
        reason: "suspended by the service provider".into(),
    };
    lifecycle(&state, &agent, &path, command).await
}

async fn resume(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<ItemPath>,
) -> Result<Done, GoaError> {
    lifecycle(&state, &agent, &path, SubscriptionCommand::Resume).await
}

async fn terminate(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<ItemPath>,
) -> Result<Done, GoaError> {
    let command = SubscriptionCommand::Terminate { reason: None };
    lifecycle(&state, &agent, &path, command).await
}

#[derive(Deserialize, schemars::JsonSchema)]
struct RequestQuery {
    /// PENDING, APPROVED, DENIED or CANCELLED.
    status: Option<String>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct RequestList {
    ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
    subscription_requests: Vec<RequestShape>,
}

async fn list_requests(
    State(state): State<AppState>,
    agent: Agent,
    Path(scope): Path<Scope>,
    Query(query): Query<RequestQuery>,
) -> Result<Json<RequestList>, GoaError> {
    let status = match query.status.as_deref() {
        None => None,
        Some(s @ ("PENDING" | "APPROVED" | "DENIED" | "CANCELLED")) => Some(s.to_ascii_lowercase()),
        Some(_) => {
            return Err(GoaError::field(
                "status",
                "must be PENDING, APPROVED, DENIED or CANCELLED",
            ))
        }
    };
    fresh(&state, agent.tenant(), INVENTORY, READS).await?;
    let rows = requests::list(
        &state.pool,
        agent.tenant().as_str(),
        status.as_deref(),
        None,
        None,
        1000,
    )
    .await?;
    let mut lookup = Lookup::new(&state.pool, agent.tenant().as_str());
    let mut shaped = Vec::new();
    for row in rows.iter().filter(|r| r.service_id == scope.service_id) {
        shaped.push(RequestShape::of(row, &mut lookup).await?);
    }
    Ok(Json(RequestList {
        ids: shaped.iter().map(|r| r.id.clone()).collect(),
        next_page_token: None,
        subscription_requests: shaped,
    }))
}

async fn describe_request(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<ItemPath>,
) -> Result<Json<RequestShape>, GoaError> {
    let uuid = native(prefix::REQUEST, "subscription request", &path.id)?;
    fresh(&state, agent.tenant(), INVENTORY, READS).await?;
    let row = requests::get(&state.pool, agent.tenant().as_str(), uuid)
        .await?
        .filter(|r| r.service_id == path.service_id)
        .ok_or_else(|| GoaError::not_found("subscription request", &path.id))?;
    let mut lookup = Lookup::new(&state.pool, agent.tenant().as_str());
    Ok(Json(RequestShape::of(&row, &mut lookup).await?))
}

/// The request's native id, once its history shows it is for the path's service.
async fn scoped_request(
    state: &AppState,
    agent: &Agent,
    path: &ItemPath,
) -> Result<String, GoaError> {
    agent.require(Permission::ManageAccounts)?;
    let uuid = native(prefix::REQUEST, "subscription request", &path.id)?.to_string();
    let request = state
        .bus
        .state::<SubscriptionRequest>(agent.tenant(), &uuid)
        .await
        .map_err(|e| GoaError::Unavailable(e.to_string()))?;
    match request.requested {
        Some(r) if r.service_id == path.service_id => Ok(uuid),
        _ => Err(GoaError::not_found("subscription request", &path.id)),
    }
}

/// Approves without terms: the subscription has none (no trial that would suspend it).
async fn approve_request(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<ItemPath>,
) -> Result<Done, GoaError> {
    let uuid = scoped_request(&state, &agent, &path).await?;
    fleet_app::subscriptions::approve_request(&state, agent.meta(), &uuid, Granted::default())
        .await
        .map_err(|e| GoaError::failed(e, "subscription request", &path.id))?;
    Ok(Done)
}

async fn deny_request(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<ItemPath>,
) -> Result<Done, GoaError> {
    let uuid = scoped_request(&state, &agent, &path).await?;
    let deny = SubscriptionRequestCommand::Deny {
        reason: "denied by the service provider".into(),
    };
    state
        .bus
        .execute::<SubscriptionRequest>(agent.meta(), &uuid, deny)
        .await
        .map_err(|e| GoaError::refused(e, "subscription request", &path.id))?;
    Ok(Done)
}
