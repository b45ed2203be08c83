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
//!
//! It keeps each instance's spec in its own table, written with its checkpoint, so a later
//! operation's workflow is planned without reading the instance's history (an instance created
//! before it kept specs is read once). Instance events recorded before the first start of a
//! fleetd with workflows (a deployment upgraded to this version) are history: their operations
//! ran before workflows existed, and start none.

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
use crate::workflows::deployment_of;

const COMPONENT: &str = "workflows";

const DDL: &str = r#"
-- When a fleetd with workflows first started: instance events before then start none.
CREATE TABLE IF NOT EXISTS since (
    one  boolean PRIMARY KEY DEFAULT true CHECK (one),
    at   timestamptz NOT NULL DEFAULT now()
);
INSERT INTO since (one) VALUES (true) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS instance_specs (
    tenant      text NOT NULL,
    instance_id text NOT NULL,
    spec        jsonb NOT NULL,
    PRIMARY KEY (tenant, instance_id)
);
"#;

/// Specs by (tenant, instance id).
type Specs = std::collections::HashMap<(String, String), InstanceSpec>;

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
    async fn on_instance(
        &self,
        envelope: &EventEnvelope,
        event: InstanceEvent,
        specs: &mut Specs,
    ) -> Result<(), ApplyError> {
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
        let key = (envelope.event.tenant.clone(), instance_id.clone());
        let spec = match specs.get(&key) {
            Some(spec) => spec.clone(),
            // Created before this process manager kept specs: read once from its history.
            None => {
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
                specs.insert(key, spec.clone());
                spec
            }
        };
        let Some(id) = crate::workflows::started_by_event(
            &envelope.event.event_type,
            instance_id,
            &envelope.event.event_id,
        ) else {
            return Ok(());
        };
        let meta = caused_by(envelope, COMPONENT, Some(format!("workflow:{id}")))?;
        let command = WorkflowCommand::Start(Box::new(plan(kind, instance_id, &spec, &event)));
        // The id is this event's own: new, unless this batch is read again after a crash (then
        // the append is refused, the workflow found, and the start is settled as done).
        let result = self
            .bus
            .execute_on_new::<Workflow>(&meta, &id.to_string(), command)
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
        vec![DDL]
    }

    fn handles(&self, aggregate_type: &str) -> bool {
        aggregate_type == instance::AGGREGATE_TYPE || aggregate_type == workflow::AGGREGATE_TYPE
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        events: &[EventEnvelope],
    ) -> Result<(), ApplyError> {
        // A minute's margin for clocks: PostgreSQL's set `since`, fleetd's stamped the events.
        let since: chrono::DateTime<chrono::Utc> =
            sqlx::query_scalar("SELECT at - interval '1 minute' FROM since")
                .fetch_one(&mut *tx)
                .await?;
        // The specs of the batch's instances, read in one query; the batch's creations add
        // theirs, written in one insert at the end.
        let (tenants, ids): (Vec<String>, Vec<String>) = events
            .iter()
            .filter(|e| e.event.aggregate_type == instance::AGGREGATE_TYPE)
            .map(|e| (e.event.tenant.clone(), e.event.aggregate_id.clone()))
            .unzip();
        let known: Vec<(String, String, sqlx::types::Json<InstanceSpec>)> = sqlx::query_as(
            "SELECT s.tenant, s.instance_id, s.spec FROM instance_specs s
               JOIN UNNEST($1::text[], $2::text[]) AS k(tenant, instance_id)
                 ON s.tenant = k.tenant AND s.instance_id = k.instance_id",
        )
        .bind(&tenants)
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        let mut specs: Specs = known
            .into_iter()
            .map(|(tenant, id, spec)| ((tenant, id), spec.0))
            .collect();
        let mut created: Vec<(String, String, serde_json::Value)> = Vec::new();
        for envelope in events {
            if envelope.event.aggregate_type == instance::AGGREGATE_TYPE {
                let event = envelope.decode::<InstanceEvent>()?;
                if let InstanceEvent::InstanceCreated { spec, .. } = &event {
                    let key = (
                        envelope.event.tenant.clone(),
                        envelope.event.aggregate_id.clone(),
                    );
                    created.push((
                        key.0.clone(),
                        key.1.clone(),
                        serde_json::to_value(spec).unwrap_or_default(),
                    ));
                    specs.insert(key, spec.clone());
                }
                if envelope.recorded_at >= since {
                    self.on_instance(envelope, event, &mut specs).await?;
                }
            } else if envelope.event.aggregate_type == Workflow::TYPE {
                self.on_workflow(envelope).await?;
            }
        }
        let (tenants, ids, values): (Vec<_>, Vec<_>, Vec<_>) =
            created
                .into_iter()
                .fold((vec![], vec![], vec![]), |mut acc, (t, i, v)| {
                    acc.0.push(t);
                    acc.1.push(i);
                    acc.2.push(v);
                    acc
                });
        sqlx::query(
            "INSERT INTO instance_specs (tenant, instance_id, spec)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::jsonb[])
             ON CONFLICT DO NOTHING",
        )
        .bind(&tenants)
        .bind(&ids)
        .bind(&values)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}
