//! An approved subscription request becomes a subscription, exactly once.
//!
//! The approval event carries the subscription's id and terms. Creating it twice is impossible:
//! a second create of the same id is refused by the aggregate (its subject already has
//! events), and within the duplicate window JetStream drops the repeated message id.

use async_trait::async_trait;
use fleet_domain::subscription::{Subscription, SubscriptionCommand};
use fleet_domain::subscription_request::SubscriptionRequestEvent;
use fleet_events::{subscription_request, EventEnvelope};
use fleet_projections::{ApplyError, Projection};
use sqlx::PgConnection;

use super::{caused_by, settle};
use crate::command_bus::CommandBus;

pub struct ProvisionApprovedSubscriptions {
    pub bus: CommandBus,
}

#[async_trait]
impl Projection for ProvisionApprovedSubscriptions {
    fn name(&self) -> &'static str {
        "approved_requests"
    }

    fn ddl(&self) -> Vec<&'static str> {
        Vec::new()
    }

    fn handles(&self, aggregate_type: &str) -> bool {
        aggregate_type == subscription_request::AGGREGATE_TYPE
    }

    async fn apply(
        &self,
        _: &mut PgConnection,
        events: &[EventEnvelope],
    ) -> Result<(), ApplyError> {
        for event in events {
            let SubscriptionRequestEvent::SubscriptionRequestApproved {
                subscription_id,
                subscription,
            } = event.decode::<SubscriptionRequestEvent>()?
            else {
                continue;
            };
            let request_id = event.event.aggregate_id.clone();
            let meta = caused_by(
                event,
                "subscription-request-approval",
                Some(format!("approved-request:{request_id}")),
            )?;
            let command = SubscriptionCommand::Create {
                terms: subscription,
                request_id: Some(request_id),
            };
            let result = self
                .bus
                .execute::<Subscription>(&meta, &subscription_id, command)
                .await
                .map(|_| ());
            settle(result, "creating an approved subscription")?;
        }
        Ok(())
    }
}
