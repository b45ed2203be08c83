//! The inventory read model: instances, customers (with reseller relationships and licenses),
//! users, subscriptions, subscription requests and snapshots, each in tables of the `inventory` schema.
//!
//! Instances are the high-volume part and are applied set-based (see [`instances`]); the other
//! aggregates change rarely and are applied event by event inside the same transaction.

pub mod customers;
pub mod instances;
pub mod requests;
pub mod snapshots;
pub mod subscriptions;
pub mod users;

use async_trait::async_trait;
use fleet_events::EventEnvelope;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

pub use instances::{get_instance, list_instances, InstanceFilter, InstanceRow, InstanceSummary};
pub use subscriptions::SubscriptionSummary;

use crate::{ApplyError, Projection};

pub const NAME: &str = "inventory";

pub struct Inventory;

#[async_trait]
impl Projection for Inventory {
    fn name(&self) -> &'static str {
        NAME
    }

    fn ddl(&self) -> Vec<&'static str> {
        vec![
            instances::DDL,
            customers::DDL,
            users::DDL,
            subscriptions::DDL,
            requests::DDL,
            snapshots::DDL,
        ]
    }

    fn handles(&self, aggregate_type: &str) -> bool {
        use fleet_events::{
            customer, instance, snapshot, subscription, subscription_request, user,
        };
        [
            instance::AGGREGATE_TYPE,
            customer::AGGREGATE_TYPE,
            user::AGGREGATE_TYPE,
            subscription::AGGREGATE_TYPE,
            subscription_request::AGGREGATE_TYPE,
            snapshot::AGGREGATE_TYPE,
        ]
        .contains(&aggregate_type)
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        events: &[EventEnvelope],
    ) -> Result<(), ApplyError> {
        use fleet_events::{
            customer, instance, snapshot, subscription, subscription_request, user,
        };
        // Each aggregate type has its own tables, so keeping the order within a type is
        // enough; instances go in one set-based write.
        let of = |kind: &str| -> Vec<&EventEnvelope> {
            events
                .iter()
                .filter(|e| e.event.aggregate_type == kind)
                .collect()
        };
        let instance_events = of(instance::AGGREGATE_TYPE);
        if !instance_events.is_empty() {
            instances::apply(tx, &instance_events).await?;
        }
        for event in of(customer::AGGREGATE_TYPE) {
            customers::apply(tx, event).await?;
        }
        for event in of(user::AGGREGATE_TYPE) {
            users::apply(tx, event).await?;
        }
        for event in of(subscription::AGGREGATE_TYPE) {
            subscriptions::apply(tx, event).await?;
        }
        for event in of(subscription_request::AGGREGATE_TYPE) {
            requests::apply(tx, event).await?;
        }
        for event in of(snapshot::AGGREGATE_TYPE) {
            snapshots::apply(tx, event).await?;
        }
        Ok(())
    }
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct InventorySummary {
    #[serde(flatten)]
    pub instances: InstanceSummary,
    pub subscriptions: SubscriptionSummary,
}

pub async fn summary(pool: &PgPool, tenant: &str) -> Result<InventorySummary, sqlx::Error> {
    Ok(InventorySummary {
        instances: instances::summary(pool, tenant).await?,
        subscriptions: subscriptions::summary(pool, tenant).await?,
    })
}
