//! Time-driven transitions. The scheduler reads due deadlines from a read model and issues
//! ordinary commands (actor `system`), so they are decided, audited and replayable like any
//! other; the aggregate re-checks that the deadline really passed. One scheduler runs across
//! all fleetd processes, elected by a PostgreSQL advisory lock.
//!
//! - Trials whose end has passed are suspended; trials whose end is near are announced.
//! - Graces that are over (after an expiry or a cancellation) are ended, which stops the
//!   subscription's instances.
//! - Scheduled upgrade paths whose date came are released; paths paused for more than a day
//!   are cancelled.
//! - When configured, every customer with usage in the month just ended gets a draft invoice
//!   for it, once: a customer who already has an invoice of that month (even a deleted or void
//!   one, which finance chose to remove) is left alone.

use std::time::Duration;

use chrono::{Datelike, Months, NaiveTime, Utc};
use fleet_domain::invoice::Period;
use fleet_domain::subscription::{Subscription, SubscriptionCommand};
use fleet_events::{Actor, Tenant};
use fleet_projections::inventory::subscriptions;
use fleet_projections::invoices;
use sqlx::{Connection, PgConnection};
use tokio::sync::watch;

use crate::command_bus::{CommandError, CommandMeta};
use crate::invoicing::generate_invoice;
use crate::{App, AppError};

const LOCK: &str = "fleet-scheduler";

#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    /// How often due work is looked for.
    pub interval: Duration,
    /// Draft the invoices of a month this long after it ends; `None`: invoices are only made
    /// on request.
    pub monthly_invoices_after: Option<chrono::Duration>,
}

