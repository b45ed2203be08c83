//! `/v1/subscriptions`: on which terms customers consume services.

use aide::axum::routing::{get_with, post_with};
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use fleet_domain::subscription::SubscriptionStatus;
use fleet_domain::subscription::{
    Subscription, SubscriptionChanges, SubscriptionCommand, SubscriptionTerms,
};
use fleet_domain::vocabulary::{Marketplace, Terms};
use fleet_domain::Aggregate;
use fleet_projections::inventory::subscriptions::{self, SubscriptionFilter, SubscriptionRow};
use fleet_projections::inventory::NAME as INVENTORY;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::{Caller, Permission};
use crate::docs::summary;
use crate::extract::{ApiJson, ApiQuery, ReadPosition};
use crate::pagination::{self, Page};
use crate::routes::commands::{action, action_with_optional, reply, Accepted, Exposed, Reply};
use crate::routes::{
    history_as_of, history_route, parse_id, run, wait_for_position, AsOf, Issuer, Target,
};
use crate::{ApiError, AppState};
use fleet_app::command_bus::Executed;
use fleet_app::policies;
use fleet_app::subscriptions::{update_subscription, Granted};
use fleet_app::AppError;

pub const MAX_BULK: usize = 500;

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/subscriptions/{id}/events",
            history_route::<Subscription>(),
        )
        .api_route(
            "/subscriptions",
            post_with(
                create_subscription,
                summary("Create a subscription on behalf of a customer"),
            )
            .get_with(list_subscriptions, summary("List subscriptions")),
        )
        .api_route(
            "/subscriptions/bulk-update",
            post_with(
                bulk_update_subscriptions,
                summary("Apply one change to many subscriptions, one event each"),
            ),
        )
        .api_route(
            "/subscriptions/{id}",
            get_with(
                get_subscription,
                summary("Get a subscription with its live instance count"),
            )
            .patch_with(
                patch_subscription,
                summary("Change plan, limits, payer or payment profile"),
            ),
        )
        .api_route(
            "/subscriptions/{id}/convert-to-paid",
            action_with_optional::<Subscription, ConvertToPaid>(
                "trial -> paid (needs a payment profile); resumes an expired trial",
                |body| {
                    Ok(SubscriptionCommand::ConvertToPaid {
                        payment_profile_id: body.payment_profile_id,
                    })
                },
            ),
        )
        .api_route(
            "/subscriptions/{id}/suspend",
            action_with_optional::<Subscription, Reason>("active -> suspended", |body| {
                Ok(SubscriptionCommand::Suspend {
                    reason: body
                        .reason
                        .unwrap_or_else(|| "suspended by the provider".into()),
                })
            }),
        )
        .api_route(
            "/subscriptions/{id}/resume",
            action::<Subscription>("suspended -> active (not after a trial expired)", || {
                SubscriptionCommand::Resume
            }),
        )
        .api_route(
            "/subscriptions/{id}/terminate",
            action_with_optional::<Subscription, Reason>(
                "Provider ends it; its live instances are deleted",
                |body| {
                    Ok(SubscriptionCommand::Terminate {
                        reason: body.reason,
                    })
                },
            ),
        )
        .api_route(
            "/subscriptions/{id}/cancel",
            action_with_optional::<Subscription, Reason>(
                "Customer ends it; its live instances are deleted",
                |body| {
                    Ok(SubscriptionCommand::Cancel {
                        reason: body.reason,
                        now: chrono::Utc::now(),
                    })
                },
            ),
        )
        .with_path_items(|item| item.tag("subscriptions"))
}
#[derive(Serialize, schemars::JsonSchema)]
pub struct SubscriptionState {
    id: String,
    status: SubscriptionStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    suspension_reason: Option<String>,
    #[serde(flatten)]
    terms: Option<SubscriptionTerms>,
    position: u64,
    event_type: String,
}

impl Exposed for Subscription {
    type View = SubscriptionState;
    const PERMISSION: Permission = Permission::ManageAccounts;
    const COLLECTION: &'static str = "/v1/subscriptions";

    fn view(executed: Executed<Subscription>) -> SubscriptionState {
        SubscriptionState {
            id: executed.event.event.aggregate_id,
            status: executed.state.status,
            suspension_reason: executed.state.suspension_reason,
            terms: executed.state.terms,
            position: executed.event.sequence,
            event_type: executed.event.event.event_type,
        }
    }
}

/// A subscription as the inventory has it, or (with `as_of`) as its history had it then.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum SubscriptionAnswer {
    Current(SubscriptionRow),
    AsOf(SubscriptionState),
}

/// The terms a subscription is created or approved with; shared with subscription requests.
#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantedTerms {
    terms: Option<Terms>,
    marketplace: Option<Marketplace>,
    max_instances: Option<i64>,
    trial_days: Option<i64>,
    external_payer_id: Option<String>,
    payment_profile_id: Option<String>,
}

