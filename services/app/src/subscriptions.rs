//! Changing a subscription's terms: the one change that involves its instances is a cap set
//! on a subscription that had none, which counts the instances live then.

use fleet_domain::subscription::{Subscription, SubscriptionChanges, SubscriptionCommand};
use fleet_domain::Aggregate;
use fleet_events::Tenant;

use crate::command_bus::{CommandMeta, Executed};
use crate::process_managers::subscription_instances;
use crate::{App, AppError};

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
