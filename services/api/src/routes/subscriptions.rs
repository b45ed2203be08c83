//! `/v1/subscriptions`: on which terms customers consume services.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use fleet_domain::subscription::{
    NewSubscription, Subscription, SubscriptionChanges, SubscriptionCommand, SubscriptionTerms,
};
use fleet_domain::Aggregate;
use fleet_projections::inventory::subscriptions::{self, SubscriptionFilter, SubscriptionRow};
use fleet_projections::inventory::NAME as INVENTORY;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::{Caller, Permission};
use crate::extract::{optional_json, ApiJson, ApiQuery, ReadPosition};
use crate::pagination::{self, Page};
use crate::routes::{
    command_response, history_as_of, parse_id, run, wait_for_position, AsOf, Issuer, Target,
};
use crate::{ApiError, AppState};
use fleet_app::command_bus::Executed;
use fleet_app::policies;

pub const MAX_BULK: usize = 500;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/subscriptions/{id}/events",
            crate::routes::history_route::<Subscription>(),
        )
        .route(
            "/subscriptions",
            post(create_subscription).get(list_subscriptions),
        )
        .route(
            "/subscriptions/bulk-update",
            post(bulk_update_subscriptions),
        )
        .route(
            "/subscriptions/{id}",
            get(get_subscription).patch(update_subscription),
        )
        .route(
            "/subscriptions/{id}/convert-to-paid",
            post(convert_subscription_to_paid),
        )
        .route("/subscriptions/{id}/suspend", post(suspend_subscription))
        .route("/subscriptions/{id}/resume", post(resume_subscription))
        .route(
            "/subscriptions/{id}/terminate",
            post(terminate_subscription),
        )
        .route("/subscriptions/{id}/cancel", post(cancel_subscription))
}

#[derive(Serialize)]
struct SubscriptionState {
    id: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    suspension_reason: Option<String>,
    #[serde(flatten)]
    terms: Option<SubscriptionTerms>,
    position: u64,
    event_type: String,
}

fn body_of(executed: Executed<Subscription>) -> SubscriptionState {
    SubscriptionState {
        id: executed.event.event.aggregate_id.clone(),
        status: executed.state.status.as_str(),
        suspension_reason: executed.state.suspension_reason,
        terms: executed.state.terms,
        position: executed.event.sequence,
        event_type: executed.event.event.event_type,
    }
}

fn respond(status: StatusCode, executed: Executed<Subscription>) -> Response {
    let position = executed.event.sequence;
    let body = body_of(executed);
    let location =
        (status == StatusCode::ACCEPTED).then(|| format!("/v1/subscriptions/{}", body.id));
    command_response(status, position, location, body)
}

