//! Events of the `network_space` aggregate: the custom networks of a tenant in one cloud
//! provider's region. They share one aggregate so that no two of them overlap, decided
//! atomically. Its id is derived from the provider and region (UUIDv5).
//!
//! Subject: `<namespace>.<tenant>.network_space.<uuid of provider/region>`. Schema version 1.

use serde::{Deserialize, Serialize};

use crate::DomainEvent;

pub const AGGREGATE_TYPE: &str = "network_space";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CustomNetwork {
    pub network_id: String,
    pub name: String,
    /// IPv4 CIDR block, in its network form (`10.0.0.0/16`).
    pub cidr: String,
    pub cloud_provider: String,
    pub region: String,
    #[serde(default)]
    pub private_link: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum NetworkSpaceEvent {
    CustomNetworkCreated {
        #[serde(flatten)]
        network: CustomNetwork,
    },
    CustomNetworkRenamed {
        network_id: String,
        name: String,
    },
    CustomNetworkDeleted {
        network_id: String,
    },
}

impl DomainEvent for NetworkSpaceEvent {}
