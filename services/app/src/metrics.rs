//! Prometheus metrics of requests (whichever HTTP face serves them) and of the command
//! pipeline.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::{counter::Counter, family::Family, histogram::Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CommandLabels {
    pub aggregate: String,
    /// accepted, duplicate, rejected, contended, failed
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuthLabels {
    /// native, omnistrate, waldur…
    pub api: &'static str,
    /// missing or invalid.
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AggregateLabel {
    pub aggregate: String,
}

fn latency_histogram() -> Histogram {
    // 100 µs .. ~6.5 s
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0001, 2.0, 17,
    ))
}

#[derive(Clone)]
pub struct Metrics {
    pub requests: Family<RequestLabels, Counter>,
    pub request_seconds: Family<RouteLabel, Histogram>,
    pub commands: Family<CommandLabels, Counter>,
    pub append_seconds: Family<AggregateLabel, Histogram>,
    pub append_conflicts: Family<AggregateLabel, Counter>,
    pub auth_failures: Family<AuthLabels, Counter>,
}

impl Metrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(latency_histogram),
            commands: Family::default(),
            append_seconds: Family::new_with_constructor(latency_histogram),
            append_conflicts: Family::default(),
            auth_failures: Family::default(),
        };
        registry.register(
            "fleet_http_requests",
            "HTTP requests by route and status",
            metrics.requests.clone(),
        );
        registry.register(
            "fleet_http_request_seconds",
            "HTTP request latency by route",
            metrics.request_seconds.clone(),
        );
        registry.register(
            "fleet_commands",
            "Commands by aggregate and outcome",
            metrics.commands.clone(),
        );
        registry.register(
            "fleet_append_seconds",
            "Latency of appending an event to JetStream, until its acknowledgement",
            metrics.append_seconds.clone(),
        );
        registry.register(
            "fleet_auth_failures",
            "Requests refused for a missing or invalid credential, by API",
            metrics.auth_failures.clone(),
        );
        registry.register(
            "fleet_append_conflicts",
            "Appends refused because the aggregate changed concurrently (JetStream 10071)",
            metrics.append_conflicts.clone(),
        );
        metrics
    }

    /// Counts and logs a refused credential: where it came from, never what it was.
    pub fn auth_failed(&self, api: &'static str, reason: &'static str, ip: Option<&str>) {
        self.auth_failures
            .get_or_create(&AuthLabels { api, reason })
            .inc();
        tracing::warn!(
            api,
            reason,
            ip = ip.unwrap_or("unknown"),
            "authentication failed"
        );
    }

    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
        self.request_seconds
            .get_or_create(&RouteLabel {
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }
}