async fn execute(
    state: &AppState,
    issuer: Issuer,
    id: &str,
    command: SubscriptionCommand,
) -> Result<Response, ApiError> {
    let id = parse_id(Subscription::TYPE, id)?;
    let executed = run::<Subscription>(
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

/// The terms a subscription is created or approved with; shared with subscription requests.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct GrantedTerms {
    terms: Option<String>,
    marketplace: Option<String>,
    max_instances: Option<i64>,
    trial_days: Option<i64>,
    external_payer_id: Option<String>,
    payment_profile_id: Option<String>,
}

impl GrantedTerms {
    /// Validated terms for a subscription of `customer_id` to `service_id` on `plan_id`.
    pub fn fix(
        self,
        customer_id: String,
        service_id: String,
        plan_id: String,
    ) -> Result<SubscriptionTerms, ApiError> {
        let new = NewSubscription {
            customer_id,
            service_id,
            plan_id,
            terms: self.terms.unwrap_or_else(|| "trial".into()),
            marketplace: self.marketplace.unwrap_or_else(|| "direct".into()),
            max_instances: self.max_instances.unwrap_or(-1),
            trial_days: self.trial_days,
            external_payer_id: self.external_payer_id,
            payment_profile_id: self.payment_profile_id,
        };
        Ok(new.terms(Utc::now())?)
    }

    pub fn from_body(body: &[u8]) -> Result<Self, ApiError> {
        optional_json(body)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateSubscription {
    customer_id: String,
    service_id: String,
    plan_id: String,
    terms: Option<String>,
    marketplace: Option<String>,
    max_instances: Option<i64>,
    trial_days: Option<i64>,
    external_payer_id: Option<String>,
    payment_profile_id: Option<String>,
}

async fn create_subscription(
    State(state): State<AppState>,
    issuer: Issuer,
    ApiJson(body): ApiJson<CreateSubscription>,
) -> Result<Response, ApiError> {
    issuer.caller.require(Permission::ManageAccounts)?;
    let customer = policies::active_customer(
        &state,
        &issuer.caller.tenant,
        "customer_id",
        &body.customer_id,
    )
    .await?;
    let granted = GrantedTerms {
        terms: body.terms,
        marketplace: body.marketplace,
        max_instances: body.max_instances,
        trial_days: body.trial_days,
        external_payer_id: body.external_payer_id,
        payment_profile_id: body.payment_profile_id,
    };
    let terms = granted.fix(customer.to_string(), body.service_id, body.plan_id)?;
    let command = SubscriptionCommand::Create {
        terms,
        request_id: None,
    };
    let executed = run::<Subscription>(
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

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct UpdateSubscription {
    plan_id: Option<String>,
    max_instances: Option<i64>,
    external_payer_id: Option<String>,
    payment_profile_id: Option<String>,
}

impl From<UpdateSubscription> for SubscriptionChanges {
    fn from(u: UpdateSubscription) -> Self {
        Self {
            plan_id: u.plan_id,
            max_instances: u.max_instances,
            external_payer_id: u.external_payer_id,
            payment_profile_id: u.payment_profile_id,
        }
    }
}

async fn update_subscription(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateSubscription>,
) -> Result<Response, ApiError> {
    execute(
        &state,
        issuer,
        &id,
        SubscriptionCommand::Update(body.into()),
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkUpdate {
    subscription_ids: Vec<String>,
    changes: UpdateSubscription,
}

#[derive(Serialize)]
struct BulkResult {
    id: String,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    position: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

/// Applies the same change to many subscriptions: each is its own command and event, and
/// each gets its own result; one refusal does not undo the others.
async fn bulk_update_subscriptions(
    State(state): State<AppState>,
    issuer: Issuer,
    ApiJson(body): ApiJson<BulkUpdate>,
) -> Result<Response, ApiError> {
    issuer.caller.require(Permission::ManageAccounts)?;
    if body.subscription_ids.is_empty() || body.subscription_ids.len() > MAX_BULK {
        return Err(ApiError::unprocessable(
            "subscription_ids",
            format!("must hold 1 to {MAX_BULK} ids"),
        ));
    }
    let mut ids = body.subscription_ids.clone();
    ids.sort();
    ids.dedup();
    if ids.len() != body.subscription_ids.len() {
        return Err(ApiError::unprocessable(
            "subscription_ids",
            "must not repeat an id",
        ));
    }
    let mut results = Vec::with_capacity(ids.len());
    let mut last_position = 0;
    for id in &body.subscription_ids {
        // One idempotency key per item, so that a retried bulk call repeats nothing.
        let mut item = Issuer {
            caller: issuer.caller.clone(),
            meta: issuer.meta.clone(),
        };
        item.meta.idempotency_key = issuer
            .meta
            .idempotency_key
            .as_ref()
            .map(|k| format!("{k}:{id}"));
        let command = SubscriptionCommand::Update(body.changes.clone().into());
        let outcome = match parse_id(Subscription::TYPE, id) {
            Ok(uuid) => {
                run::<Subscription>(
                    &state,
                    &item,
                    Permission::ManageAccounts,
                    uuid,
                    Target::Existing,
                    command,
                )
                .await
            }
            Err(e) => Err(e),
        };
        results.push(match outcome {
            Ok(executed) => {
                last_position = last_position.max(executed.event.sequence);
                BulkResult {
                    id: id.clone(),
                    status: 200,
                    position: Some(executed.event.sequence),
                    detail: None,
                }
            }
            Err(e) if e.status().is_server_error() => return Err(e),
            Err(e) => BulkResult {
                id: id.clone(),
                status: e.status().as_u16(),
                position: None,
                detail: Some(e.to_string()),
            },
        });
    }
    #[derive(Serialize)]
    struct Results {
        results: Vec<BulkResult>,
    }
    Ok(command_response(
        StatusCode::OK,
        last_position,
        None,
        Results { results },
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConvertToPaid {
    payment_profile_id: Option<String>,
}

async fn convert_subscription_to_paid(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: ConvertToPaid = optional_json(&body)?;
    let command = SubscriptionCommand::ConvertToPaid {
        payment_profile_id: body.payment_profile_id,
    };
    execute(&state, issuer, &id, command).await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Reason {
    reason: Option<String>,
}

async fn suspend_subscription(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: Reason = optional_json(&body)?;
    let command = SubscriptionCommand::Suspend {
        reason: body
            .reason
            .unwrap_or_else(|| "suspended by the provider".into()),
    };
    execute(&state, issuer, &id, command).await
}

async fn resume_subscription(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    execute(&state, issuer, &id, SubscriptionCommand::Resume).await
}

async fn terminate_subscription(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: Reason = optional_json(&body)?;
    let command = SubscriptionCommand::Terminate {
        reason: body.reason,
    };
    execute(&state, issuer, &id, command).await
}

async fn cancel_subscription(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: Reason = optional_json(&body)?;
    let command = SubscriptionCommand::Cancel {
        reason: body.reason,
    };
    execute(&state, issuer, &id, command).await
}

/// The subscription from the inventory; with `as_of`, its state then, replayed from the stream.
async fn get_subscription(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<AsOf>,
) -> Result<Response, ApiError> {
    let uuid = parse_id(Subscription::TYPE, &id)?;
    if let Some(as_of) = query.as_of {
        let events = history_as_of::<Subscription>(&state, &caller, &id, as_of).await?;
        let mut subscription = Subscription::default();
        for envelope in &events {
            let event = envelope
                .decode()
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            subscription.evolve(&event);
        }
        let last = events.last().expect("history_as_of is never empty");
        let body = SubscriptionState {
            id: uuid.to_string(),
            status: subscription.status.as_str(),
            suspension_reason: subscription.suspension_reason,
            terms: subscription.terms,
            position: last.sequence,
            event_type: last.event.event_type.clone(),
        };
        return Ok(Json(body).into_response());
    }
    wait_for_position(&state, INVENTORY, position).await?;
    subscriptions::get(&state.pool, caller.tenant.as_str(), uuid)
        .await?
        .map(|row| Json(row).into_response())
        .ok_or_else(|| ApiError::NotFound(format!("subscription {id} not found")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListSubscriptions {
    customer_id: Option<String>,
    status: Option<String>,
    plan_id: Option<String>,
    service_id: Option<String>,
    terms: Option<String>,
    marketplace: Option<String>,
    page_size: Option<i64>,
    page_token: Option<String>,
}

async fn list_subscriptions(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    ApiQuery(query): ApiQuery<ListSubscriptions>,
) -> Result<Json<Page<SubscriptionRow>>, ApiError> {
    let statuses = ["active", "suspended", "terminated", "cancelled"];
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
    let filter = SubscriptionFilter {
        customer_id: query.customer_id,
        status: query.status,
        plan_id: query.plan_id,
        service_id: query.service_id,
        terms: query.terms,
        marketplace: query.marketplace,
    };
    let rows = subscriptions::list(
        &state.pool,
        caller.tenant.as_str(),
        &filter,
        after,
        limit + 1,
    )
    .await?;
    Ok(Json(Page::from_rows(rows, limit, |r| r.id)))
}
