//! Events of the `acknowledgement` aggregate: a provider's acknowledgement of an end-customer
//! event, which drops it from the unacknowledged list. Its id is the acknowledged event's.
//!
//! Subject: `<namespace>.<tenant>.acknowledgement.<event id>`. Schema version 1.

use serde::{Deserialize, Serialize};

use crate::DomainEvent;

pub const AGGREGATE_TYPE: &str = "acknowledgement";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum AcknowledgementEvent {
    EventAcknowledged { event_type: String },
}

impl DomainEvent for AcknowledgementEvent {}
