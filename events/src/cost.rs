//! What operating the fleet costs the provider: cost facts on the usage stream.
//!
//! Subject: `<namespace>-usage.<tenant>`, aggregate type `cost`. A fact is one instance's (or
//! imported resource's) cost on one UTC day, with the dimensions it had then (provider,
//! region, deployment cell, environment, customer), so that reports never depend on what the
//! instance looks like today. Amounts are in the tenant's main currency at the day's rate.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::DomainEvent;

pub const AGGREGATE_TYPE: &str = "cost";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CostFact {
    /// Counted once, ever.
    pub id: String,
    pub day: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    pub resource_id: String,
    pub cloud_provider: String,
    pub region: String,
    pub deployment_cell: String,
    pub environment_type: String,
    pub instance_type: String,
    pub customer_id: String,
    #[schemars(with = "String")]
    pub hours: Decimal,
    #[schemars(with = "String")]
    pub cost: Decimal,
    pub currency: String,
    /// `runtime` (instance hours x cost rate) or `imported` (a cost record).
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum CostEvent {
    CostRecorded { facts: Vec<CostFact> },
}

impl DomainEvent for CostEvent {}
