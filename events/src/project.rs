//! Events of the `project` aggregate: a customer organisation's container of marketplace
//! resources (Waldur's project). Its resources are billed to its customer.
//!
//! Subject: `<namespace>.<tenant>.project.<project id>`. Schema version 1.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::DomainEvent;

pub const AGGREGATE_TYPE: &str = "project";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum ProjectEvent {
    ProjectCreated {
        customer_id: String,
        name: String,
        #[serde(default)]
        description: String,
        slug: String,
        /// Inclusive: once reached, the project's resources are due for termination.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        end_date: Option<NaiveDate>,
    },
}

impl DomainEvent for ProjectEvent {}
