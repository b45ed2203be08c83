//! Events of the `subscription_request` aggregate: a customer's request for a subscription,
//! approved (which creates the subscription), denied or cancelled.
//!
//! Subject: `<namespace>.<tenant>.subscription_request.<request id>`. Schema version 1.

use serde::{Deserialize, Serialize};

use crate::subscription::SubscriptionTerms;
use crate::DomainEvent;

pub const AGGREGATE_TYPE: &str = "subscription_request";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum SubscriptionRequestEvent {
    SubscriptionRequestCreated {
        customer_id: String,
        service_id: String,
        plan_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        requested_by_user_id: Option<String>,
    },
    /// Carries the subscription to create, id and terms frozen, so that the process manager
    /// that creates it needs nothing else and creates it exactly once.
    SubscriptionRequestApproved {
        subscription_id: String,
        subscription: SubscriptionTerms,
    },
    SubscriptionRequestDenied {
        reason: String,
    },
    SubscriptionRequestCancelled {},
}

impl DomainEvent for SubscriptionRequestEvent {}
