//! Rolls upgrade paths: the instances a path starts are upgraded, each by its own command,
//! and the end of each instance's upgrade workflow is reported back to the path, which starts
//! the next ones. An instance that cannot be upgraded when its turn comes (it stopped, or
//! was deleted) ends failed at once, with the reason; one on the target version already ends
//! completed, so that no instance is upgraded twice.

use async_trait::async_trait;
use fleet_domain::instance::{Instance, InstanceCommand};
use fleet_domain::upgrade_path::{UpgradePath, UpgradePathCommand, UpgradePathEvent};
use fleet_domain::workflow::{Workflow, WorkflowEvent};
use fleet_domain::{Aggregate, DomainError};
use fleet_events::{upgrade_path, workflow, EventEnvelope, Tenant};
use fleet_projections::{ApplyError, Projection};
use sqlx::PgConnection;

use super::{caused_by, settle};
use crate::command_bus::{CommandBus, CommandError};

const COMPONENT: &str = "upgrade-paths";

pub struct UpgradeRollout {
    pub bus: CommandBus,
}

fn tenant_of(envelope: &EventEnvelope) -> Result<Tenant, ApplyError> {
    Tenant::parse(&envelope.event.tenant).map_err(|e| ApplyError::Unapplicable(e.to_string()))
}

impl UpgradeRollout {
    async fn finish(
        &self,
        envelope: &EventEnvelope,
        path_id: &str,
        instance_id: &str,
        outcome: Result<(), String>,
    ) -> Result<(), ApplyError> {
        let meta = caused_by(
            envelope,
            COMPONENT,
            Some(format!("upgrade-ended:{path_id}:{instance_id}")),
        )?;
        let command = UpgradePathCommand::Finish {
            instance_id: instance_id.to_owned(),
            succeeded: outcome.is_ok(),
            reason: outcome.err(),
        };
        let result = self
            .bus
            .execute::<UpgradePath>(&meta, path_id, command)
            .await
            .map(|_| ());
        settle(result, "finishing an instance's upgrade")
    }

    async fn start(&self, envelope: &EventEnvelope, started: &[String]) -> Result<(), ApplyError> {
        if started.is_empty() {
            return Ok(());
        }
        let tenant = tenant_of(envelope)?;
        let path_id = &envelope.event.aggregate_id;
        let path = self
            .bus
            .state::<UpgradePath>(&tenant, path_id)
            .await
            .map_err(|e| ApplyError::Transient(e.to_string()))?;
        let Some(plan) = path.plan else {
            return Ok(());
        };
        for instance_id in started {
            let meta = caused_by(
                envelope,
                COMPONENT,
                Some(format!("upgrade:{path_id}:{instance_id}")),
            )?;
            let command = InstanceCommand::Upgrade {
                version: plan.target_version.clone(),
                upgrade_path_id: path_id.clone(),
            };
            match self
                .bus
                .execute::<Instance>(&meta, instance_id, command)
                .await
            {
                Ok(_) => {}
                Err(CommandError::Domain(DomainError::Unchanged { .. })) => {
                    self.finish(envelope, path_id, instance_id, Ok(())).await?
                }
                Err(CommandError::Domain(refusal)) => {
                    let reason = format!("the instance could not be upgraded: {refusal}");
                    self.finish(envelope, path_id, instance_id, Err(reason))
                        .await?
                }
                Err(e) => return Err(ApplyError::Transient(format!("upgrading: {e}"))),
            }
        }
        Ok(())
    }

    async fn on_workflow(&self, envelope: &EventEnvelope) -> Result<(), ApplyError> {
        let outcome = match envelope.decode::<WorkflowEvent>()? {
            WorkflowEvent::WorkflowStepCompleted {
                completed: true, ..
            } => Ok(()),
            WorkflowEvent::WorkflowStepFailed { step, reason } => {
                Err(format!("the upgrade failed at step {step}: {reason}"))
            }
            WorkflowEvent::WorkflowTerminated { reason, .. } => {
                Err(format!("the upgrade was terminated: {reason}"))
            }
            _ => return Ok(()),
        };
        let workflow = self
            .bus
            .state::<Workflow>(&tenant_of(envelope)?, &envelope.event.aggregate_id)
            .await
            .map_err(|e| ApplyError::Transient(e.to_string()))?;
        let Some(plan) = workflow.plan else {
            return Ok(());
        };
        let Some(path_id) = plan.upgrade_path_id.as_deref() else {
            return Ok(());
        };
        self.finish(envelope, path_id, &plan.instance_id, outcome)
            .await
    }
}

#[async_trait]
impl Projection for UpgradeRollout {
    fn name(&self) -> &'static str {
        "upgrade_rollout"
    }

    fn ddl(&self) -> Vec<&'static str> {
        Vec::new()
    }

    fn handles(&self, aggregate_type: &str) -> bool {
        aggregate_type == upgrade_path::AGGREGATE_TYPE || aggregate_type == workflow::AGGREGATE_TYPE
    }

    async fn apply(
        &self,
        _: &mut PgConnection,
        events: &[EventEnvelope],
    ) -> Result<(), ApplyError> {
        for envelope in events {
            if envelope.event.aggregate_type == Workflow::TYPE {
                self.on_workflow(envelope).await?;
                continue;
            }
            let started = match envelope.decode::<UpgradePathEvent>()? {
                UpgradePathEvent::UpgradePathCreated { started, .. }
                | UpgradePathEvent::UpgradePathReleased { started }
                | UpgradePathEvent::UpgradePathResumed { started }
                | UpgradePathEvent::UpgradeInstanceFinished { started, .. } => started,
                _ => continue,
            };
            self.start(envelope, &started).await?;
        }
        Ok(())
    }
}
