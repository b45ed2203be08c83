//! Rules that cross aggregates. An aggregate decides alone; these checks gather what it cannot
//! see (another aggregate's state, a count from a read model) before its command is issued.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use fleet_domain::customer::Customer;
use fleet_domain::subscription::{Subscription, SubscriptionStatus};
use fleet_domain::user::{User, UserStatus};
use fleet_domain::Aggregate;
use fleet_events::{EventLog, Tenant};
use fleet_projections::checkpoint;
use fleet_projections::inventory::{self, subscriptions};
use sqlx::{Postgres, Transaction};
use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

use crate::{App, AppError};

/// Loads an aggregate from the stream (not a read model): the current truth.
pub async fn load<A: Aggregate>(state: &App, tenant: &Tenant, id: &str) -> Result<A, AppError> {
    let subject = state.bus.subject::<A>(tenant, id);
    let (aggregate, _) = state
        .bus
        .load::<A>(&subject)
        .await
        .map_err(|e| AppError::Unavailable(e.to_string()))?;
    Ok(aggregate)
}

/// A customer that exists and is not deleted, named by a body field.
pub async fn active_customer(
    state: &App,
    tenant: &Tenant,
    field: &str,
    customer_id: &str,
) -> Result<Uuid, AppError> {
    let id = Uuid::parse_str(customer_id)
        .map_err(|_| AppError::unprocessable(field, "is not a customer of this tenant"))?;
    let customer = load::<Customer>(state, tenant, &id.to_string()).await?;
    if !customer.exists() {
        return Err(AppError::unprocessable(
            field,
            "is not a customer of this tenant",
        ));
    }
    if customer.deleted {
        return Err(AppError::Conflict {
            detail: format!("customer {id} is deleted"),
            current_state: Some("deleted".into()),
        });
    }
    Ok(id)
}

/// A user that belongs to `customer_id` and is not deleted.
pub async fn user_of_customer(
    state: &App,
    tenant: &Tenant,
    field: &str,
    user_id: &str,
    customer_id: &str,
) -> Result<Uuid, AppError> {
    let not_theirs = || AppError::unprocessable(field, "is not a user of this customer");
    let id = Uuid::parse_str(user_id).map_err(|_| not_theirs())?;
    let user = load::<User>(state, tenant, &id.to_string()).await?;
    if user.customer_id.as_deref() != Some(customer_id) || user.status == UserStatus::Deleted {
        return Err(not_theirs());
    }
    Ok(id)
}

/// Permission to create an instance under a subscription, held until the instance is
/// recorded: for a capped subscription, a PostgreSQL advisory lock serialises the creations
/// under it across all fleetd processes, so the count it checked stays true.
pub struct Admission {
    pub subscription_id: String,
    pub customer_id: String,
    lock: Option<(OwnedMutexGuard<()>, Transaction<'static, Postgres>)>,
}

impl Admission {
    pub async fn release(self) -> Result<(), AppError> {
        if let Some((_queue, lock)) = self.lock {
            lock.commit().await?;
        }
        Ok(())
    }
}

/// In-process queues per key, so that requests waiting for the same PostgreSQL advisory lock
/// wait here without holding a pooled connection each.
#[derive(Clone, Default)]
pub struct KeyedLocks {
    locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl KeyedLocks {
    pub async fn lock(&self, key: &str) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().expect("poisoned");
            if locks.len() > 10_000 {
                locks.retain(|_, lock| Arc::strong_count(lock) > 1);
            }
            locks.entry(key.to_owned()).or_default().clone()
        };
        lock.lock_owned().await
    }
}

/// An instance may only be created under an active subscription of the caller's tenant, and
/// not beyond its `max_instances`.
pub async fn admit_instance(
    state: &App,
    tenant: &Tenant,
    subscription_id: &str,
    customer_id: Option<&str>,
) -> Result<Admission, AppError> {
    let unknown =
        || AppError::unprocessable("subscription_id", "is not a subscription of this tenant");
    let id = Uuid::parse_str(subscription_id).map_err(|_| unknown())?;
    let subscription = state
        .bus
        .state::<Subscription>(tenant, &id.to_string())
        .await
        .map_err(|e| AppError::Unavailable(e.to_string()))?;
    let Some(terms) = &subscription.terms else {
        return Err(unknown());
    };
    if subscription.status != SubscriptionStatus::Active {
        let status = subscription.status.as_str();
        return Err(AppError::Conflict {
            detail: format!(
                "subscription {id} is {status}: instances are created under active subscriptions only"
            ),
            current_state: Some(status.into()),
        });
    }
    if customer_id.is_some_and(|c| c != terms.customer_id) {
        return Err(AppError::unprocessable(
            "customer_id",
            format!("must be the subscription's customer, {}", terms.customer_id),
        ));
    }
    let mut admission = Admission {
        subscription_id: id.to_string(),
        customer_id: terms.customer_id.clone(),
        lock: None,
    };
    if terms.max_instances < 0 {
        return Ok(admission);
    }
    let (queue, mut lock) =
        serialise(state, &format!("instances-of-subscription:{tenant}:{id}")).await?;
    // Whoever held the lock before us has appended its instance: count it too. The wait and
    // the count use the locked connection, so queued requests need no second one.
    let end = stream_end(&state.log).await?;
    wait_on(state, &mut lock, inventory::NAME, end).await?;
    let live =
        subscriptions::live_instance_count(&mut *lock, tenant.as_str(), &admission.subscription_id)
            .await?;
    if live >= terms.max_instances {
        return Err(AppError::Conflict {
            detail: format!(
                "subscription {id} allows at most {} live instances (max_instances) and has {live}",
                terms.max_instances
            ),
            current_state: None,
        });
    }
    admission.lock = Some((queue, lock));
    Ok(admission)
}

/// Serialises work on `key` across all fleetd processes until the returned transaction ends:
/// waiters queue in-process first, so they hold no pooled connection, then take a PostgreSQL
/// advisory lock.
pub async fn serialise(
    state: &App,
    key: &str,
) -> Result<(OwnedMutexGuard<()>, Transaction<'static, Postgres>), AppError> {
    let queue = state.locks.lock(key).await;
    let mut lock = state.pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(key)
        .execute(&mut *lock)
        .await?;
    Ok((queue, lock))
}

/// The position of the last event of `log`.
pub async fn stream_end(log: &fleet_events::jetstream::JetStreamLog) -> Result<u64, AppError> {
    log.last_sequence()
        .await
        .map_err(|e| AppError::Unavailable(e.to_string()))
}

/// Waits, on a connection the caller holds, until `projection` has applied `position`.
pub async fn wait_on(
    state: &App,
    conn: &mut sqlx::PgConnection,
    projection: &str,
    position: u64,
) -> Result<(), AppError> {
    if checkpoint::wait_for_on(conn, projection, position, state.settings.read_wait).await? {
        Ok(())
    } else {
        Err(AppError::Unavailable(format!(
            "the {projection} read model has not reached position {position} yet; retry shortly"
        )))
    }
}

/// The customer's subscriptions that have not ended, as of everything recorded so far.
pub async fn live_subscriptions_of(
    state: &App,
    tenant: &Tenant,
    customer_id: Uuid,
) -> Result<Vec<String>, AppError> {
    state
        .positions
        .wait_for_end(&state.log, inventory::NAME, state.settings.read_wait)
        .await?;
    Ok(
        subscriptions::live_of_customer(&state.pool, tenant.as_str(), &customer_id.to_string())
            .await?,
    )
}
