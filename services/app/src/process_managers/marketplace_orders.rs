//! Orders and their resources, kept in step after a crash.
//!
//! The command path applies each order step to its resource at once; this process manager
//! applies it again from the stream, so a step whose effect was lost between the two appends
//! still reaches the resource. The same for a resource's opened order (placed from the event)
//! and its usage reports (recorded on the usage stream). Every effect is keyed by the event
//! that causes it and is refused or deduplicated the second time.

use async_trait::async_trait;
use fleet_domain::offering::Offering;
use fleet_domain::order::Order;
use fleet_domain::resource::{Resource, ResourceEvent};
use fleet_events::jetstream::JetStreamLog;
use fleet_events::{order, resource, EventEnvelope};
use fleet_projections::{ApplyError, Projection};
use sqlx::PgConnection;

use super::{caused_by, settle};
use crate::command_bus::CommandBus;
use crate::marketplace::{carry_to_resource, place_opened_order, record_reported_usage};

pub struct MarketplaceOrders {
    pub bus: CommandBus,
    pub usage_log: JetStreamLog,
}

#[async_trait]
impl Projection for MarketplaceOrders {
    fn name(&self) -> &'static str {
        "marketplace_orders"
    }

    fn ddl(&self) -> Vec<&'static str> {
        Vec::new()
    }

    fn handles(&self, aggregate_type: &str) -> bool {
        aggregate_type == order::AGGREGATE_TYPE || aggregate_type == resource::AGGREGATE_TYPE
    }

    async fn apply(
        &self,
        _: &mut PgConnection,
        events: &[EventEnvelope],
    ) -> Result<(), ApplyError> {
        for event in events {
            let meta = caused_by(event, "marketplace-orders", None)?;
            let id = &event.event.aggregate_id;
            if event.event.aggregate_type == order::AGGREGATE_TYPE {
                let result = match self.bus.state::<Order>(&meta.tenant, id).await {
                    Ok(order) => carry_to_resource(&self.bus, &meta, &order, event).await,
                    Err(e) => Err(e.into()),
                };
                settle(result.map(|_| ()), "carrying an order step to its resource")?;
                continue;
            }
            let decoded = event.decode::<ResourceEvent>()?;
            if !matches!(
                decoded,
                ResourceEvent::ResourceOrderOpened { .. }
                    | ResourceEvent::ResourceUsageReported { .. }
            ) {
                continue;
            }
            let resource = match self.bus.state::<Resource>(&meta.tenant, id).await {
                Ok(resource) => resource,
                Err(e) => return Err(ApplyError::Transient(e.to_string())),
            };
            let result = if let ResourceEvent::ResourceOrderOpened { .. } = decoded {
                place_opened_order(&self.bus, &meta, &resource, event).await
            } else {
                match self
                    .bus
                    .state::<Offering>(&meta.tenant, &resource.offering_id)
                    .await
                {
                    Ok(offering) => {
                        let offering = (resource.offering_id.as_str(), &offering);
                        record_reported_usage(&self.bus, &self.usage_log, &meta, offering, event)
                            .await
                    }
                    Err(e) => Err(e.into()),
                }
            };
            settle(result.map(|_| ()), "following a resource's event")?;
        }
        Ok(())
    }
}
