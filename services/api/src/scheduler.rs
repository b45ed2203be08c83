//! Time-driven transitions. The scheduler reads due deadlines from a read model and issues
//! ordinary commands (actor `system`), so they are decided, audited and replayable like any
//! other; the aggregate re-checks that the deadline really passed. One scheduler runs across
//! all fleetd processes, elected by a PostgreSQL advisory lock.

use std::time::Duration;

use chrono::Utc;
use fleet_domain::subscription::{Subscription, SubscriptionCommand};
use fleet_events::{Actor, Tenant};
use fleet_projections::inventory::subscriptions;
use sqlx::{Connection, PgConnection};
use tokio::sync::watch;

use crate::command_bus::{CommandError, CommandMeta};
use crate::AppState;

const LOCK: &str = "fleet-scheduler";

pub async fn run(state: AppState, interval: Duration, mut shutdown: watch::Receiver<bool>) {
    let mut leadership: Option<PgConnection> = None;
    while !*shutdown.borrow() {
        if leadership.is_none() {
            leadership = try_lead(&state).await;
        } else if let Some(conn) = leadership.as_mut() {
            if conn.ping().await.is_err() {
                leadership = None;
            }
        }
        if leadership.is_some() {
            if let Err(e) = expire_due_trials(&state).await {
                tracing::warn!(error = %e, "expiring due trials");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => {}
        }
    }
    if let Some(conn) = leadership {
        let _ = conn.close().await;
    }
}

async fn try_lead(state: &AppState) -> Option<PgConnection> {
    let mut conn = state.pool.acquire().await.ok()?.detach();
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
        .bind(LOCK)
        .fetch_one(&mut conn)
        .await
        .ok()?;
    if locked {
        tracing::info!("leading the scheduler");
        Some(conn)
    } else {
        let _ = conn.close().await;
        None
    }
}

/// Suspends every active trial whose end has passed.
pub async fn expire_due_trials(state: &AppState) -> Result<usize, sqlx::Error> {
    let now = Utc::now();
    let due = subscriptions::trials_due(&state.pool, now, 500).await?;
    let mut expired = 0;
    for (tenant, id) in due {
        let Ok(tenant) = Tenant::parse(&tenant) else {
            continue;
        };
        let meta = CommandMeta {
            tenant,
            actor: Actor::system("trial-scheduler"),
            correlation_id: uuid::Uuid::now_v7().to_string(),
            causation_id: None,
            idempotency_key: Some(format!("trial-expired:{id}")),
        };
        let command = SubscriptionCommand::ExpireTrial { now };
        match state
            .bus
            .execute::<Subscription>(&meta, &id.to_string(), command)
            .await
        {
            Ok(_) => expired += 1,
            // Converted or ended meanwhile: the read model had not caught up.
            Err(CommandError::Domain(_)) => {}
            Err(e) => tracing::warn!(subscription = %id, error = %e, "expiring a trial"),
        }
    }
    Ok(expired)
}
