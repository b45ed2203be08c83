//! Read models built from the domain stream.
//!
//! A projection is a name, the aggregate types it cares about and an `apply` that writes one
//! batch of events with set-based SQL. The [`engine`] feeds it: it reads the whole domain
//! stream from the projection's checkpoint, applies a batch and moves the checkpoint in one
//! transaction, parks what it cannot apply, and runs one leader per projection across all
//! `fleetd` processes.
//!
//! Each projection owns a PostgreSQL schema named after it (`inventory`): its DDL is written
//! against the search path, so [`rebuild`] can build the same tables in a fresh schema from
//! sequence 0 while the old ones keep serving, then swap the schemas in one transaction.

pub mod audit;
pub mod audit_verification;
pub mod checkpoint;
pub mod cost;
pub mod engine;
pub mod group;
mod insert_once;
pub mod inventory;
pub mod invoices;
pub mod marketplace;
pub mod metrics;
pub mod notifications;
pub mod pricing;
pub mod rebuild;
pub mod usage;

use std::sync::Arc;

use async_trait::async_trait;
use fleet_events::EventEnvelope;
use sqlx::PgConnection;

pub use engine::ProjectionEngine;
pub use group::{GroupRunner, Member};
pub use metrics::ProjectionMetrics;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The event cannot be applied (bad payload, unknown type, missing row): park it.
    #[error("{0}")]
    Unapplicable(String),
    /// Something outside the database is away (a process manager's command could not be
    /// appended): retry the batch later.
    #[error("{0}")]
    Transient(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl ApplyError {
    /// Whether retrying later may succeed (the database is away), as opposed to an event that
    /// will never apply and must be parked.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unapplicable(_) => false,
            Self::Transient(_) => true,
            // A statement the database rejected (constraint, type) fails again on retry.
            Self::Database(sqlx::Error::Database(_)) => false,
            Self::Database(_) => true,
        }
    }
}

impl From<fleet_events::EventDecodeError> for ApplyError {
    fn from(e: fleet_events::EventDecodeError) -> Self {
        Self::Unapplicable(e.to_string())
    }
}

/// Which stream a projection reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Every aggregate's events.
    Domain,
    /// Metered usage batches.
    Usage,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Domain => "domain",
            Source::Usage => "usage",
        }
    }
}

#[async_trait]
pub trait Projection: Send + Sync + 'static {
    /// The checkpoint key, the advisory-lock key and the PostgreSQL schema of its tables.
    fn name(&self) -> &'static str;

    fn source(&self) -> Source {
        Source::Domain
    }

    /// Creates the projection's tables, unqualified, in the current search path. Idempotent.
    fn ddl(&self) -> Vec<&'static str>;

    /// Indexes that only queries use, never `apply`, created like [`Projection::ddl`]. A
    /// rebuild creates them once it has caught up, in one pass over the full tables, rather
    /// than keeping them up row by row as it goes.
    fn reader_indexes(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// Whether events of this aggregate type concern the projection. The engine passes over
    /// the rest but still moves the checkpoint, so a position read from any command's
    /// response can be waited for on any projection.
    fn handles(&self, aggregate_type: &str) -> bool;

    /// Applies events (already filtered by [`Projection::handles`], in stream order) inside the
    /// engine's transaction, with the projection's schema as search path.
    async fn apply(
        &self,
        tx: &mut PgConnection,
        events: &[EventEnvelope],
    ) -> Result<(), ApplyError>;
}

/// Every projection of Fleetledger.
pub fn all() -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(inventory::Inventory),
        Arc::new(audit::Audit),
        Arc::new(notifications::Notifications),
        Arc::new(pricing::Pricing),
        Arc::new(usage::Usage),
        Arc::new(cost::Cost),
        Arc::new(invoices::Invoices),
        Arc::new(marketplace::Marketplace),
    ]
}

pub fn by_name(name: &str) -> Option<Arc<dyn Projection>> {
    all().into_iter().find(|p| p.name() == name)
}

/// Parses an aggregate id that the read model keys as a UUID.
pub(crate) fn uuid_of(event: &EventEnvelope) -> Result<uuid::Uuid, ApplyError> {
    uuid::Uuid::parse_str(&event.event.aggregate_id).map_err(|_| {
        ApplyError::Unapplicable(format!(
            "{} id {:?} is not a UUID",
            event.event.aggregate_type, event.event.aggregate_id
        ))
    })
}

/// An update guarded by `version < $n` that changed nothing: the event was applied before
/// when the row of `table` with this id is there; otherwise it cannot be applied (parked).
pub(crate) async fn changed_or_seen<T>(
    tx: &mut sqlx::PgConnection,
    table: &str,
    tenant: &str,
    id: T,
    result: sqlx::postgres::PgQueryResult,
    event: &EventEnvelope,
) -> Result<(), ApplyError>
where
    T: for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send,
{
    if result.rows_affected() > 0 {
        return Ok(());
    }
    let seen: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT version FROM {table} WHERE tenant = $1 AND id = $2"
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    if seen.is_some() {
        return Ok(());
    }
    expect_row(result, event)
}

/// The row an event must change does not exist: the event cannot be applied (it is parked).
pub(crate) fn expect_row(
    result: sqlx::postgres::PgQueryResult,
    event: &EventEnvelope,
) -> Result<(), ApplyError> {
    if result.rows_affected() == 0 {
        Err(ApplyError::Unapplicable(format!(
            "{} for {} {}, which the read model does not know",
            event.event.event_type, event.event.aggregate_type, event.event.aggregate_id
        )))
    } else {
        Ok(())
    }
}
