//! The marketplace read model: offerings, projects, resources, orders and the component usage
//! each resource reported per billing period, in tables of the `marketplace` schema.
//!
//! Resource rows keep only what the resource's own events say; what comes from its offering,
//! project and customer is joined at query time, so a renamed customer is right everywhere
//! at once and no event fans out to many rows.

pub mod offerings;
pub mod orders;
pub mod projects;
pub mod resources;
mod usages;

use async_trait::async_trait;
use fleet_events::EventEnvelope;
use sqlx::PgConnection;

pub use usages::{count_usages, list_usages, UsageFilter, UsageView};

use crate::{ApplyError, Projection};

pub const NAME: &str = "marketplace";

pub struct Marketplace;

#[async_trait]
impl Projection for Marketplace {
    fn name(&self) -> &'static str {
        NAME
    }

    fn ddl(&self) -> Vec<&'static str> {
        vec![
            offerings::DDL,
            projects::DDL,
            resources::DDL,
            orders::DDL,
            usages::DDL,
        ]
    }

    fn handles(&self, aggregate_type: &str) -> bool {
        use fleet_events::{offering, order, project, resource};
        [
            offering::AGGREGATE_TYPE,
            project::AGGREGATE_TYPE,
            resource::AGGREGATE_TYPE,
            order::AGGREGATE_TYPE,
        ]
        .contains(&aggregate_type)
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        events: &[EventEnvelope],
    ) -> Result<(), ApplyError> {
        use fleet_events::{offering, order, project, resource};
        // Rows of one aggregate type never depend on another's at apply time (joins happen
        // when reading), so the events go in stream order, each to its table.
        for event in events {
            match event.event.aggregate_type.as_str() {
                offering::AGGREGATE_TYPE => offerings::apply(tx, event).await?,
                project::AGGREGATE_TYPE => projects::apply(tx, event).await?,
                resource::AGGREGATE_TYPE => resources::apply(tx, event).await?,
                order::AGGREGATE_TYPE => orders::apply(tx, event).await?,
                _ => {}
            }
        }
        Ok(())
    }
}
