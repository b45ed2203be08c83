//! Instance uptime is usage: the running intervals of each instance, read from its lifecycle
//! events, become `instance_hours` records (hours x capacity) of its subscription, without
//! any polling.
//!
//! An interval is recorded when it closes (stop, failure, deletion, or a capacity change,
//! which closes it and opens the next at the new capacity), split at UTC midnights so that
//! each day gets its own hours. Each piece is also a cost fact: hours x capacity x the cost
//! rate of its provider, region and instance type in force then, in the main currency at that
//! time's exchange rate, with the instance's dimensions as they were. Record ids are derived
//! from the closing event, so replaying the process manager records nothing twice; intervals
//! still open are added to queries.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use fleet_domain::instance::InstanceEvent;
use fleet_events::cost::CostFact;
use fleet_events::jetstream::JetStreamLog;
use fleet_events::usage::{UsageRecord, INSTANCE_HOURS};
use fleet_events::{instance, EventEnvelope, Namespace};
use fleet_projections::{ApplyError, Projection};
use rust_decimal::Decimal;
use sqlx::PgConnection;

use super::caused_by;
use crate::command_bus::CommandMeta;
use crate::facts::{record_costs, record_usage};

pub struct RecordUptime {
    pub usage_log: JetStreamLog,
    pub namespace: Namespace,
}

pub const NAME: &str = "uptime";

const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS instances (
    instance_id     text PRIMARY KEY,
    tenant          text NOT NULL,
    subscription_id text,
    customer_id     text,
    capacity        bigint NOT NULL,
    cloud_provider   text NOT NULL,
    region           text NOT NULL,
    deployment_cell  text NOT NULL,
    instance_type    text NOT NULL,
    environment_type text NOT NULL,
    -- Set while the instance runs: the start of its open interval.
    running_since   timestamptz
);
CREATE INDEX IF NOT EXISTS running_by_subscription ON instances (tenant, subscription_id)
    WHERE running_since IS NOT NULL;
"#;

/// Hours between two instants, to the microsecond, at six decimal places.
pub fn hours_between(from: DateTime<Utc>, to: DateTime<Utc>) -> Decimal {
    let micros = (to - from).num_microseconds().unwrap_or(0).max(0);
    (Decimal::from(micros) / Decimal::from(3_600_000_000i64)).round_dp(6)
}

