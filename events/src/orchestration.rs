//! Events of the `orchestration` aggregate: several services deployed together from one
//! description, each deployment after the ones it depends on.
//!
//! Subject: `<namespace>.<tenant>.orchestration.<id>`. Schema version 1. A deployment's
//! instance id is derived from the orchestration and its alias (UUIDv5).

use serde::{Deserialize, Serialize};

use crate::DomainEvent;

pub const AGGREGATE_TYPE: &str = "orchestration";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Deployment {
    pub alias: String,
    pub service_id: String,
    pub plan_id: String,
    pub subscription_id: String,
    pub cloud_provider: String,
    pub region: String,
    pub instance_type: String,
    #[serde(default)]
    pub depends_on: Vec<String>,
    pub instance_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum OrchestrationEvent {
    OrchestrationCreated {
        environment_type: String,
        deployments: Vec<Deployment>,
    },
    /// A modification added deployments.
    OrchestrationModified { added: Vec<Deployment> },
    /// A deployment's instance is running (`true`) or could not be deployed.
    OrchestrationDeploymentSettled {
        alias: String,
        deployed: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Its deployments are being torn down.
    OrchestrationDeleted {},
}

impl DomainEvent for OrchestrationEvent {}
