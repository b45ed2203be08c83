//! Events of the `resource` aggregate: a marketplace resource (Waldur's), provisioned from an
//! offering's plan in a customer's project, changed through orders or directly by its
//! provider, and metered per component.
//!
//! Subject: `<namespace>.<tenant>.resource.<resource id>`. Schema version 1.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::DomainEvent;

pub const AGGREGATE_TYPE: &str = "resource";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReportSection {
    pub header: String,
    pub body: String,
}

/// One component's usage in a billing period, as last reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ComponentUsage {
    #[serde(rename = "type")]
    pub component: String,
    #[schemars(with = "crate::schemas::DecimalString")]
    pub amount: Decimal,
    /// What this period had counted before this report: the report adds `amount - previous`.
    #[schemars(with = "crate::schemas::DecimalString")]
    pub previous: Decimal,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub recurring: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum ResourceEvent {
    /// A Create order was placed: the resource exists, in `Creating`.
    ResourceRequested {
        order_id: String,
        offering_id: String,
        plan_id: Option<String>,
        project_id: String,
        customer_id: String,
        name: String,
        #[serde(default)]
        description: String,
        #[serde(default)]
        attributes: Value,
        #[serde(default)]
        limits: BTreeMap<String, i64>,
    },
    /// An Update or Terminate order is placed for the resource: it is its order in progress.
    /// The event holds the whole request, so that the order is placed from it exactly once.
    ResourceOrderOpened {
        order_id: String,
        kind: String,
        #[serde(default)]
        attributes: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limits: Option<BTreeMap<String, i64>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        options: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        plan_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_comment: Option<String>,
        /// The order waits for the consumer's review first.
        #[serde(default)]
        consumer_review: bool,
    },
    /// The order in progress began executing: Updating or Terminating.
    ResourceOrderStarted {
        order_id: String,
    },
    /// The order in progress is done: a Create or Update leaves the resource OK (an Update
    /// with its new limits, options or plan), a Terminate leaves it Terminated.
    ResourceOrderCompleted {
        order_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limits: Option<BTreeMap<String, i64>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        options: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        plan_id: Option<String>,
    },
    /// The order in progress was rejected or canceled: nothing changes, except that a
    /// resource whose creation was refused is Terminated.
    ResourceOrderAbandoned {
        order_id: String,
        outcome: String,
    },
    /// -> Erred, by the provider or because the order in progress failed.
    ResourceErred {
        #[serde(default)]
        error_message: String,
        #[serde(default)]
        error_traceback: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        order_id: Option<String>,
    },
    /// Erred, Creating, Updating or Terminating -> OK, by the provider; clears the error.
    ResourceMarkedOk {},
    /// Name, description and end date as edited (PUT/PATCH); only the fields that changed.
    ResourceDetailsChanged {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        /// `Some(None)` clears the end date.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        end_date: Option<Option<NaiveDate>>,
    },
    /// The end date set by the provider (`by`: `provider`) or by staff (`staff`).
    ResourceEndDateSet {
        end_date: Option<NaiveDate>,
        by: String,
        requested_by: String,
    },
    ResourceBackendIdSet {
        backend_id: String,
    },
    /// Replaces the backend metadata as a whole.
    ResourceBackendMetadataSet {
        backend_metadata: Value,
    },
    /// Flags as set; only the one that changed.
    ResourceFlagSet {
        flag: String,
        value: bool,
    },
    ResourceSlugSet {
        slug: String,
    },
    /// Replaces the report as a whole.
    ResourceReportSubmitted {
        report: Vec<ReportSection>,
    },
    /// Set directly by the provider, bypassing orders.
    ResourceLimitsSet {
        limits: BTreeMap<String, i64>,
    },
    /// Set directly (merged into the resource's options).
    ResourceOptionsSet {
        options: Value,
    },
    /// The provider's agent saw the resource in its backend.
    ResourceSynced {
        at: DateTime<Utc>,
    },
    /// A pull from the backend was asked for; the provider's agent answers with the setters.
    ResourcePullRequested {},
    ResourceMoved {
        project_id: String,
        customer_id: String,
        previous_project_id: String,
    },
    /// Removed from every view without touching the backend (history stays in the stream).
    ResourceUnlinked {
        previous_state: String,
    },
    /// Usage per component for the billing period starting on `period` (a month's first
    /// day), replacing what the period had: the usage stream gets `amount - previous`.
    ResourceUsageReported {
        period: NaiveDate,
        occurred_at: DateTime<Utc>,
        /// Whose usage it is: the customer and project holding the resource when reported.
        customer_id: String,
        project_id: String,
        usages: Vec<ComponentUsage>,
    },
}

impl DomainEvent for ResourceEvent {}
