//! Host clusters (deployment cells): registration, deletion once empty, and the credentials
//! issued for them. A credential is shown to its caller once; the stream keeps only its
//! fingerprint and expiry.

use chrono::{Duration, Utc};
use fleet_domain::host_cluster::{validate_id, HostCluster, HostClusterCommand, HostClusterStatus};
use fleet_domain::{Aggregate, DomainError};
use fleet_projections::inventory::{host_clusters, NAME as INVENTORY};

use crate::command_bus::{CommandMeta, Executed};
use crate::{App, AppError};

/// How long an issued credential is valid.
pub const CREDENTIAL_LIFETIME: Duration = Duration::hours(1);

/// The fields of a registration.
pub struct Registration {
    pub id: String,
    /// `created` or `adopted`.
    pub origin: String,
    pub cloud_provider: String,
    pub region: String,
    pub description: String,
    pub customer_email: Option<String>,
}

pub async fn register(
    app: &App,
    meta: &CommandMeta,
    registration: Registration,
) -> Result<Executed<HostCluster>, AppError> {
    validate_id(&registration.id)?;
    let command = HostClusterCommand::Register {
        origin: registration.origin,
        cloud_provider: registration.cloud_provider.to_ascii_lowercase(),
        region: registration.region,
        description: registration.description,
        customer_email: registration.customer_email,
    };
    Ok(app
        .bus
        .execute::<HostCluster>(meta, &registration.id, command)
        .await?)
}

/// Deletes the cluster, refused while instances live in it.
pub async fn delete(
    app: &App,
    meta: &CommandMeta,
    id: &str,
) -> Result<Executed<HostCluster>, AppError> {
    validate_id(id).map_err(|_| AppError::NotFound(format!("host cluster {id} not found")))?;
    app.caught_up_on(
        &meta.tenant,
        fleet_events::instance::AGGREGATE_TYPE,
        INVENTORY,
    )
    .await?;
    let live_instances = host_clusters::live_instances(&app.pool, meta.tenant.as_str(), id).await?;
    Ok(app
        .bus
        .execute::<HostCluster>(meta, id, HostClusterCommand::Delete { live_instances })
        .await?)
}

/// A credential for a READY cluster: the secret, shown once, and the command's result.
pub async fn issue_credential(
    app: &App,
    meta: &CommandMeta,
    id: &str,
    credential: &str,
    role: Option<String>,
) -> Result<(String, Executed<HostCluster>), AppError> {
    validate_id(id).map_err(|_| AppError::NotFound(format!("host cluster {id} not found")))?;
    let bytes: [u8; 32] = rand::random();
    let secret = hex::encode(bytes);
    let command = HostClusterCommand::IssueCredential {
        credential: credential.to_owned(),
        role,
        fingerprint: crate::webhooks::fingerprint(&secret),
        expires_at: Utc::now() + CREDENTIAL_LIFETIME,
    };
    let executed = app.bus.execute::<HostCluster>(meta, id, command).await?;
    Ok((secret, executed))
}

/// An instance may be placed in a registered cell only while the cell is READY; a cell name
/// no cluster is registered under is taken as it is.
pub async fn check_placement(
    bus: &crate::command_bus::CommandBus,
    meta: &CommandMeta,
    cell: &str,
) -> Result<(), AppError> {
    if validate_id(cell).is_err() {
        return Ok(());
    }
    let cluster = bus.state::<HostCluster>(&meta.tenant, cell).await?;
    if cluster.exists() && cluster.status != HostClusterStatus::Ready {
        return Err(DomainError::InvalidState {
            aggregate: "host cluster",
            action: "place an instance in",
            state: cluster.status.as_str().into(),
        }
        .into());
    }
    Ok(())
}
