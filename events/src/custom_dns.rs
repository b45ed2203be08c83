//! Events of the `custom_dns` aggregate: one custom DNS name of a tenant, held by at most
//! one instance at a time. Its id is derived from the name (UUIDv5), so that two claims of
//! one name meet on one stream subject.
//!
//! Subject: `<namespace>.<tenant>.custom_dns.<uuid of the name>`. Schema version 1.

use serde::{Deserialize, Serialize};

use crate::DomainEvent;

pub const AGGREGATE_TYPE: &str = "custom_dns";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum CustomDnsEvent {
    /// The name now points at the instance's resource.
    CustomDnsClaimed {
        name: String,
        instance_id: String,
        resource_key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target_port: Option<i64>,
    },
    /// The name is free again.
    CustomDnsReleased { instance_id: String },
}

impl DomainEvent for CustomDnsEvent {}
