//! Custom networks: created in their provider region's network space, which refuses
//! overlapping ranges; renamed and deleted through the space the inventory says holds them.

use fleet_domain::network_space::{id_of, CustomNetwork, NetworkSpace, NetworkSpaceCommand};
use fleet_domain::Aggregate;
use fleet_projections::inventory::{networks, NAME as INVENTORY};

use crate::command_bus::{CommandMeta, Executed};
use crate::{App, AppError};

pub async fn create(
    app: &App,
    meta: &CommandMeta,
    network: CustomNetwork,
) -> Result<Executed<NetworkSpace>, AppError> {
    let space = id_of(&network.cloud_provider, &network.region).to_string();
    Ok(app
        .bus
        .execute::<NetworkSpace>(meta, &space, NetworkSpaceCommand::Create(Box::new(network)))
        .await?)
}

/// Renames (`Some`) or deletes (`None`) a live network of the tenant.
pub async fn change(
    app: &App,
    meta: &CommandMeta,
    network_id: &str,
    rename: Option<String>,
) -> Result<Executed<NetworkSpace>, AppError> {
    app.caught_up_on(&meta.tenant, NetworkSpace::TYPE, INVENTORY)
        .await?;
    let row = networks::get(&app.pool, meta.tenant.as_str(), network_id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("custom network {network_id} not found")))?;
    let space = id_of(&row.cloud_provider, &row.region).to_string();
    let network_id = network_id.to_owned();
    let command = match rename {
        Some(name) => NetworkSpaceCommand::Rename { network_id, name },
        None => NetworkSpaceCommand::Delete { network_id },
    };
    Ok(app
        .bus
        .execute::<NetworkSpace>(meta, &space, command)
        .await?)
}