/// [from, to) cut at UTC midnights.
fn by_day(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut pieces = Vec::new();
    let mut start = from;
    while start < to {
        let midnight = (start.date_naive() + Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .unwrap_or(to);
        let end = midnight.min(to);
        pieces.push((start, end));
        start = end;
    }
    pieces
}

#[derive(sqlx::FromRow)]
struct Tracked {
    tenant: String,
    subscription_id: Option<String>,
    customer_id: Option<String>,
    capacity: i64,
    cloud_provider: String,
    region: String,
    deployment_cell: String,
    instance_type: String,
    environment_type: String,
    running_since: Option<DateTime<Utc>>,
}

#[async_trait]
impl Projection for RecordUptime {
    fn name(&self) -> &'static str {
        NAME
    }

    fn ddl(&self) -> Vec<&'static str> {
        vec![DDL]
    }

    fn handles(&self, aggregate_type: &str) -> bool {
        aggregate_type == instance::AGGREGATE_TYPE
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        events: &[EventEnvelope],
    ) -> Result<(), ApplyError> {
        // What each closing event records, with that event as its cause.
        let mut closed: Vec<(CommandMeta, Vec<UsageRecord>, Vec<CostFact>)> = Vec::new();
        for event in events {
            let id = &event.event.aggregate_id;
            let at = event.event.occurred_at;
            let decoded = event.decode::<InstanceEvent>()?;
            if let InstanceEvent::InstanceCreated { spec, capacity } = &decoded {
                sqlx::query(
                    "INSERT INTO instances (instance_id, tenant, subscription_id, customer_id,
                         capacity, cloud_provider, region, deployment_cell, instance_type,
                         environment_type)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
                )
                .bind(id)
                .bind(&event.event.tenant)
                .bind(&spec.subscription_id)
                .bind(&spec.customer_id)
                .bind(capacity)
                .bind(&spec.cloud_provider)
                .bind(&spec.region)
                .bind(&spec.deployment_cell)
                .bind(&spec.instance_type)
                .bind(&spec.environment_type)
                .execute(&mut *tx)
                .await?;
                continue;
            }
            // Only these change what an instance accrues; the rest need no lookup.
            if !matches!(
                decoded,
                InstanceEvent::InstanceProvisioned {}
                    | InstanceEvent::InstanceStarted {}
                    | InstanceEvent::InstanceCapacityChanged { .. }
                    | InstanceEvent::InstanceStopped {}
                    | InstanceEvent::InstanceFailed { .. }
                    | InstanceEvent::InstanceDeleted { .. }
            ) {
                continue;
            }
            let tracked: Option<Tracked> = sqlx::query_as(
                "SELECT tenant, subscription_id, customer_id, capacity, cloud_provider, region,
                        deployment_cell, instance_type, environment_type, running_since
                 FROM instances WHERE instance_id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(tracked) = tracked else {
                continue;
            };
            let (capacity, running_since) = match decoded {
                InstanceEvent::InstanceProvisioned {} | InstanceEvent::InstanceStarted {} => {
                    (tracked.capacity, Some(tracked.running_since.unwrap_or(at)))
                }
                InstanceEvent::InstanceCapacityChanged { to, .. } => {
                    let records = self.close(&tracked, event, at);
                    let costs = cost_facts(tx, &tracked, event, &records).await?;
                    closed.push((caused_by(event, "uptime", None)?, records, costs));
                    (to, tracked.running_since.map(|_| at))
                }
                InstanceEvent::InstanceStopped {}
                | InstanceEvent::InstanceFailed { .. }
                | InstanceEvent::InstanceDeleted { .. } => {
                    let records = self.close(&tracked, event, at);
                    let costs = cost_facts(tx, &tracked, event, &records).await?;
                    closed.push((caused_by(event, "uptime", None)?, records, costs));
                    (tracked.capacity, None)
                }
                _ => continue,
            };
            sqlx::query(
                "UPDATE instances SET capacity = $2, running_since = $3 WHERE instance_id = $1",
            )
            .bind(id)
            .bind(capacity)
            .bind(running_since)
            .execute(&mut *tx)
            .await?;
        }
        for (meta, records, costs) in closed {
            if !records.is_empty() {
                record_usage(&self.usage_log, &self.namespace, &meta, records)
                    .await
                    .map_err(|e| ApplyError::Transient(format!("recording uptime: {e}")))?;
            }
            if !costs.is_empty() {
                record_costs(&self.usage_log, &self.namespace, &meta, costs)
                    .await
                    .map_err(|e| ApplyError::Transient(format!("recording cost: {e}")))?;
            }
        }
        Ok(())
    }
}

