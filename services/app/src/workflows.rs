//! Workflows: every long instance operation runs as one, step by step, reported by the agent
//! that does the work. The instance's lifecycle event is the decision; its workflow is the
//! execution, and a failed step leaves the instance in the state the workflow names.

use fleet_domain::workflow::{Workflow, WorkflowCommand};
use uuid::Uuid;

use crate::command_bus::{CommandMeta, Executed};
use crate::{App, AppError};

/// The id of an instance's deployment workflow: one per instance, so that the agent's report
/// that the instance is ready finds it without a lookup.
pub fn deployment_of(instance_id: &str) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_OID,
        format!("workflow:deploy:{instance_id}").as_bytes(),
    )
}

/// The id of the workflow an instance event started.
pub fn started_by(event_id: &Uuid) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_OID,
        format!("workflow:{event_id}").as_bytes(),
    )
}

/// The workflow an instance event starts, if it starts one: a creation its instance's
/// deployment, each other operation one of its own. The one place that says which events
/// start workflows (the process manager starts them, Omnistrate's audit names them).
pub fn started_by_event(event_type: &str, instance_id: &str, event_id: &Uuid) -> Option<Uuid> {
    match event_type {
        "InstanceCreated" => Some(deployment_of(instance_id)),
        "InstanceStopped"
        | "InstanceStarted"
        | "InstanceRestarted"
        | "InstanceFailedOver"
        | "InstanceCapacityChanged"
        | "InstancePatched"
        | "InstanceUpdated"
        | "InstanceDeleted" => Some(started_by(event_id)),
        _ => None,
    }
}

/// What the agent reports about a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    Completed,
    Failed,
}

/// The agent's report on the workflow's running step.
pub async fn report_step(
    app: &App,
    meta: &CommandMeta,
    workflow_id: &str,
    step: &str,
    outcome: StepOutcome,
    message: Option<String>,
) -> Result<Executed<Workflow>, AppError> {
    let command = match outcome {
        StepOutcome::Completed => WorkflowCommand::CompleteStep {
            step: step.to_owned(),
            message,
        },
        StepOutcome::Failed => WorkflowCommand::FailStep {
            step: step.to_owned(),
            reason: message.unwrap_or_default(),
        },
    };
    Ok(app
        .bus
        .execute::<Workflow>(meta, workflow_id, command)
        .await?)
}
