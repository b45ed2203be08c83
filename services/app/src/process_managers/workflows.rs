//! Runs every long instance operation as a workflow, and carries a workflow's end back to its
//! instance:
//!
//! - an instance's creation, stop, start, restart, failover, capacity change, update,
//!   upgrade or deletion starts a workflow with that operation's steps (its id derived from
//!   the event, so a batch read twice starts one);
//! - the agent's report that a deploying instance is ready completes its deployment workflow;
//! - a failed step fails the instance (unless the workflow names another state, as a deletion
//!   does), and the last step done brings it where the workflow was going: a deployment's
//!   instance becomes running, and one failed before, by this workflow or another, recovers.

use async_trait::async_trait;
use fleet_domain::instance::InstanceSpec;
use fleet_domain::instance::{Instance, InstanceCommand, InstanceEvent, InstanceStatus};
use fleet_domain::workflow::{plan_of, Workflow, WorkflowCommand, WorkflowEvent, WorkflowPlan};
use fleet_domain::Aggregate;
use fleet_events::{instance, workflow, EventEnvelope};
use fleet_projections::{ApplyError, Projection};
use sqlx::PgConnection;

use super::{caused_by, settle};
use crate::command_bus::CommandBus;
use crate::workflows::{deployment_of, started_by};

const COMPONENT: &str = "workflows";

pub struct InstanceWorkflows {
    pub bus: CommandBus,
}

/// The kind of workflow an instance event starts, if any.
fn kind_of(event: &InstanceEvent) -> Option<&'static str> {
    use InstanceEvent as E;
    Some(match event {
        E::InstanceCreated { spec, .. } if spec.restored_from.is_some() => "restore",
        E::InstanceCreated { spec, .. } if spec.adopted => "adopt",
        E::InstanceCreated { .. } => "deploy",
        E::InstanceStopped {} => "stop",
        E::InstanceStarted {} => "start",
        E::InstanceRestarted {} => "restart",
        E::InstanceFailedOver { .. } => "failover",
        E::InstanceCapacityChanged { .. } => "capacity",
        E::InstancePatched {
            upgrade_path_id: Some(_),
            ..
        } => "upgrade",
        E::InstancePatched { .. } | E::InstanceUpdated { .. } => "update",
        E::InstanceDeleted { .. } => "delete",
        _ => return None,
    })
}

fn plan(kind: &str, instance_id: &str, spec: &InstanceSpec, event: &InstanceEvent) -> WorkflowPlan {
    let (steps, target) = plan_of(kind).unwrap_or((&["operation"], "running"));
    let (upgrade_path_id, target_version) = match event {
        InstanceEvent::InstancePatched {
            upgrade_path_id,
            tier_version,
            ..
        } => (upgrade_path_id.clone(), tier_version.clone()),
        _ => (None, None),
    };
    WorkflowPlan {
        instance_id: instance_id.to_owned(),
        kind: kind.to_owned(),
        service_id: spec.service_id.clone(),
        plan_id: spec.plan_id.clone(),
        cloud_provider: spec.cloud_provider.clone(),
        region: spec.region.clone(),
        deployment_cell: spec.deployment_cell.clone(),
        environment_type: spec.environment_type.clone(),
        steps: steps.iter().map(|s| (*s).to_owned()).collect(),
        on_failure: if kind == "delete" {
            "deleted"
        } else {
            "failed"
        }
        .to_owned(),
        target_status: target.to_owned(),
        upgrade_path_id,
        target_version,
    }
}

/// How a workflow's failure begins the failure reason of its instance.
fn failure_of(workflow_id: &str) -> String {
    format!("workflow {workflow_id} failed")
}

