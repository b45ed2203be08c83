//! Snapshots of instances, their copies to other regions, and restores into new instances.
//! Each rule is decided from the aggregates' own histories: the instance must be running to
//! be snapshotted, a snapshot completed to be copied or restored.

use fleet_domain::instance::{Instance, InstanceStatus};
use fleet_domain::snapshot::{Snapshot, SnapshotCommand, Taken};
use fleet_domain::{Aggregate, DomainError};
use uuid::Uuid;

use crate::command_bus::{CommandMeta, Executed};
use crate::{App, AppError};

/// `manual` or `automated`.
pub async fn take_snapshot(
    app: &App,
    meta: &CommandMeta,
    instance_id: &str,
    kind: &str,
) -> Result<Executed<Snapshot>, AppError> {
    let instance = app.bus.state::<Instance>(&meta.tenant, instance_id).await?;
    let Some(spec) = instance.spec.clone() else {
        return Err(AppError::NotFound(format!(
            "instance {instance_id} not found"
        )));
    };
    if instance.status != InstanceStatus::Running {
        return Err(DomainError::InvalidState {
            aggregate: Instance::TYPE,
            action: "snapshot",
            state: instance.status.to_string(),
        }
        .into());
    }
    let taken = Taken {
        source_instance_id: instance_id.to_owned(),
        region: spec.region.clone(),
        source: spec,
        source_capacity: instance.capacity,
        kind: kind.to_owned(),
        copied_from: None,
    };
    request(app, meta, taken).await
}

/// A copy of a completed snapshot, kept in `target_region`.
pub async fn copy_snapshot(
    app: &App,
    meta: &CommandMeta,
    snapshot_id: &str,
    target_region: &str,
) -> Result<Executed<Snapshot>, AppError> {
    let source = restorable(app, meta, snapshot_id, "copy").await?;
    let taken = Taken {
        region: target_region.to_owned(),
        copied_from: Some(snapshot_id.to_owned()),
        kind: "manual".into(),
        ..source
    };
    request(app, meta, taken).await
}

async fn request(
    app: &App,
    meta: &CommandMeta,
    taken: Taken,
) -> Result<Executed<Snapshot>, AppError> {
    let id = Uuid::now_v7().to_string();
    Ok(app
        .bus
        .execute_on_new::<Snapshot>(meta, &id, SnapshotCommand::Request(Box::new(taken)))
        .await?)
}

/// What a completed snapshot holds; any other state refuses `action`.
async fn restorable(
    app: &App,
    meta: &CommandMeta,
    snapshot_id: &str,
    action: &'static str,
) -> Result<Taken, AppError> {
    let snapshot = app.bus.state::<Snapshot>(&meta.tenant, snapshot_id).await?;
    let Some(taken) = snapshot.taken.clone() else {
        return Err(AppError::NotFound(format!(
            "snapshot {snapshot_id} not found"
        )));
    };
    if !snapshot.restorable() {
        return Err(DomainError::InvalidState {
            aggregate: Snapshot::TYPE,
            action,
            state: snapshot.status.to_string(),
        }
        .into());
    }
    Ok(taken)
}

/// A new instance from a completed snapshot: the source instance as it was, in the
/// snapshot's region, under the source's subscription; its creation names the snapshot.
pub async fn restore(
    app: &App,
    meta: &CommandMeta,
    snapshot_id: &str,
) -> Result<Executed<Instance>, AppError> {
    let taken = restorable(app, meta, snapshot_id, "restore").await?;
    let Some(subscription_id) = taken.source.subscription_id.clone() else {
        return Err(AppError::conflict(format!(
            "snapshot {snapshot_id} is of an instance without a subscription"
        )));
    };
    let spec = fleet_events::instance::InstanceSpec {
        region: taken.region.clone(),
        restored_from: Some(snapshot_id.to_owned()),
        adopted: false,
        customer_id: None,
        subscription_id: None,
        ..taken.source
    };
    crate::instances::create_instance(
        &app.bus,
        meta,
        &subscription_id,
        spec,
        taken.source_capacity,
    )
    .await
}
