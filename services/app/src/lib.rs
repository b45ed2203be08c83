//! Fleetledger's application layer: every command and query as a typed function, and the
//! machinery around them. It knows no HTTP: the native `/v1` router and each source-API
//! dialect translate requests onto it and its answers back into their own shapes.
//!
//! - [`command_bus`]: load an aggregate, decide, append with optimistic concurrency.
//! - [`policies`]: rules that cross aggregates, checked before a command.
//! - [`facts`]: usage and cost facts, appended to the usage stream.
//! - [`positions`]: read-your-writes, waiting for a read model to reach a stream position.
//! - [`invoicing`] and [`rater`]: rating usage and drafting invoices.
//! - [`process_managers`] and [`scheduler`]: reactions to events and to the clock.
//! - [`webhooks`]: delivering the outbox to subscribers.
//! - [`access`]: API keys, roles and permissions.

pub mod access;
pub mod accounts;
pub mod command_bus;
pub mod cost;
pub mod custom_dns;
pub mod egress;
pub mod error;
pub mod facts;
pub mod host_clusters;
pub mod idempotency;
pub mod inbound_hooks;
pub mod input;
pub mod instances;
pub mod invoice_diff;
pub mod invoicing;
pub mod marketplace;
pub mod metrics;
pub mod networks;
pub mod notifications;
pub mod orchestrations;
pub mod policies;
pub mod positions;
pub mod price_history;
pub mod process_managers;
pub mod rater;
pub mod scheduler;
pub mod simulations;
pub mod snapshots;
pub mod statements;
pub mod subscriptions;
pub mod upgrade_paths;
pub mod usage_tally;
pub mod webhooks;
pub mod workflows;

use std::time::Duration;

use fleet_events::jetstream::JetStreamLog;
use sqlx::PgPool;

pub use error::{AppError, FieldError};

/// Everything a command or query needs, cheap to clone.
#[derive(Clone)]
pub struct App {
    pub pool: PgPool,
    pub bus: command_bus::CommandBus,
    /// The domain events' stream.
    pub log: JetStreamLog,
    /// The usage stream: metered usage and cost facts.
    pub usage_log: JetStreamLog,
    pub nats: async_nats::Client,
    pub locks: policies::KeyedLocks,
    pub positions: positions::Positions,
    pub metrics: metrics::Metrics,
    pub settings: Settings,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a query with a read position waits for its read model.
    pub read_wait: Duration,
    /// Readiness fails when a projection lags more than this many events.
    pub ready_max_lag: u64,
    /// Who may post inbound webhooks.
    pub inbound_hooks: inbound_hooks::Producers,
    /// Where webhooks may be sent: nowhere inside, unless allowed.
    pub egress: std::sync::Arc<egress::EgressPolicy>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            read_wait: Duration::from_secs(5),
            ready_max_lag: 100_000,
            inbound_hooks: Default::default(),
            egress: Default::default(),
        }
    }
}

impl App {
    /// Waits until `projection` has applied every event of the tenant's `aggregate_type`
    /// recorded so far; returns that position.
    pub async fn caught_up_on(
        &self,
        tenant: &fleet_events::Tenant,
        aggregate_type: &str,
        projection: &str,
    ) -> Result<u64, AppError> {
        let subjects = self
            .bus
            .namespace()
            .aggregate_subject(tenant, aggregate_type, "*");
        Ok(self
            .positions
            .wait_for_latest(&self.log, &subjects, projection, self.settings.read_wait)
            .await?)
    }

    /// Waits until `projection` has applied every event of the tenant recorded so far, of
    /// any aggregate (the audit log reads them all); returns that position.
    pub async fn caught_up_on_all(
        &self,
        tenant: &fleet_events::Tenant,
        projection: &str,
    ) -> Result<u64, AppError> {
        self.caught_up_on(tenant, "*", projection).await
    }

    /// Waits until `projection` (a reader of the usage stream) has applied the tenant's
    /// newest usage; returns that position.
    pub async fn caught_up_on_usage(
        &self,
        tenant: &fleet_events::Tenant,
        projection: &str,
    ) -> Result<u64, AppError> {
        let subject = self.bus.namespace().usage_subject(tenant);
        Ok(self
            .positions
            .wait_for_latest(
                &self.usage_log,
                &subject,
                projection,
                self.settings.read_wait,
            )
            .await?)
    }
}
