//! Deploys services orchestrations: each deployment's instance is created once every
//! deployment it depends on is running; an instance that becomes running or fails settles its
//! deployment; a deleted orchestration deletes its instances. Instance ids are derived from the
//! orchestration and the alias, so a retried creation meets the same instance.
//!
//! It keeps its own table of which instance belongs to which deployment, written with its
//! checkpoint, so it recognises the instances' events whatever the other read models do.

use async_trait::async_trait;
use fleet_domain::instance::{InstanceEvent, InstanceSpec};
use fleet_domain::orchestration::{
    Deployment, Orchestration, OrchestrationCommand, OrchestrationEvent,
};
use fleet_domain::Aggregate;
use fleet_events::{instance, orchestration, EventEnvelope, Tenant};
use fleet_projections::{ApplyError, Projection};
use sqlx::PgConnection;

use super::{caused_by, settle};
use crate::command_bus::{CommandBus, CommandError};
use crate::AppError;

const COMPONENT: &str = "services-orchestration";

pub struct OrchestrationDeployments {
    pub bus: CommandBus,
}

const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS members (
    tenant           text NOT NULL,
    instance_id      text NOT NULL,
    orchestration_id text NOT NULL,
    alias            text NOT NULL,
    PRIMARY KEY (tenant, instance_id)
);
"#;

impl OrchestrationDeployments {
    async fn state(&self, envelope: &EventEnvelope, id: &str) -> Result<Orchestration, ApplyError> {
        let tenant = Tenant::parse(&envelope.event.tenant)
            .map_err(|e| ApplyError::Unapplicable(e.to_string()))?;
        self.bus
            .state::<Orchestration>(&tenant, id)
            .await
            .map_err(|e| ApplyError::Transient(e.to_string()))
    }

    /// Creates the instances of the deployments whose dependencies are all running.
    async fn deploy_ready(&self, envelope: &EventEnvelope, id: &str) -> Result<(), ApplyError> {
        let state = self.state(envelope, id).await?;
        if !state.exists() {
            return Ok(());
        }
        let environment = state.environment_type.clone();
        for d in &state.deployments {
            let ready = d
                .depends_on
                .iter()
                .all(|a| state.settled.get(a) == Some(&true));
            if ready && !state.settled.contains_key(&d.alias) {
                self.create(envelope, id, d, &environment).await?;
            }
        }
        Ok(())
    }

    async fn create(
        &self,
        envelope: &EventEnvelope,
        id: &str,
        d: &Deployment,
        environment_type: &str,
    ) -> Result<(), ApplyError> {
        // Created before (this batch read again after a crash): nothing to do.
        let tenant = Tenant::parse(&envelope.event.tenant)
            .map_err(|e| ApplyError::Unapplicable(e.to_string()))?;
        let existing = self
            .bus
            .state::<fleet_domain::instance::Instance>(&tenant, &d.instance_id)
            .await
            .map_err(|e| ApplyError::Transient(e.to_string()))?;
        if existing.exists() {
            return Ok(());
        }
        let meta = caused_by(
            envelope,
            COMPONENT,
            Some(format!("deploy:{}", d.instance_id)),
        )?;
        let spec = InstanceSpec {
            name: Some(d.alias.clone()),
            service_id: d.service_id.clone(),
            plan_id: d.plan_id.clone(),
            cloud_provider: d.cloud_provider.clone(),
            region: d.region.clone(),
            deployment_cell: "default".into(),
            instance_type: d.instance_type.clone(),
            environment_type: environment_type.to_owned(),
            customer_id: None,
            subscription_id: None,
            restored_from: None,
            adopted: false,
            tier_version: None,
        };
        let created = crate::instances::create_instance_as(
            &self.bus,
            &meta,
            &d.subscription_id,
            d.instance_id.clone(),
            spec,
            1,
        )
        .await;
        let refusal = match created {
            Ok(_) => return Ok(()),
            Err(AppError::Unavailable(e)) | Err(AppError::Internal(e)) => {
                return Err(ApplyError::Transient(format!("deploying {}: {e}", d.alias)))
            }
            Err(refusal) => refusal.to_string(),
        };
        // A deployment that cannot even be created (its subscription is gone, say) settles
        // failed, with why.
        let meta = caused_by(
            envelope,
            COMPONENT,
            Some(format!("refused:{}", d.instance_id)),
        )?;
        let command = OrchestrationCommand::Settle {
            alias: d.alias.clone(),
            deployed: false,
            reason: Some(refusal),
        };
        let result = self
            .bus
            .execute::<Orchestration>(&meta, id, command)
            .await
            .map(|_| ());
        settle(result, "settling a refused deployment")
    }