pub async fn run(state: App, settings: SchedulerSettings, mut shutdown: watch::Receiver<bool>) {
    let interval = settings.interval;
    let mut ticks: u64 = 0;
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
            if let Err(e) = announce_due_trial_ends(&state).await {
                tracing::warn!(error = %e, "announcing trials' ends");
            }
            if let Err(e) = end_due_graces(&state).await {
                tracing::warn!(error = %e, "ending graces");
            }
            if let Err(e) = roll_due_upgrade_paths(&state).await {
                tracing::warn!(error = %e, "releasing and expiring upgrade paths");
            }
            // The monthly run scans a month of usage: every tenth tick is often enough.
            if let Some(after) = settings
                .monthly_invoices_after
                .filter(|_| ticks.is_multiple_of(MONTHLY_RUN_EVERY))
            {
                if let Err(e) = draft_monthly_invoices(&state, after).await {
                    tracing::warn!(error = %e, "drafting monthly invoices");
                }
            }
            ticks += 1;
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

async fn try_lead(state: &App) -> Option<PgConnection> {
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
pub async fn expire_due_trials(state: &App) -> Result<usize, sqlx::Error> {
    let now = Utc::now();
    let due = subscriptions::trials_due(&state.pool, now, 500).await?;
    let due = due
        .into_iter()
        .map(|(t, id)| (t, id, format!("trial-expired:{id}")));
    Ok(issue(state, due, || SubscriptionCommand::ExpireTrial { now }).await)
}

/// Announces the end of each trial whose reminder is due, once.
pub async fn announce_due_trial_ends(state: &App) -> Result<usize, sqlx::Error> {
    let now = Utc::now();
    let due = subscriptions::reminders_due(&state.pool, now, 500).await?;
    let due = due
        .into_iter()
        .map(|(t, id)| (t, id, format!("trial-ending:{id}")));
    Ok(
        issue(state, due, || SubscriptionCommand::AnnounceTrialEnding {
            now,
        })
        .await,
    )
}

/// Ends each grace that is over: the subscription's instances are then stopped.
pub async fn end_due_graces(state: &App) -> Result<usize, sqlx::Error> {
    let now = Utc::now();
    let due = subscriptions::graces_due(&state.pool, now, 500).await?;
    // A subscription may have more than one grace in its life: each is ended once.
    let due = due
        .into_iter()
        .map(|(t, id, at)| (t, id, format!("grace-ended:{id}:{}", at.timestamp_micros())));
    Ok(issue(state, due, || SubscriptionCommand::EndGrace { now }).await)
}

/// Issues `command` to each due subscription as the scheduler, under its key, so that a
/// deadline acts once however many passes see it; answers how many took effect.
async fn issue(
    state: &App,
    due: impl Iterator<Item = (String, uuid::Uuid, String)>,
    command: impl Fn() -> SubscriptionCommand,
) -> usize {
    let mut done = 0;
    for (tenant, id, key) in due {
        let Ok(tenant) = Tenant::parse(&tenant) else {
            continue;
        };
        let meta = CommandMeta {
            tenant,
            actor: Actor::system("trial-scheduler"),
            correlation_id: uuid::Uuid::now_v7().to_string(),
            causation_id: None,
            idempotency_key: Some(key.clone()),
        };
        match state
            .bus
            .execute::<Subscription>(&meta, &id.to_string(), command())
            .await
        {
            Ok(_) => done += 1,
            // Converted or ended meanwhile: the read model had not caught up.
            Err(CommandError::Domain(_)) => {}
            Err(e) => tracing::warn!(subscription = %id, error = %e, key, "a due deadline"),
        }
    }
    done
}

/// Customers read at a time.
const DRAFTS_PER_PAGE: i64 = 100;
const MONTHLY_RUN_EVERY: u64 = 10;

/// Drafts the invoice of the month just ended for each customer that had usage in it and has
/// no invoice touching it yet, once the month is `after` old. A customer whose usage of the
/// month arrives later is drafted by a later pass.
pub async fn draft_monthly_invoices(
    state: &App,
    after: chrono::Duration,
) -> Result<usize, AppError> {
    let now = Utc::now();
    let today = now.date_naive();
    let this_month = today.with_day(1).unwrap_or(today);
    let Some(last_month) = this_month.checked_sub_months(Months::new(1)) else {
        return Ok(0);
    };
    let period = Period {
        start: last_month,
        end: this_month,
    };
    let month_ended = this_month.and_time(NaiveTime::MIN).and_utc();
    if now < month_ended + after {
        return Ok(0);
    }
    let mut made = 0;
    // Page through every due customer: one that fails (and is tried again next pass) never
    // holds up those after it.
    let mut after: Option<(String, String)> = None;
    loop {
        let due =
            invoices::customers_to_invoice(&state.pool, period, after.as_ref(), DRAFTS_PER_PAGE)
                .await?;
        for (tenant, customer_id) in &due {
            let Ok(tenant) = Tenant::parse(tenant) else {
                continue;
            };
            let meta = CommandMeta {
                tenant,
                actor: Actor::system("invoice-scheduler"),
                correlation_id: uuid::Uuid::now_v7().to_string(),
                causation_id: None,
                idempotency_key: Some(format!("monthly-invoice:{customer_id}:{}", period.start)),
            };
            // Usage without a price is never drafted at zero behind anyone's back: the
            // warning names it, and the draft is made once a price covers it.
            match generate_invoice(state, &meta, customer_id, period, Default::default()).await {
                Ok(generated) => made += usize::from(generated.created),
                Err(e) => {
                    tracing::warn!(customer = %customer_id, error = %e, "drafting a monthly invoice");
                }
            }
        }
        if (due.len() as i64) < DRAFTS_PER_PAGE {
            break;
        }
        after = due.last().cloned();
    }
    if made > 0 {
        tracing::info!(month = %period.start.format("%Y-%m"), drafts = made, "drafted monthly invoices");
    }
    Ok(made)
}

/// How long an upgrade path may stay paused before it is cancelled.
pub const PAUSE_LIMIT: chrono::Duration = chrono::Duration::hours(24);

async fn roll_due_upgrade_paths(app: &App) -> Result<(), AppError> {
    use fleet_domain::upgrade_path::{UpgradePath, UpgradePathCommand};
    let now = Utc::now();
    let (due, stale) = fleet_projections::inventory::upgrade_paths::due(
        &app.pool,
        now.date_naive(),
        now - PAUSE_LIMIT,
    )
    .await?;
    let commands = due
        .into_iter()
        .map(|(t, id)| {
            (
                t,
                id,
                UpgradePathCommand::Release {
                    today: now.date_naive(),
                },
                "release",
            )
        })
        .chain(stale.into_iter().map(|(t, id)| {
            let reason = "Upgrade path auto-cancelled: paused for longer than 24h0m0s without \
                being resumed"
                .to_owned();
            (t, id, UpgradePathCommand::Cancel { reason }, "auto-cancel")
        }));
    for (tenant, id, command, what) in commands {
        let Ok(tenant) = Tenant::parse(&tenant) else {
            continue;
        };
        let meta = CommandMeta {
            tenant,
            actor: Actor::system("scheduler"),
            correlation_id: uuid::Uuid::now_v7().to_string(),
            causation_id: None,
            idempotency_key: Some(format!("upgrade-path-{what}:{id}")),
        };
        match app
            .bus
            .execute::<UpgradePath>(&meta, &id.to_string(), command)
            .await
        {
            Ok(_) | Err(CommandError::Domain(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
