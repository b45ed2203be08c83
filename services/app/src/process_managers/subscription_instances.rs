//! Keeps each subscription's instances in step with it, each reaction a command with the event
//! as its causation and a key derived from it:
//!
//! - an admitted instance is created, should the process that admitted it have died first
//!   (normally the request created it already, and this is a duplicate that changes nothing);
//! - a deleted instance's place under its subscription is freed, likewise;
//! - a terminated, cancelled or deleted subscription leaves no live instance behind: each one
//!   is deleted by its own command; but a cancellation with a grace leaves them running, and
//!   when the grace (after a cancellation or a trial's expiry) ends, each is stopped.
//!
//! It keeps its own table of live instances per subscription, written in the same
//! transaction as its checkpoint, so it knows exactly which instances were live when the
//! subscription ended, whatever the other read models are doing. Its checkpoint keeps the name
//! it had when ending subscriptions was all it did, so that it carries on where it was.

use async_trait::async_trait;
use fleet_domain::instance::{Instance, InstanceCommand, InstanceEvent};
use fleet_domain::subscription::SubscriptionEvent;
use fleet_events::{instance, subscription, EventEnvelope};
use fleet_projections::{ApplyError, Projection};
use sqlx::PgConnection;

use super::{caused_by, settle};
use crate::command_bus::CommandBus;
use crate::instances::{self, creation_key, release_key};

/// Its checkpoint, and the schema of its table.
pub const NAME: &str = "ended_subscriptions";

/// What an ending does to the subscription's live instances.
#[derive(Clone, Copy)]
enum Ending {
    Delete,
    Stop,
}

pub struct SubscriptionInstances {
    pub bus: CommandBus,
}

const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS live_instances (
    instance_id     text PRIMARY KEY,
    tenant          text NOT NULL,
    subscription_id text NOT NULL
);
CREATE INDEX IF NOT EXISTS live_instances_by_subscription ON live_instances (tenant, subscription_id);
"#;

#[async_trait]
impl Projection for SubscriptionInstances {
    fn name(&self) -> &'static str {
        NAME
    }

    fn ddl(&self) -> Vec<&'static str> {
        vec![DDL]
    }

    fn handles(&self, aggregate_type: &str) -> bool {
        aggregate_type == instance::AGGREGATE_TYPE || aggregate_type == subscription::AGGREGATE_TYPE
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        events: &[EventEnvelope],
    ) -> Result<(), ApplyError> {
        for event in events {
            let tenant = &event.event.tenant;
            if event.event.aggregate_type == instance::AGGREGATE_TYPE {
                match event.decode::<InstanceEvent>()? {
                    InstanceEvent::InstanceCreated { spec, .. } => {
                        if let Some(subscription_id) = spec.subscription_id {
                            sqlx::query(
                                "INSERT INTO live_instances (instance_id, tenant, subscription_id)
                                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                            )
                            .bind(&event.event.aggregate_id)
                            .bind(tenant)
                            .bind(subscription_id)
                            .execute(&mut *tx)
                            .await?;
                        }
                    }
                    InstanceEvent::InstanceDeleted { .. } => {
                        let subscription_id: Option<String> = sqlx::query_scalar(
                            "DELETE FROM live_instances WHERE instance_id = $1
                             RETURNING subscription_id",
                        )
                        .bind(&event.event.aggregate_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                        if let Some(subscription_id) = subscription_id {
                            let meta =
                                caused_by(event, "instance-deleted", Some(release_key(event)))?;
                            let result = instances::release(
                                &self.bus,
                                &meta,
                                &subscription_id,
                                &event.event.aggregate_id,
                            )
                            .await;
                            settle(result, "freeing a deleted instance's place")?;
                        }
                    }
                    _ => {}
                }
                continue;
            }
            let ending = match event.decode::<SubscriptionEvent>()? {
                SubscriptionEvent::SubscriptionTerminated { .. }
                | SubscriptionEvent::SubscriptionDeleted {}
                | SubscriptionEvent::SubscriptionCancelled {
                    grace_ends_at: None,
                    ..
                } => Ending::Delete,
                SubscriptionEvent::SubscriptionGraceEnded { .. } => Ending::Stop,
                SubscriptionEvent::SubscriptionInstanceAdmitted { .. } => {
                    let meta = caused_by(event, "instance-admission", Some(creation_key(event)))?;
                    let (instance_id, create) = instances::creation_of(event)
                        .map_err(|e| ApplyError::Unapplicable(e.to_string()))?;
                    let result = self
                        .bus
                        .execute_on_new::<Instance>(&meta, &instance_id, create)
                        .await
                        .map(|_| ());
                    settle(result, "creating an admitted instance")?;
                    continue;
                }
                _ => continue,
            };
            let instances: Vec<String> = sqlx::query_scalar(
                "SELECT instance_id FROM live_instances
                 WHERE tenant = $1 AND subscription_id = $2 ORDER BY instance_id",
            )
            .bind(tenant)
            .bind(&event.event.aggregate_id)
            .fetch_all(&mut *tx)
            .await?;
            for instance_id in instances {
                let meta = caused_by(
                    event,
                    "subscription-ended",
                    Some(format!(
                        "subscription-ended:{}:{instance_id}",
                        event.event.event_id
                    )),
                )?;
                let result = match ending {
                    Ending::Delete => instances::delete_instance(&self.bus, &meta, &instance_id)
                        .await
                        .map(|_| ()),
                    // One that is not running (stopped, failed, still deploying) is left as it is.
                    Ending::Stop => self
                        .bus
                        .execute::<Instance>(&meta, &instance_id, InstanceCommand::Stop)
                        .await
                        .map(|_| ()),
                };
                settle(result, "ending an instance of an ended subscription")?;
            }
        }
        Ok(())
    }
}
