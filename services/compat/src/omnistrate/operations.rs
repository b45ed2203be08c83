//! The provider's operations events (operations-api ListEvents): failed deployments,
//! unhealthy instances, scale-outs, sign-ups and subscriptions, told from the audit log, with
//! the outstanding ones counted by type.

use aide::axum::routing::get_with;
use aide::axum::ApiRouter;
use axum::extract::{RawQuery, State};
use axum::Json;
use chrono::{DateTime, Utc};
use fleet_api::AppState;
use fleet_domain::vocabulary::EnvironmentType;
use fleet_projections::audit::{self, AuditFilter, AuditRow};
use fleet_projections::inventory;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::feeds::{repeated, AuditEvent, Context};
use super::wire::{id, native_opt, prefix, time, Query};
use super::{Agent, GoaError};

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new().api_route(
        "/operations/events",
        get_with(
            operations_events,
            super::operation("operations-api", "ListEvents"),
        ),
    )
}

/// `ServiceProviderEvent`: what the provider should know of, told from the audit log.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ServiceProviderEvent {
    #[serde(rename = "eventID")]
    event_id: String,
    /// FailedDeployment, UnhealthyInstance, ScaleOut, UserSignUp or UserSubscription.
    event_type: String,
    /// InstanceEvent, ServiceEvent or UserEvent.
    event_category: String,
    /// Alarm or Notification.
    alert_type: String,
    /// High, Medium or Low.
    priority: String,
    /// ServiceProvider.
    scope: String,
    time: String,
    /// Outstanding until then: a week after it happened.
    expiry_time: String,
    event_payload: Value,
    #[serde(rename = "instanceID", skip_serializing_if = "Option::is_none")]
    instance_id: Option<String>,
    #[serde(rename = "serviceID", skip_serializing_if = "Option::is_none")]
    service_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_environment_type: Option<String>,
}

/// The operations event a domain event is, if it is one: (type, category, alert, priority).
fn operations_kind(
    row: &AuditRow,
) -> Option<(&'static str, &'static str, &'static str, &'static str)> {
    Some(match row.action.as_str() {
        "InstanceFailed" if row.payload["previous_status"] == "deploying" => {
            ("FailedDeployment", "InstanceEvent", "Alarm", "High")
        }
        "InstanceFailed" => ("UnhealthyInstance", "InstanceEvent", "Alarm", "High"),
        "InstanceCapacityChanged" if row.payload["delta"].as_i64().is_some_and(|d| d > 0) => {
            ("ScaleOut", "InstanceEvent", "Notification", "Low")
        }
        "UserCreated" => ("UserSignUp", "UserEvent", "Notification", "Low"),
        "SubscriptionCreated" => ("UserSubscription", "ServiceEvent", "Notification", "Medium"),
        _ => return None,
    })
}