/// The cost of each uptime piece: hours x capacity x the cost rate in force at its start, in
/// the main currency at that instant's rate. Reads the price book, once it has caught up with
/// this event.
async fn cost_facts(
    tx: &mut PgConnection,
    tracked: &Tracked,
    event: &EventEnvelope,
    records: &[UsageRecord],
) -> Result<Vec<CostFact>, ApplyError> {
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let reached = fleet_projections::checkpoint::wait_for_on(
        tx,
        fleet_projections::pricing::NAME,
        event.sequence,
        std::time::Duration::from_secs(5),
    )
    .await?;
    if !reached {
        return Err(ApplyError::Transient("the price book is behind".into()));
    }
    let main = fleet_projections::pricing::main_currency(&mut *tx, &tracked.tenant).await?;
    let mut facts = Vec::with_capacity(records.len());
    for record in records {
        let rate: Option<(Decimal, String)> = sqlx::query_as(
            "SELECT hourly, currency FROM pricing.cost_rates
             WHERE tenant = $1 AND cloud_provider = $2 AND region = $3 AND instance_type = $4
               AND effective_from <= $5
             ORDER BY effective_from DESC LIMIT 1",
        )
        .bind(&tracked.tenant)
        .bind(&tracked.cloud_provider)
        .bind(&tracked.region)
        .bind(&tracked.instance_type)
        .bind(record.occurred_at)
        .fetch_optional(&mut *tx)
        .await?;
        let (cost, currency) = match (rate, &main) {
            (Some((hourly, currency)), Some(main)) => {
                let exchange = fleet_projections::pricing::rate_at(
                    &mut *tx,
                    &tracked.tenant,
                    &currency,
                    record.occurred_at,
                )
                .await?
                .unwrap_or(Decimal::ONE);
                (record.quantity * hourly * exchange, main.clone())
            }
            (Some((hourly, currency)), None) => (record.quantity * hourly, currency),
            // No rate for this instance type: its hours are known, its cost is not.
            (None, main) => (Decimal::ZERO, main.clone().unwrap_or_default()),
        };
        facts.push(CostFact {
            id: record.id.replacen("uptime:", "cost:", 1),
            day: record.occurred_at.date_naive(),
            instance_id: record.instance_id.clone(),
            resource_id: event.event.aggregate_id.clone(),
            cloud_provider: tracked.cloud_provider.clone(),
            region: tracked.region.clone(),
            deployment_cell: tracked.deployment_cell.clone(),
            environment_type: tracked.environment_type.clone(),
            instance_type: tracked.instance_type.clone(),
            customer_id: tracked.customer_id.clone().unwrap_or_default(),
            hours: record.quantity,
            cost,
            currency,
            source: "runtime".into(),
        });
    }
    Ok(facts)
}

impl RecordUptime {
    /// The usage of the interval an event closes, one record per day.
    fn close(
        &self,
        tracked: &Tracked,
        event: &EventEnvelope,
        at: DateTime<Utc>,
    ) -> Vec<UsageRecord> {
        let (Some(since), Some(subscription_id), Some(customer_id)) = (
            tracked.running_since,
            tracked.subscription_id.clone(),
            tracked.customer_id.clone(),
        ) else {
            return Vec::new();
        };
        by_day(since, at)
            .into_iter()
            .map(|(from, to)| UsageRecord {
                id: format!(
                    "uptime:{}:{}:{}",
                    event.event.aggregate_id,
                    event.sequence,
                    from.date_naive()
                ),
                subscription_id: subscription_id.clone(),
                customer_id: customer_id.clone(),
                product: INSTANCE_HOURS.into(),
                quantity: hours_between(from, to) * Decimal::from(tracked.capacity),
                occurred_at: from,
                instance_id: Some(event.event.aggregate_id.clone()),
                project_id: None,
                provider_id: None,
            })
            .filter(|r| r.quantity > Decimal::ZERO)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn intervals_are_cut_at_midnight_and_measured_exactly() {
        let pieces = by_day(t("2026-11-01T22:30:00Z"), t("2026-11-03T01:15:00Z"));
        let hours: Vec<Decimal> = pieces.iter().map(|(a, b)| hours_between(*a, *b)).collect();
        assert_eq!(
            hours,
            [Decimal::new(15, 1), Decimal::from(24), Decimal::new(125, 2)]
        );
        assert_eq!(
            hours_between(t("2026-11-01T00:00:00Z"), t("2026-11-01T00:20:00Z")),
            Decimal::new(333333, 6)
        );
        assert!(by_day(t("2026-11-01T00:00:00Z"), t("2026-11-01T00:00:00Z")).is_empty());
    }
}
