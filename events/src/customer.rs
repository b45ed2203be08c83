//! Events of the `customer` aggregate: a customer of the provider, with its reseller
//! relationships and the licenses synced from its provider instances.
//!
//! Subject: `<namespace>.<tenant>.customer.<customer id>`. Schema version 1.

use serde::{Deserialize, Serialize};

use crate::DomainEvent;

pub const AGGREGATE_TYPE: &str = "customer";

/// A customer's company and contact details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CustomerProfile {
    pub name: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_identifier: Option<String>,
}

/// A partial change of the profile: absent fields stay as they were.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CustomerChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_identifier: Option<String>,
}

/// Seats of one SKU of a provider instance, as the provider reports them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct License {
    pub provider_instance_id: String,
    pub sku_id: String,
    pub name: String,
    pub total: i64,
    pub consumed: i64,
    pub suspended: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum CustomerEvent {
    CustomerCreated {
        #[serde(flatten)]
        profile: CustomerProfile,
    },
    CustomerUpdated {
        #[serde(flatten)]
        changes: CustomerChanges,
    },
    CustomerDeleted {},
    ResellerRelationshipAdded {
        relationship_id: String,
        provider_instance_id: String,
        /// `None`: the provider sells to the customer directly.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reseller_id: Option<String>,
    },
    ResellerRelationshipRemoved {
        relationship_id: String,
    },
    CustomerLicenseRecorded {
        #[serde(flatten)]
        license: License,
    },
}

impl DomainEvent for CustomerEvent {}