const OPERATIONS_SOURCES: [&str; 4] = [
    "InstanceFailed",
    "InstanceCapacityChanged",
    "UserCreated",
    "SubscriptionCreated",
];

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct OperationsQuery {
    next_page_token: Option<String>,
    page_size: Option<i64>,
    environment_type: Option<String>,
    /// Repeated: `eventTypes=ScaleOut&eventTypes=FailedDeployment`.
    #[allow(dead_code)]
    event_types: Option<String>,
    #[serde(rename = "serviceID")]
    service_id: Option<String>,
    #[serde(rename = "instanceID")]
    instance_id: Option<String>,
    #[serde(rename = "productTierID")]
    product_tier_id: Option<String>,
    start_date: Option<DateTime<Utc>>,
    end_date: Option<DateTime<Utc>>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct EventsSummary {
    /// Outstanding (not yet expired) events by type, over the whole filter.
    events_summary: std::collections::BTreeMap<String, i64>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct OperationsEvents {
    events: Vec<ServiceProviderEvent>,
    events_summary: EventsSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

/// How long an operations event stays outstanding.
const OUTSTANDING: chrono::Duration = chrono::Duration::days(7);

/// The provider's operations events, newest first (of the latest 10,000 candidates), with
/// the count of the outstanding ones by type.
async fn operations_events(
    State(state): State<AppState>,
    agent: Agent,
    Query(query): Query<OperationsQuery>,
    RawQuery(raw): RawQuery,
) -> Result<Json<OperationsEvents>, GoaError> {
    let limit = match query.page_size {
        None => super::wire::DEFAULT_PAGE_SIZE as usize,
        Some(n @ 1..=1000) => n as usize,
        Some(_) => return Err(GoaError::field("pageSize", "must be between 1 and 1000")),
    };
    let before = query
        .next_page_token
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<i64>()
                .map_err(|_| GoaError::field("nextPageToken", "is not a token this API returned"))
        })
        .transpose()?;
    let wanted = repeated(raw.as_deref(), "eventTypes");
    let environment = query
        .environment_type
        .as_deref()
        .map(|e| {
            EnvironmentType::parse(e).ok_or_else(|| {
                GoaError::field(
                    "environmentType",
                    format!("must be one of {}", EnvironmentType::WORDS.join(", ")),
                )
            })
        })
        .transpose()?;
    let instance = native_opt(prefix::INSTANCE, "instanceID", query.instance_id.as_deref())?;
    state.caught_up_on_all(agent.tenant(), audit::NAME).await?;
    state
        .caught_up_on_all(agent.tenant(), inventory::NAME)
        .await?;
    let filter = AuditFilter {
        start: query.start_date,
        end: query.end_date,
        event_types: Some(OPERATIONS_SOURCES.iter().map(|t| (*t).to_owned()).collect()),
        instance_id: instance.map(|i| i.to_string()),
        ..Default::default()
    };
    let rows = audit::list(&state.pool, agent.tenant().as_str(), &filter, None, 10_000).await?;
    let mut context = Context::new(&state, agent.tenant().as_str());
    let now = Utc::now();
    let mut kept = Vec::new();
    for row in &rows {
        let Some((kind, category, alert, priority)) = operations_kind(row) else {
            continue;
        };
        if !wanted.is_empty() && !wanted.iter().any(|w| w == kind) {
            continue;
        }
        let mut scope = AuditEvent::from(row);
        context.fill(row, &mut scope).await?;
        let matches = query
            .service_id
            .as_ref()
            .is_none_or(|s| scope.service_id.as_ref() == Some(s))
            && query
                .product_tier_id
                .as_ref()
                .is_none_or(|p| scope.product_tier_id.as_ref() == Some(p))
            && environment
                .is_none_or(|env| scope.environment_type.as_deref() == Some(env.as_str()));
        if !matches {
            continue;
        }
        kept.push((
            row.sequence,
            row.occurred_at + OUTSTANDING > now,
            ServiceProviderEvent {
                event_id: id(prefix::EVENT, row.event_id),
                event_type: kind.into(),
                event_category: category.into(),
                alert_type: alert.into(),
                priority: priority.into(),
                scope: "ServiceProvider".into(),
                time: time(row.occurred_at),
                expiry_time: time(row.occurred_at + OUTSTANDING),
                event_payload: row.payload.clone(),
                instance_id: scope.instance_id,
                service_id: scope.service_id,
                service_environment_type: scope.environment_type,
            },
        ));
    }
    let mut events_summary = std::collections::BTreeMap::new();
    for (_, outstanding, event) in &kept {
        if *outstanding {
            *events_summary.entry(event.event_type.clone()).or_insert(0) += 1;
        }
    }
    let page: Vec<_> = kept
        .into_iter()
        .filter(|(sequence, ..)| before.is_none_or(|b| *sequence < b))
        .take(limit + 1)
        .collect();
    let next_page_token = (page.len() > limit)
        .then(|| {
            page.get(limit - 1)
                .map(|(sequence, ..)| sequence.to_string())
        })
        .flatten();
    Ok(Json(OperationsEvents {
        events: page.into_iter().take(limit).map(|(_, _, e)| e).collect(),
        events_summary: EventsSummary { events_summary },
        next_page_token,
    }))
}
