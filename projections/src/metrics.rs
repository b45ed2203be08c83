//! Prometheus metrics of the projection engine.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::{counter::Counter, family::Family, gauge::Gauge};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProjectionLabel {
    pub projection: String,
}

#[derive(Clone, Default)]
pub struct ProjectionMetrics {
    pub position: Family<ProjectionLabel, Gauge>,
    pub lag: Family<ProjectionLabel, Gauge>,
    pub events: Family<ProjectionLabel, Counter>,
    pub parked: Family<ProjectionLabel, Counter>,
    pub leader: Family<ProjectionLabel, Gauge>,
}

impl ProjectionMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "fleet_projection_position",
            "Last stream sequence applied by the projection",
            metrics.position.clone(),
        );
        registry.register(
            "fleet_projection_lag",
            "Events in the stream the projection has not applied yet",
            metrics.lag.clone(),
        );
        registry.register(
            "fleet_projection_events",
            "Events the projection has read (applied or passed over)",
            metrics.events.clone(),
        );
        registry.register(
            "fleet_projection_parked",
            "Events the projection could not apply and parked",
            metrics.parked.clone(),
        );
        registry.register(
            "fleet_projection_leader",
            "1 while this process runs the projection",
            metrics.leader.clone(),
        );
        metrics
    }

    pub fn label(projection: &str) -> ProjectionLabel {
        ProjectionLabel {
            projection: projection.to_owned(),
        }
    }
}
