//! Events of the `inbound_hook` aggregate: one delivery of a signed webhook from an outside
//! producer. Its id is derived from the producer and the delivery (UUIDv5), so a delivery sent
//! twice is recorded once.
//!
//! Subject: `<namespace>.<tenant>.inbound_hook.<id>`. Schema version 1.

use serde::{Deserialize, Serialize};

use crate::DomainEvent;

pub const AGGREGATE_TYPE: &str = "inbound_hook";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum InboundHookEvent {
    /// The signature was checked before it was recorded; the secret never is.
    WebhookReceived {
        producer: String,
        /// The event data as the producer sent it.
        data: serde_json::Value,
    },
}

impl DomainEvent for InboundHookEvent {}
