//! Custom DNS names of instances: a name points at one instance's resource, and is held by
//! one instance of the tenant at a time.

use fleet_domain::custom_dns::{id_of, CustomDns, CustomDnsCommand};
use fleet_domain::instance::{Instance, InstanceStatus};
use fleet_domain::{Aggregate, DomainError};
use fleet_projections::inventory::{custom_dns, NAME as INVENTORY};

use crate::command_bus::{CommandMeta, Executed};
use crate::{App, AppError};

pub async fn add(
    app: &App,
    meta: &CommandMeta,
    instance_id: &str,
    resource_key: &str,
    name: &str,
    target_port: Option<i64>,
) -> Result<Executed<CustomDns>, AppError> {
    let instance = app.bus.state::<Instance>(&meta.tenant, instance_id).await?;
    if !instance.exists() {
        return Err(AppError::NotFound(format!(
            "instance {instance_id} not found"
        )));
    }
    if instance.status == InstanceStatus::Deleted {
        return Err(DomainError::InvalidState {
            aggregate: "instance",
            action: "add a custom DNS name to",
            state: instance.status.to_string(),
        }
        .into());
    }
    fleet_domain::custom_dns::validate_name(name)?;
    let claim = CustomDnsCommand::Claim {
        name: name.to_owned(),
        instance_id: instance_id.to_owned(),
        resource_key: resource_key.to_owned(),
        target_port,
    };
    Ok(app
        .bus
        .execute::<CustomDns>(meta, &id_of(name).to_string(), claim)
        .await?)
}

/// Frees the name pointing at the instance's resource; none is not found.
pub async fn remove(
    app: &App,
    meta: &CommandMeta,
    instance_id: &str,
    resource_key: &str,
) -> Result<Executed<CustomDns>, AppError> {
    app.caught_up_on(&meta.tenant, CustomDns::TYPE, INVENTORY)
        .await?;
    let held = custom_dns::of_instance(&app.pool, meta.tenant.as_str(), instance_id).await?;
    let Some(row) = held.into_iter().find(|r| r.resource_key == resource_key) else {
        return Err(AppError::NotFound(format!(
            "instance {instance_id} has no custom DNS name for {resource_key}"
        )));
    };
    let release = CustomDnsCommand::Release {
        instance_id: instance_id.to_owned(),
    };
    Ok(app
        .bus
        .execute::<CustomDns>(meta, &id_of(&row.name).to_string(), release)
        .await?)
}
