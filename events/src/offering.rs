//! Events of the `offering` aggregate: what a service provider sells on the marketplace, with
//! its plans and the components that are metered. Each component names the price-book
//! product its usage is rated with.
//!
//! Subject: `<namespace>.<tenant>.offering.<offering id>`. Schema version 1.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::DomainEvent;

pub const AGGREGATE_TYPE: &str = "offering";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OfferingComponent {
    /// Unique within the offering: `cpu_k_hours`, `storage_gb`.
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub measured_unit: String,
    /// `usage`, `fixed`, `limit`, `one` or `few`.
    pub billing_type: String,
    /// The price-book product code that rates this component's usage.
    pub product: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OfferingPlan {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// `month`, `quarter`, `half_month`, `day`, `hour` or `quantity`.
    pub unit: String,
    #[serde(default)]
    pub archived: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum OfferingEvent {
    OfferingCreated {
        name: String,
        slug: String,
        #[serde(default)]
        description: String,
        /// The plugin type, e.g. `Marketplace.Slurm`.
        offering_type: String,
        shared: bool,
        billable: bool,
        /// Orders of this offering wait for the consumer's review before the provider's.
        #[serde(default)]
        consumer_review: bool,
        /// A change of options goes through an Update order instead of applying at once.
        #[serde(default)]
        options_by_order: bool,
        components: Vec<OfferingComponent>,
        plans: Vec<OfferingPlan>,
        #[serde(default)]
        plugin_options: Value,
    },
}

impl DomainEvent for OfferingEvent {}