impl InstanceWorkflows {
    async fn on_instance(&self, envelope: &EventEnvelope) -> Result<(), ApplyError> {
        let event = envelope.decode::<InstanceEvent>()?;
        let instance_id = &envelope.event.aggregate_id;
        if let InstanceEvent::InstanceProvisioned {} = event {
            let meta = caused_by(
                envelope,
                COMPONENT,
                Some(format!("ready:{}", envelope.event.event_id)),
            )?;
            let result = self
                .bus
                .execute::<Workflow>(
                    &meta,
                    &deployment_of(instance_id).to_string(),
                    WorkflowCommand::CompleteAll,
                )
                .await
                .map(|_| ());
            return settle(result, "completing a deployment workflow");
        }
        let Some(kind) = kind_of(&event) else {
            return Ok(());
        };
        let spec = match &event {
            InstanceEvent::InstanceCreated { spec, .. } => spec.clone(),
            _ => {
                let tenant = fleet_events::Tenant::parse(&envelope.event.tenant)
                    .map_err(|e| ApplyError::Unapplicable(e.to_string()))?;
                let state = self
                    .bus
                    .state::<Instance>(&tenant, instance_id)
                    .await
                    .map_err(|e| ApplyError::Transient(e.to_string()))?;
                let Some(spec) = state.spec else {
                    return Ok(());
                };
                spec
            }
        };
        let id = if matches!(event, InstanceEvent::InstanceCreated { .. }) {
            deployment_of(instance_id)
        } else {
            started_by(&envelope.event.event_id)
        };
        let meta = caused_by(envelope, COMPONENT, Some(format!("workflow:{id}")))?;
        let command = WorkflowCommand::Start(Box::new(plan(kind, instance_id, &spec, &event)));
        let result = self
            .bus
            .execute::<Workflow>(&meta, &id.to_string(), command)
            .await
            .map(|_| ());
        settle(result, "starting a workflow")
    }

    async fn on_workflow(&self, envelope: &EventEnvelope) -> Result<(), ApplyError> {
        let event = envelope.decode::<WorkflowEvent>()?;
        let ending = match &event {
            WorkflowEvent::WorkflowStepFailed { step, reason } => Some(Err(format!(
                "{} at step {step}: {reason}",
                failure_of(&envelope.event.aggregate_id)
            ))),
            WorkflowEvent::WorkflowStepCompleted {
                completed: true, ..
            } => Some(Ok(())),
            _ => None,
        };
        let Some(ending) = ending else {
            return Ok(());
        };
        let tenant = fleet_events::Tenant::parse(&envelope.event.tenant)
            .map_err(|e| ApplyError::Unapplicable(e.to_string()))?;
        let workflow = self
            .bus
            .state::<Workflow>(&tenant, &envelope.event.aggregate_id)
            .await
            .map_err(|e| ApplyError::Transient(e.to_string()))?;
        let Some(plan) = workflow.plan else {
            return Ok(());
        };
        let instance = self
            .bus
            .state::<Instance>(&tenant, &plan.instance_id)
            .await
            .map_err(|e| ApplyError::Transient(e.to_string()))?;
        let command = match ending {
            Err(reason) if plan.on_failure == "failed" => InstanceCommand::Fail { reason },
            Err(_) => return Ok(()),
            // Only a failure this workflow caused is undone by its success.
            Ok(())
                if instance.status == InstanceStatus::Failed
                    && instance.failure_reason.as_deref().is_some_and(|r| {
                        r.starts_with(&failure_of(&envelope.event.aggregate_id))
                    }) =>
            {
                InstanceCommand::Recover {
                    to: InstanceStatus::parse(&plan.target_status)
                        .unwrap_or(InstanceStatus::Running),
                }
            }
            Ok(()) if instance.status == InstanceStatus::Deploying => InstanceCommand::MarkReady,
            Ok(()) => return Ok(()),
        };
        let meta = caused_by(
            envelope,
            COMPONENT,
            Some(format!("ended:{}", envelope.event.event_id)),
        )?;
        let result = self
            .bus
            .execute::<Instance>(&meta, &plan.instance_id, command)
            .await
            .map(|_| ());
        settle(result, "carrying a workflow's end to its instance")
    }
}

#[async_trait]
impl Projection for InstanceWorkflows {
    fn name(&self) -> &'static str {
        "instance_workflows"
    }

    fn ddl(&self) -> Vec<&'static str> {
        Vec::new()
    }

    fn handles(&self, aggregate_type: &str) -> bool {
        aggregate_type == instance::AGGREGATE_TYPE || aggregate_type == workflow::AGGREGATE_TYPE
    }

    async fn apply(
        &self,
        _: &mut PgConnection,
        events: &[EventEnvelope],
    ) -> Result<(), ApplyError> {
        for envelope in events {
            if envelope.event.aggregate_type == instance::AGGREGATE_TYPE {
                self.on_instance(envelope).await?;
            } else if envelope.event.aggregate_type == Workflow::TYPE {
                self.on_workflow(envelope).await?;
            }
        }
        Ok(())
    }
}
