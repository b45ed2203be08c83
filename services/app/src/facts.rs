//! Usage and cost facts: appended to the usage stream, 1,000 a message, on behalf of whoever
//! issues them (an API caller, or the uptime process manager), with the same envelope rules as
//! every command: the caller's correlation, the causing event, and instants kept to the
//! microsecond.
//!
//! They are not decided against an aggregate's history: a usage record is a fact reported
//! from outside, and the usage projection's counted ids make a resent one count once.

use std::sync::LazyLock;

use fleet_events::cost::{CostEvent, CostFact, AGGREGATE_TYPE as COST};
use fleet_events::jetstream::JetStreamLog;
use fleet_events::usage::{UsageEvent, UsageRecord, AGGREGATE_TYPE as USAGE};
use fleet_events::{DomainEvent, LogError, Namespace};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::command_bus::{new_event, CommandMeta};

/// The payloads of `UsageRecorded` and `CostRecorded`, written from the borrowed records
/// instead of through a JSON tree of a thousand of them (its allocations were most of an
/// ingest's cost). A test holds them to the events' own serialisation.
#[derive(Serialize)]
struct UsageRecordedData<'a> {
    records: &'a [UsageRecord],
}

#[derive(Serialize)]
struct CostRecordedData<'a> {
    facts: &'a [CostFact],
}

static USAGE_RECORDED: LazyLock<String> = LazyLock::new(|| {
    UsageEvent::UsageRecorded {
        records: Vec::new(),
    }
    .event_type()
});
static COST_RECORDED: LazyLock<String> =
    LazyLock::new(|| CostEvent::CostRecorded { facts: Vec::new() }.event_type());

/// The most records one message carries (NATS messages are at most 1 MiB by default).
pub const CHUNK: usize = 1_000;

/// Appends usage records; returns the position of the last message.
pub async fn record_usage(
    usage_log: &JetStreamLog,
    namespace: &Namespace,
    meta: &CommandMeta,
    records: Vec<UsageRecord>,
) -> Result<u64, LogError> {
    let tenant = &meta.tenant;
    let mut messages = Vec::new();
    for chunk in records.chunks(CHUNK) {
        // A resent batch has the same message id, so JetStream stores it once inside its
        // duplicate window; past it, the counted ids keep it from counting twice.
        let mut hasher = Sha256::new();
        for record in chunk {
            hasher.update(record.id.as_bytes());
            hasher.update(b"\n");
        }
        let digest = hex::encode(&hasher.finalize()[..16]);
        let event = new_event(
            meta,
            USAGE,
            &digest,
            (USAGE_RECORDED.clone(), UsageRecordedData { records: chunk }),
            UsageEvent::SCHEMA_VERSION,
        );
        messages.push((event, format!("usage:{tenant}:{digest}")));
    }
    usage_log
        .publish_all(&namespace.usage_subject(tenant), &messages)
        .await
}

/// Appends cost facts; returns the position of the last message.
pub async fn record_costs(
    usage_log: &JetStreamLog,
    namespace: &Namespace,
    meta: &CommandMeta,
    facts: Vec<CostFact>,
) -> Result<u64, LogError> {
    let tenant = &meta.tenant;
    let mut messages = Vec::new();
    for chunk in facts.chunks(CHUNK) {
        let first = chunk.first().map_or("", |f| f.id.as_str());
        let last = chunk.last().map_or("", |f| f.id.as_str());
        let event = new_event(
            meta,
            COST,
            &Uuid::now_v7().to_string(),
            (COST_RECORDED.clone(), CostRecordedData { facts: chunk }),
            CostEvent::SCHEMA_VERSION,
        );
        messages.push((
            event,
            format!("cost:{tenant}:{first}:{last}:{}", chunk.len()),
        ));
    }
    usage_log
        .publish_all(&namespace.usage_subject(tenant), &messages)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use rust_decimal::Decimal;

    #[test]
    fn borrowed_payloads_serialise_as_the_events_do() {
        let record = UsageRecord {
            id: "r-1".into(),
            subscription_id: "s-1".into(),
            customer_id: "c-1".into(),
            product: "instance_hours".into(),
            quantity: Decimal::new(15, 1),
            occurred_at: Utc.with_ymd_and_hms(2026, 11, 10, 12, 0, 0).unwrap(),
            instance_id: None,
            project_id: Some("p-1".into()),
            provider_id: None,
        };
        let records = vec![record.clone(), record];
        let (event_type, payload) = UsageEvent::UsageRecorded {
            records: records.clone(),
        }
        .to_parts();
        assert_eq!(*USAGE_RECORDED, event_type);
        let borrowed = serde_json::to_value(UsageRecordedData { records: &records }).unwrap();
        assert_eq!(borrowed, payload);

        let fact = CostFact {
            id: "f-1".into(),
            day: chrono::NaiveDate::from_ymd_opt(2026, 11, 10).unwrap(),
            instance_id: Some("i-1".into()),
            resource_id: "i-1".into(),
            cloud_provider: "aws".into(),
            region: "us-east-1".into(),
            deployment_cell: "hc-1".into(),
            environment_type: "PROD".into(),
            instance_type: "m5.large".into(),
            customer_id: "c-1".into(),
            hours: Decimal::new(24, 0),
            cost: Decimal::new(1234, 2),
            currency: "EUR".into(),
            source: "runtime".into(),
        };
        let facts = vec![fact];
        let (event_type, payload) = CostEvent::CostRecorded {
            facts: facts.clone(),
        }
        .to_parts();
        assert_eq!(*COST_RECORDED, event_type);
        let borrowed = serde_json::to_value(CostRecordedData { facts: &facts }).unwrap();
        assert_eq!(borrowed, payload);
    }
}
