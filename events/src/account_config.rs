//! Events of the `account_config` aggregate: a customer's own cloud account (BYOA) that the
//! fleet deploys into, and its verification.
//!
//! Subject: `<namespace>.<tenant>.account_config.<id>`. Schema version 1.

use serde::{Deserialize, Serialize};

use crate::DomainEvent;

pub const AGGREGATE_TYPE: &str = "account_config";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CloudAccount {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// aws, azure or gcp.
    pub cloud_provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_bootstrap_role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcp_project_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcp_project_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure_subscription_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure_tenant_id: Option<String>,
}

// Events are decoded one at a time and never stored in bulk: the creation carrying the
// whole plan costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum AccountConfigEvent {
    /// `pending`: waiting for the customer to run the bootstrap.
    AccountConfigCreated {
        #[serde(flatten)]
        account: CloudAccount,
    },
    /// The customer connected the account: `verifying`.
    AccountConfigConnected {},
    /// The agent checked the account: `ready`, or `failed` with why.
    AccountConfigVerified {
        ready: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// The customer disconnected a ready account: `ready_to_offboard`.
    AccountConfigDisconnected {},
    AccountConfigDeleted {},
}

impl DomainEvent for AccountConfigEvent {}
