//! Events of the `notification_channel` aggregate: a webhook target of a tenant.
//!
//! Subject: `<namespace>.<tenant>.notification_channel.<channel id>`. Schema version 1. The
//! signing secret never travels in an event (the stream is readable by subscribers): only
//! its fingerprint does.

use serde::{Deserialize, Serialize};

use crate::DomainEvent;

pub const AGGREGATE_TYPE: &str = "notification_channel";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum NotificationChannelEvent {
    NotificationChannelCreated {
        name: String,
        url: String,
        /// Event types delivered; empty for all.
        event_types: Vec<String>,
        secret_fingerprint: String,
    },
    NotificationChannelUpdated {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_types: Option<Vec<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret_fingerprint: Option<String>,
    },
    NotificationChannelDeleted {},
}

impl DomainEvent for NotificationChannelEvent {}
