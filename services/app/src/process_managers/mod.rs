//! Process managers: projections whose reaction to an event is a command. They run in the
//! projection engine, so they have a checkpoint, one leader across processes and survive
//! restarts; their commands carry the event as causation and an idempotency key derived from
//! it, so a batch replayed after a crash never acts twice.

pub mod approved_requests;
pub mod marketplace_orders;
pub mod orchestrations;
pub mod subscription_instances;
pub mod upgrades;
pub mod uptime;
pub mod workflows;

use std::sync::Arc;

use fleet_events::jetstream::JetStreamLog;
use fleet_events::{Actor, EventEnvelope, Tenant};
use fleet_projections::{ApplyError, Projection};

use crate::command_bus::{CommandBus, CommandError, CommandMeta};

pub fn all(bus: &CommandBus, usage_log: &JetStreamLog) -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(approved_requests::ProvisionApprovedSubscriptions { bus: bus.clone() }),
        Arc::new(subscription_instances::SubscriptionInstances { bus: bus.clone() }),
        Arc::new(marketplace_orders::MarketplaceOrders {
            bus: bus.clone(),
            usage_log: usage_log.clone(),
        }),
        Arc::new(workflows::InstanceWorkflows { bus: bus.clone() }),
        Arc::new(upgrades::UpgradeRollout { bus: bus.clone() }),
        Arc::new(orchestrations::OrchestrationDeployments { bus: bus.clone() }),
        Arc::new(uptime::RecordUptime {
            usage_log: usage_log.clone(),
            namespace: bus.namespace().clone(),
        }),
    ]
}

/// The metadata of a command (or of facts) caused by `event`, issued by Fleetledger itself.
fn caused_by(
    event: &EventEnvelope,
    component: &str,
    key: Option<String>,
) -> Result<CommandMeta, ApplyError> {
    Ok(CommandMeta {
        tenant: Tenant::parse(&event.event.tenant)
            .map_err(|e| ApplyError::Unapplicable(e.to_string()))?,
        actor: Actor::system(component),
        correlation_id: event.event.correlation_id.clone(),
        causation_id: Some(event.event.event_id.to_string()),
        idempotency_key: key,
    })
}

/// A refused command means the effect is already there (or can no longer happen): done.
/// Anything else is worth retrying.
fn settle(result: Result<(), CommandError>, what: &str) -> Result<(), ApplyError> {
    match result {
        Ok(()) => Ok(()),
        Err(CommandError::Domain(refusal)) => {
            tracing::debug!(%refusal, what, "nothing to do");
            Ok(())
        }
        Err(e) => Err(ApplyError::Transient(format!("{what}: {e}"))),
    }
}
