//! Events of the `order` aggregate: a reviewable request to create, update or terminate a
//! marketplace resource. The resource changes only as its order moves (a process manager
//! carries each step over to it).
//!
//! Subject: `<namespace>.<tenant>.order.<order id>`. Schema version 1.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::DomainEvent;

pub const AGGREGATE_TYPE: &str = "order";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderRequest {
    /// `Create`, `Update` or `Terminate`.
    pub kind: String,
    pub resource_id: String,
    pub offering_id: String,
    pub project_id: String,
    /// The consumer: the project's customer.
    pub customer_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_id: Option<String>,
    #[serde(default)]
    pub attributes: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<BTreeMap<String, i64>>,
    /// Options an Update order sets (merged into the resource's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// The resource's name, for a Create order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
#[allow(clippy::large_enum_variant)] // one order per message; boxing buys nothing here
pub enum OrderEvent {
    /// Placed in `pending-consumer` or `pending-provider` (`state`).
    OrderPlaced {
        #[serde(flatten)]
        request: OrderRequest,
        state: String,
    },
    /// pending-consumer -> pending-provider.
    OrderApprovedByConsumer {},
    /// pending-provider -> executing.
    OrderApprovedByProvider {},
    /// A pending order refused, by `consumer` or `provider`: -> rejected.
    OrderRejected {
        by: String,
    },
    /// pending-provider or erred -> executing, by the provider's agent.
    OrderExecutionStarted {},
    /// executing -> done.
    OrderCompleted {},
    /// -> erred.
    OrderFailed {
        #[serde(default)]
        error_message: String,
        #[serde(default)]
        error_traceback: String,
    },
    /// A pending order withdrawn by the consumer: -> canceled.
    OrderCanceled {},
    OrderBackendIdSet {
        backend_id: String,
    },
}

impl DomainEvent for OrderEvent {}
