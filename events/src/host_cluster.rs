//! Events of the `host_cluster` aggregate: a deployment cell, the cluster instances are
//! placed in. Its id is the cell's name, the `deployment_cell` of its instances.
//!
//! Subject: `<namespace>.<tenant>.host_cluster.<cell id>`. Schema version 1. Credentials
//! issued for a cluster never travel in an event: only their fingerprint and expiry do.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::DomainEvent;

pub const AGGREGATE_TYPE: &str = "host_cluster";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum HostClusterEvent {
    /// Registered, and being deployed (`created`) or connected (`adopted`) by its agent.
    HostClusterRegistered {
        /// `created` (Fleetledger's provider deploys it) or `adopted` (self-managed).
        origin: String,
        cloud_provider: String,
        region: String,
        description: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        customer_email: Option<String>,
    },
    /// The agent reports the cluster ready: its deployment is done.
    HostClusterReady {},
    HostClusterFailed {
        reason: String,
    },
    /// The amenities to install next, and whether to follow the organisation's template.
    HostClusterConfigurationUpdated {
        pending_amenities: Vec<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sync_with_org_template: Option<bool>,
    },
    /// The pending amenities are being installed: the cluster deploys again.
    HostClusterChangesApplied {
        amenities: Vec<Value>,
    },
    HostClusterDeploymentCancelled {},
    HostClusterDeploymentRestarted {},
    HostClusterNodePoolResized {
        node_pool: String,
        max_size: i64,
    },
    /// A dashboard token or a kubeconfig was issued; the credential itself was shown to the
    /// caller once.
    HostClusterCredentialIssued {
        /// `dashboard_token` or `kubeconfig`.
        credential: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        role: Option<String>,
        fingerprint: String,
        expires_at: DateTime<Utc>,
    },
    HostClusterDeleted {
        previous_status: String,
    },
}

impl DomainEvent for HostClusterEvent {}