    async fn remember(
        tx: &mut PgConnection,
        envelope: &EventEnvelope,
        deployments: &[Deployment],
    ) -> Result<(), ApplyError> {
        for d in deployments {
            sqlx::query(
                "INSERT INTO members (tenant, instance_id, orchestration_id, alias)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(&envelope.event.tenant)
            .bind(&d.instance_id)
            .bind(&envelope.event.aggregate_id)
            .bind(&d.alias)
            .execute(&mut *tx)
            .await?;
        }
        Ok(())
    }

    async fn on_instance(
        &self,
        tx: &mut PgConnection,
        envelope: &EventEnvelope,
    ) -> Result<(), ApplyError> {
        let (deployed, reason) = match envelope.decode::<InstanceEvent>()? {
            InstanceEvent::InstanceProvisioned {} => (true, None),
            InstanceEvent::InstanceFailed { reason, .. } => (false, Some(reason)),
            _ => return Ok(()),
        };
        let member: Option<(String, String)> = sqlx::query_as(
            "SELECT orchestration_id, alias FROM members WHERE tenant = $1 AND instance_id = $2",
        )
        .bind(&envelope.event.tenant)
        .bind(&envelope.event.aggregate_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((id, alias)) = member else {
            return Ok(());
        };
        let meta = caused_by(
            envelope,
            COMPONENT,
            Some(format!("settled:{}", envelope.event.event_id)),
        )?;
        let command = OrchestrationCommand::Settle {
            alias,
            deployed,
            reason,
        };
        let result = self
            .bus
            .execute::<Orchestration>(&meta, &id, command)
            .await
            .map(|_| ());
        settle(result, "settling a deployment")
    }

    async fn tear_down(&self, envelope: &EventEnvelope) -> Result<(), ApplyError> {
        let state = self.state(envelope, &envelope.event.aggregate_id).await?;
        for d in &state.deployments {
            let meta = caused_by(
                envelope,
                COMPONENT,
                Some(format!("teardown:{}", d.instance_id)),
            )?;
            match crate::instances::delete_instance(&self.bus, &meta, &d.instance_id).await {
                // Never created, or deleted already.
                Ok(_) | Err(CommandError::Domain(_)) => {}
                Err(e) => return Err(ApplyError::Transient(format!("tearing down: {e}"))),
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Projection for OrchestrationDeployments {
    fn name(&self) -> &'static str {
        "orchestration_deployments"
    }

    fn ddl(&self) -> Vec<&'static str> {
        vec![DDL]
    }

    fn handles(&self, aggregate_type: &str) -> bool {
        aggregate_type == orchestration::AGGREGATE_TYPE
            || aggregate_type == instance::AGGREGATE_TYPE
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        events: &[EventEnvelope],
    ) -> Result<(), ApplyError> {
        for envelope in events {
            if envelope.event.aggregate_type == instance::AGGREGATE_TYPE {
                self.on_instance(tx, envelope).await?;
                continue;
            }
            let id = envelope.event.aggregate_id.clone();
            match envelope.decode::<OrchestrationEvent>()? {
                OrchestrationEvent::OrchestrationCreated { deployments, .. } => {
                    Self::remember(tx, envelope, &deployments).await?;
                    self.deploy_ready(envelope, &id).await?;
                }
                OrchestrationEvent::OrchestrationModified { added } => {
                    Self::remember(tx, envelope, &added).await?;
                    self.deploy_ready(envelope, &id).await?;
                }
                OrchestrationEvent::OrchestrationDeploymentSettled { deployed: true, .. } => {
                    self.deploy_ready(envelope, &id).await?
                }
                OrchestrationEvent::OrchestrationDeploymentSettled { .. } => {}
                OrchestrationEvent::OrchestrationDeleted {} => self.tear_down(envelope).await?,
            }
        }
        Ok(())
    }
}
