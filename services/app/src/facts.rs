//! Usage and cost facts: appended to the usage stream, 1,000 a message, on behalf of whoever
//! issues them (an API caller, or the uptime process manager), with the same envelope rules as
//! every command: the caller's correlation, the causing event, and instants kept to the
//! microsecond.
//!
//! They are not decided against an aggregate's history: a usage record is a fact reported
//! from outside, and the usage projection's counted ids make a resent one count once.

use fleet_events::cost::{CostEvent, CostFact, AGGREGATE_TYPE as COST};
use fleet_events::jetstream::JetStreamLog;
use fleet_events::usage::{UsageEvent, UsageRecord, AGGREGATE_TYPE as USAGE};
use fleet_events::{DomainEvent, LogError, Namespace};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::command_bus::{new_event, CommandMeta};

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
        let event = UsageEvent::UsageRecorded {
            records: chunk.to_vec(),
        };
        let event = new_event(
            meta,
            USAGE,
            &digest,
            event.to_parts(),
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
        let event = CostEvent::CostRecorded {
            facts: chunk.to_vec(),
        };
        let event = new_event(
            meta,
            COST,
            &Uuid::now_v7().to_string(),
            event.to_parts(),
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
