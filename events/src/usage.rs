//! Metered usage: batches of records on the usage stream (not the domain stream).
//!
//! Subject: `<namespace>-usage.<tenant>`. Each message is an envelope of type `UsageRecorded`
//! holding up to 1,000 records. A record id counts once, ever: the usage projection keeps
//! every id it has counted, so a batch delivered or sent twice adds nothing the second time.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::DomainEvent;

pub const AGGREGATE_TYPE: &str = "usage";
/// Records of instance uptime carry this dimension instead of a product code.
pub const INSTANCE_HOURS: &str = "instance_hours";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UsageRecord {
    pub id: String,
    pub subscription_id: String,
    pub customer_id: String,
    /// A product code of the price book, or `instance_hours`.
    pub product: String,
    #[schemars(with = "String")]
    pub quantity: Decimal,
    pub occurred_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum UsageEvent {
    UsageRecorded { records: Vec<UsageRecord> },
}

impl DomainEvent for UsageEvent {}