impl From<GrantedTerms> for Granted {
    fn from(g: GrantedTerms) -> Self {
        Self {
            terms: g.terms,
            marketplace: g.marketplace,
            max_instances: g.max_instances,
            trial_days: g.trial_days,
            external_payer_id: g.external_payer_id,
            payment_profile_id: g.payment_profile_id,
            owner_user_id: None,
        }
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct CreateSubscription {
    customer_id: String,
    service_id: String,
    plan_id: String,
    terms: Option<Terms>,
    marketplace: Option<Marketplace>,
    max_instances: Option<i64>,
    trial_days: Option<i64>,
    external_payer_id: Option<String>,
    payment_profile_id: Option<String>,
}

async fn create_subscription(
    State(state): State<AppState>,
    issuer: Issuer,
    ApiJson(body): ApiJson<CreateSubscription>,
) -> Result<Accepted<SubscriptionState>, ApiError> {
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
    let terms = Granted::from(granted).fix(customer.to_string(), body.service_id, body.plan_id)?;
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
    Ok(reply::<Subscription, 202>(executed))
}

#[derive(Deserialize, Default, Clone, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct UpdateSubscription {
    plan_id: Option<String>,
    max_instances: Option<i64>,
    external_payer_id: Option<String>,
    payment_profile_id: Option<String>,
    /// Days its instances run on after its trial expires or it is cancelled, before they are
    /// stopped.
    grace_days: Option<i64>,
    /// Days before the trial's end at which its end is announced to subscribers.
    reminder_days: Option<i64>,
}

impl From<UpdateSubscription> for SubscriptionChanges {
    fn from(u: UpdateSubscription) -> Self {
        Self {
            plan_id: u.plan_id,
            max_instances: u.max_instances,
            external_payer_id: u.external_payer_id,
            payment_profile_id: u.payment_profile_id,
            grace_days: u.grace_days,
            reminder_days: u.reminder_days,
            ..Default::default()
        }
    }
}

async fn patch_subscription(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateSubscription>,
) -> Result<Reply<SubscriptionState>, ApiError> {
    issuer.caller.require(Permission::ManageAccounts)?;
    let uuid = parse_id(Subscription::TYPE, &id)?;
    let executed = update_subscription(&state, &issuer.meta, &uuid.to_string(), body.into())
        .await
        .map_err(|e| match e {
            AppError::NotFound(_) => ApiError::NotFound(format!("subscription {id} not found")),
            other => other.into(),
        })?;
    Ok(reply(executed))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct BulkUpdate {
    subscription_ids: Vec<String>,
    changes: UpdateSubscription,
}

/// Each subscription's own result: 200 with its position, or the refusal.
#[derive(Serialize, schemars::JsonSchema)]
pub struct BulkResults {
    results: Vec<BulkResult>,
}

#[derive(Serialize, schemars::JsonSchema)]
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
) -> Result<Reply<BulkResults>, ApiError> {
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
        let changes = body.changes.clone().into();
        let outcome = match parse_id(Subscription::TYPE, id) {
            Ok(uuid) => update_subscription(&state, &item.meta, &uuid.to_string(), changes)
                .await
                .map_err(ApiError::from),
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
    Ok(Reply::new(last_position, BulkResults { results }))
}

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ConvertToPaid {
    payment_profile_id: Option<String>,
}

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Reason {
    reason: Option<String>,
}

/// The subscription from the inventory; with `as_of`, its state then, replayed from the stream.
async fn get_subscription(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<AsOf>,
) -> Result<Json<SubscriptionAnswer>, ApiError> {
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
            status: subscription.status,
            suspension_reason: subscription.suspension_reason,
            terms: subscription.terms,
            position: last.sequence,
            event_type: last.event.event_type.clone(),
        };
        return Ok(Json(SubscriptionAnswer::AsOf(body)));
    }
    wait_for_position(&state, INVENTORY, position).await?;
    subscriptions::get(&state.pool, caller.tenant.as_str(), uuid)
        .await?
        .map(|row| Json(SubscriptionAnswer::Current(row)))
        .ok_or_else(|| ApiError::NotFound(format!("subscription {id} not found")))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListSubscriptions {
    customer_id: Option<String>,
    status: Option<SubscriptionStatus>,
    plan_id: Option<String>,
    service_id: Option<String>,
    terms: Option<Terms>,
    marketplace: Option<Marketplace>,
    page_size: Option<i64>,
    page_token: Option<String>,
}

async fn list_subscriptions(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    ApiQuery(query): ApiQuery<ListSubscriptions>,
) -> Result<Json<Page<SubscriptionRow>>, ApiError> {
    let limit = pagination::page_size(query.page_size)?;
    let after = pagination::decode_token(query.page_token.as_deref())?;
    wait_for_position(&state, INVENTORY, position).await?;
    let filter = SubscriptionFilter {
        customer_id: query.customer_id,
        status: query.status.map(|s| s.as_str().to_owned()),
        plan_id: query.plan_id,
        service_id: query.service_id,
        terms: query.terms.map(|t| t.as_str().to_owned()),
        marketplace: query.marketplace.map(|m| m.as_str().to_owned()),
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
