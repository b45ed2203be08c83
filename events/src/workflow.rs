//! Events of the `workflow` aggregate: the run of one long instance operation (a deployment,
//! a stop, an upgrade…) on the infrastructure, step by step, as its agent reports it.
//!
//! Subject: `<namespace>.<tenant>.workflow.<workflow id>`. Schema version 1. A workflow's id
//! is derived from the instance event that started it (UUIDv5), so that the event read twice
//! starts one workflow.

use serde::{Deserialize, Serialize};

use crate::DomainEvent;

pub const AGGREGATE_TYPE: &str = "workflow";

/// What a workflow runs for, fixed when it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WorkflowPlan {
    pub instance_id: String,
    /// deploy, restore, adopt, stop, start, restart, failover, capacity, update, upgrade or
    /// delete.
    pub kind: String,
    pub service_id: String,
    pub plan_id: String,
    pub cloud_provider: String,
    pub region: String,
    pub deployment_cell: String,
    pub environment_type: String,
    /// The steps, in the order they run.
    pub steps: Vec<String>,
    /// The instance state a failed step leaves: `failed`, or `deleted` for a deletion.
    pub on_failure: String,
    /// The instance state the workflow brings about once every step is done.
    pub target_status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_path_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_version: Option<String>,
}

// Events are decoded one at a time and never stored in bulk: the creation carrying the
// whole plan costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum WorkflowEvent {
    WorkflowStarted {
        #[serde(flatten)]
        plan: WorkflowPlan,
    },
    /// A step is done; `completed` when it was the last one.
    WorkflowStepCompleted {
        step: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        completed: bool,
    },
    /// A step failed: the workflow is `failed`, and the instance is in `on_failure`.
    WorkflowStepFailed {
        step: String,
        reason: String,
    },
    WorkflowPaused {},
    WorkflowResumed {},
    /// A failed workflow runs again from its failed step.
    WorkflowRetried {
        step: String,
    },
    WorkflowTerminated {
        reason: String,
        by: String,
    },
}

impl DomainEvent for WorkflowEvent {}
