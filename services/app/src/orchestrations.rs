//! Services orchestrations: the deployments of a description, each with an instance id
//! derived from the orchestration and its alias.

use fleet_domain::orchestration::{Deployment, Orchestration, OrchestrationCommand};
use uuid::Uuid;

use crate::command_bus::{CommandMeta, Executed};
use crate::{App, AppError};

/// The instance of a deployment.
pub fn instance_of(orchestration_id: &Uuid, alias: &str) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_OID,
        format!("orchestration:{orchestration_id}:{alias}").as_bytes(),
    )
}

/// Gives each deployment its instance id.
pub fn placed(orchestration_id: &Uuid, mut deployments: Vec<Deployment>) -> Vec<Deployment> {
    for d in &mut deployments {
        d.instance_id = instance_of(orchestration_id, &d.alias).to_string();
    }
    deployments
}

pub async fn create(
    app: &App,
    meta: &CommandMeta,
    environment_type: String,
    deployments: Vec<Deployment>,
) -> Result<Executed<Orchestration>, AppError> {
    let id = Uuid::now_v7();
    let command = OrchestrationCommand::Create {
        environment_type,
        deployments: placed(&id, deployments),
    };
    Ok(app
        .bus
        .execute_on_new::<Orchestration>(meta, &id.to_string(), command)
        .await?)
}

/// Runs a command on an orchestration.
pub async fn change(
    app: &App,
    meta: &CommandMeta,
    id: Uuid,
    command: OrchestrationCommand,
) -> Result<Executed<Orchestration>, AppError> {
    let command = match command {
        OrchestrationCommand::Modify { added } => OrchestrationCommand::Modify {
            added: placed(&id, added),
        },
        other => other,
    };
    let state = app
        .bus
        .state::<Orchestration>(&meta.tenant, &id.to_string())
        .await?;
    if !state.created {
        return Err(AppError::NotFound(format!(
            "services orchestration so-{id} not found"
        )));
    }
    Ok(app
        .bus
        .execute::<Orchestration>(meta, &id.to_string(), command)
        .await?)
}
