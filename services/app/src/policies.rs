//! Rules that cross aggregates. An aggregate decides alone; these checks gather what it cannot
//! see (another aggregate's state, a count from a read model) before its command is issued.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use fleet_domain::customer::Customer;
use fleet_domain::subscription::Subscription;
use fleet_domain::user::{User, UserStatus};
use fleet_domain::Aggregate;
use fleet_events::Tenant;
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

/// The customer's subscriptions that have not ended, as of everything recorded so far.
pub async fn live_subscriptions_of(
    state: &App,
    tenant: &Tenant,
    customer_id: Uuid,
) -> Result<Vec<String>, AppError> {
    state
        .caught_up_on(tenant, Subscription::TYPE, inventory::NAME)
        .await?;
    Ok(
        subscriptions::live_of_customer(&state.pool, tenant.as_str(), &customer_id.to_string())
            .await?,
    )
}
