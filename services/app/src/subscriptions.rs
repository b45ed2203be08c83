//! Granting and changing a subscription's terms. The one change that involves its instances
//! is a cap set on a subscription that had none, which counts the instances live then.

use chrono::Utc;
use fleet_domain::subscription::{
    NewSubscription, Subscription, SubscriptionChanges, SubscriptionCommand, SubscriptionTerms,
};
use fleet_domain::subscription_request::{SubscriptionRequest, SubscriptionRequestCommand};
use fleet_domain::vocabulary::{Marketplace, Terms};
use fleet_domain::Aggregate;
use fleet_events::Tenant;
use uuid::Uuid;

use crate::command_bus::{CommandMeta, Executed};
use crate::process_managers::subscription_instances;
use crate::{App, AppError};

/// The terms a subscription is created or approved with, each optional.
#[derive(Debug, Clone, Default)]
pub struct Granted {
    pub terms: Option<Terms>,
    pub marketplace: Option<Marketplace>,
    pub max_instances: Option<i64>,
    pub trial_days: Option<i64>,
    pub external_payer_id: Option<String>,
    pub payment_profile_id: Option<String>,
    pub owner_user_id: Option<String>,
}

impl Granted {
    /// Validated terms for a subscription of `customer_id` to `service_id` on `plan_id`.
    ///
    /// Granted without terms, a subscription has none, unless trial days say it is a trial:
    /// it is never put on a trial (and later suspended) that no one asked for.
    pub fn fix(
        self,
        customer_id: String,
        service_id: String,
        plan_id: String,
    ) -> Result<SubscriptionTerms, AppError> {
        let terms = self.terms.unwrap_or(if self.trial_days.is_some() {
            Terms::Trial
        } else {
            Terms::Neither
        });
        let new = NewSubscription {
            customer_id,
            service_id,
            plan_id,
            terms: terms.as_str().into(),
            marketplace: self
                .marketplace
                .unwrap_or(Marketplace::Direct)
                .as_str()
                .into(),
            max_instances: self.max_instances.unwrap_or(-1),
            trial_days: self.trial_days,
            external_payer_id: self.external_payer_id,
            payment_profile_id: self.payment_profile_id,
            owner_user_id: self.owner_user_id,
        };
        Ok(new.terms(Utc::now())?)
    }
}

/// Approves subscription request `id` with `granted`; the subscription is created for the
/// user who asked, by a process manager reacting to the approval, exactly once.
pub async fn approve_request(
    app: &App,
    meta: &CommandMeta,
    id: &str,
    granted: Granted,
) -> Result<Executed<SubscriptionRequest>, AppError> {
    let request = crate::policies::load::<SubscriptionRequest>(app, &meta.tenant, id).await?;
    let Some(requested) = request.requested else {
        return Err(AppError::NotFound(format!(
            "subscription request {id} not found"
        )));
    };
    let granted = Granted {
        owner_user_id: granted.owner_user_id.or(requested.requested_by_user_id),
        ..granted
    };
    let subscription = granted.fix(
        requested.customer_id,
        requested.service_id,
        requested.plan_id,
    )?;
    let approve = SubscriptionRequestCommand::Approve {
        subscription_id: Uuid::now_v7().to_string(),
        subscription,
    };
    Ok(app
        .bus
        .execute::<SubscriptionRequest>(meta, id, approve)
        .await?)
}

/// Applies `changes` to subscription `id`.
pub async fn update_subscription(
    app: &App,
    meta: &CommandMeta,
    id: &str,
    mut changes: SubscriptionChanges,
) -> Result<Executed<Subscription>, AppError> {
    if changes.max_instances.is_some_and(|max| max >= 0) {
        let current = app.bus.state::<Subscription>(&meta.tenant, id).await?;
        if current.terms.as_ref().is_some_and(|t| t.max_instances < 0) {
            changes.counted_instances = Some(live_instances(app, &meta.tenant, id).await?);
        }
    }
    let update = SubscriptionCommand::Update(changes);
    Ok(app.bus.execute::<Subscription>(meta, id, update).await?)
}

/// The live instances of a subscription, as the subscription-instances process manager knows
/// them once it has every instance event of the tenant recorded so far.
async fn live_instances(app: &App, tenant: &Tenant, id: &str) -> Result<Vec<String>, AppError> {
    app.caught_up_on(
        tenant,
        fleet_domain::instance::Instance::TYPE,
        subscription_instances::NAME,
    )
    .await?;
    Ok(sqlx::query_scalar(
        "SELECT instance_id FROM ended_subscriptions.live_instances
         WHERE tenant = $1 AND subscription_id = $2 ORDER BY instance_id",
    )
    .bind(tenant.as_str())
    .bind(id)
    .fetch_all(&app.pool)
    .await?)
}
