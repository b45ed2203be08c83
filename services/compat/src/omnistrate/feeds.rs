//! What happened in the fleet, as Omnistrate tells it: the audit events (audit-events-api),
//! the end-customer events (events-api) and the per-environment report (report-api). All
//! read the audit log and the inventory; the operations events are in [`super::operations`].
//!
//! The service, tier and environment filters of the audit events are read from each event,
//! or from the instance or subscription it concerns.

use aide::axum::routing::{delete_with, get_with};
use aide::axum::ApiRouter;
use axum::extract::{Path, RawQuery, State};
use axum::Json;
use chrono::{DateTime, Utc};
use fleet_api::auth::Permission;
use fleet_api::AppState;
use fleet_domain::vocabulary::EnvironmentType;
use fleet_projections::audit::{self, AuditFilter, AuditRow};
use fleet_projections::inventory::{self, Recent};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::wire::{id, native_opt, prefix, time, Query};
use super::{Agent, GoaError};

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/audit-events",
            get_with(
                audit_events,
                super::operation("audit-events-api", "AuditEvents"),
            ),
        )
        .api_route(
            "/events",
            get_with(
                end_customer_events,
                super::operation("events-api", "ListEvents"),
            ),
        )
        .api_route(
            "/events/{id}",
            delete_with(
                acknowledge_event,
                super::operation("events-api", "AcknowledgeEvent"),
            ),
        )
        .api_route(
            "/report/stats/env/{environmentType}",
            get_with(
                report_stats,
                super::operation("report-api", "DescribeEnvironmentReportStats"),
            ),
        )
}

/// Customer (a caller's command), Infra (the provisioning agent) or Maintenance (the system).
pub fn event_source(auth_method: &str, event_type: &str) -> &'static str {
    match (auth_method, event_type) {
        (_, "InstanceProvisioned" | "InstanceFailed" | "SnapshotCompleted" | "SnapshotFailed") => {
            "Infra"
        }
        ("system", _) => "Maintenance",
        _ => "Customer",
    }
}

/// The workflow an instance event started (see the workflows process manager).
fn workflow_of(row: &AuditRow) -> Option<uuid::Uuid> {
    if row.aggregate_type != fleet_events::instance::AGGREGATE_TYPE {
        return None;
    }
    fleet_app::workflows::started_by_event(&row.action, &row.aggregate_id, &row.event_id)
}

/// The service an event concerns, where its payload names one.
fn service_of(payload: &Value) -> Option<&str> {
    ["", "terms", "source"]
        .iter()
        .map(|at| {
            if at.is_empty() {
                payload
            } else {
                &payload[*at]
            }
        })
        .find_map(|p| p.get("service_id").and_then(Value::as_str))
}

fn text<'a>(payload: &'a Value, field: &str) -> Option<&'a str> {
    ["", "terms", "source"]
        .iter()
        .map(|at| {
            if at.is_empty() {
                payload
            } else {
                &payload[*at]
            }
        })
        .find_map(|p| p.get(field).and_then(Value::as_str))
}

/// `FleetAuditEvent`.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct AuditEvent {
    pub(super) id: String,
    pub(super) time: String,
    pub(super) event_source: String,
    pub(super) message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) service_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) environment_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) product_tier_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) instance_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) subscription_id: Option<String>,
    pub(super) user_id: String,
    pub(super) user_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) org_id: Option<String>,
    /// The workflow the event started, for an instance operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) workflow_id: Option<String>,
    /// Why that workflow failed, when it did.
    pub(super) workflow_failures: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) ip_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) user_agent: Option<String>,
    /// API_KEY, JWT or SYSTEM.
    pub(super) auth_method: String,
    pub(super) role_type: String,
}

impl From<&AuditRow> for AuditEvent {
    fn from(row: &AuditRow) -> Self {
        Self {
            id: id(prefix::EVENT, row.event_id),
            time: time(row.occurred_at),
            event_source: event_source(&row.auth_method, &row.action).into(),
            message: row.message.clone(),
            service_id: service_of(&row.payload).map(str::to_owned),
            environment_type: text(&row.payload, "environment_type").map(str::to_owned),
            product_tier_id: text(&row.payload, "plan_id").map(str::to_owned),
            instance_id: row.instance_id.as_ref().map(|i| id(prefix::INSTANCE, i)),
            subscription_id: row
                .subscription_id
                .as_ref()
                .map(|s| id(prefix::SUBSCRIPTION, s)),
            user_id: row.actor_id.clone(),
            user_name: row.actor_name.clone().unwrap_or_default(),
            org_id: row.customer_id.as_ref().map(|c| id(prefix::ORG, c)),
            workflow_id: workflow_of(row).map(|w| id(prefix::WORKFLOW, w)),
            workflow_failures: Vec::new(),
            ip_address: row.ip.clone(),
            user_agent: row.user_agent.clone(),
            auth_method: row.auth_method.to_ascii_uppercase(),
            role_type: row.actor_role.clone(),
        }
    }
}

/// The service, tier and environment of events whose payload does not name them: those of
/// the instance or subscription the event concerns, each read once per page.
pub(super) struct Context<'a> {
    state: &'a AppState,
    tenant: &'a str,
    seen: std::collections::HashMap<String, Option<(String, String, Option<String>)>>,
}

impl<'a> Context<'a> {
    pub(super) fn new(state: &'a AppState, tenant: &'a str) -> Self {
        Self {
            state,
            tenant,
            seen: std::collections::HashMap::new(),
        }
    }

    pub(super) async fn fill(
        &mut self,
        row: &AuditRow,
        event: &mut AuditEvent,
    ) -> Result<(), GoaError> {
        if event.service_id.is_some() {
            return Ok(());
        }
        let key = match (&row.instance_id, &row.subscription_id) {
            (Some(instance), _) => format!("i:{instance}"),
            (None, Some(subscription)) => format!("s:{subscription}"),
            (None, None) => return Ok(()),
        };
        if !self.seen.contains_key(&key) {
            let found = match key.split_once(':') {
                Some(("i", id)) => match id.parse() {
                    Ok(uuid) => inventory::get_instance(&self.state.pool, self.tenant, uuid)
                        .await?
                        .map(|i| (i.service_id, i.plan_id, Some(i.environment_type))),
                    Err(_) => None,
                },
                Some((_, id)) => match id.parse() {
                    Ok(uuid) => inventory::subscriptions::get(&self.state.pool, self.tenant, uuid)
                        .await?
                        .map(|s| (s.service_id, s.plan_id, None)),
                    Err(_) => None,
                },
                None => None,
            };
            self.seen.insert(key.clone(), found);
        }
        if let Some((service, plan, environment)) = self.seen[&key].clone() {
            event.service_id = Some(service);
            event.product_tier_id = event.product_tier_id.take().or(Some(plan));
            event.environment_type = event.environment_type.take().or(environment);
        }
        Ok(())
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct AuditQuery {
    next_page_token: Option<String>,
    page_size: Option<i64>,
    #[serde(rename = "serviceID")]
    service_id: Option<String>,
    environment_type: Option<String>,
    /// Repeated: `eventSourceTypes=Customer&eventSourceTypes=Infra`.
    #[allow(dead_code)]
    event_source_types: Option<String>,
    #[serde(rename = "instanceID")]
    instance_id: Option<String>,
    #[serde(rename = "productTierID")]
    product_tier_id: Option<String>,
    subscription_id: Option<String>,
    start_date: Option<DateTime<Utc>>,
    end_date: Option<DateTime<Utc>>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct AuditEvents {
    events: Vec<AuditEvent>,
    ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

/// The values of a repeated query parameter.
pub(super) fn repeated(raw: Option<&str>, name: &str) -> Vec<String> {
    form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .filter(|(key, _)| key == name)
        .flat_map(|(_, value)| {
            value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Newest first. The service, tier, environment and source filters are read from each
/// event; a page may then hold fewer events than `pageSize`, and its token goes on.
async fn audit_events(
    State(state): State<AppState>,
    agent: Agent,
    Query(query): Query<AuditQuery>,
    RawQuery(raw): RawQuery,
) -> Result<Json<AuditEvents>, GoaError> {
    agent.require(Permission::ReadAudit)?;
    let limit = match query.page_size {
        None => super::wire::DEFAULT_PAGE_SIZE,
        Some(n @ 1..=1000) => n,
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
    let sources = repeated(raw.as_deref(), "eventSourceTypes");
    for source in &sources {
        if !["Customer", "Infra", "Maintenance"].contains(&source.as_str()) {
            return Err(GoaError::field(
                "eventSourceTypes",
                "each must be Customer, Infra or Maintenance",
            ));
        }
    }
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
    let subscription = native_opt(
        prefix::SUBSCRIPTION,
        "subscriptionId",
        query.subscription_id.as_deref(),
    )?;
    state.caught_up_on_all(agent.tenant(), audit::NAME).await?;
    state
        .caught_up_on_all(agent.tenant(), inventory::NAME)
        .await?;
    // A workflow's own events are told by the workflows API; here the instance event that
    // started one names it, with its failure.
    let filter = AuditFilter {
        start: query.start_date,
        end: query.end_date,
        instance_id: instance.map(|i| i.to_string()),
        subscription_id: subscription.map(|s| s.to_string()),
        excluded_aggregate_types: Some(vec![fleet_events::workflow::AGGREGATE_TYPE.to_owned()]),
        ..Default::default()
    };
    let rows = audit::list(
        &state.pool,
        agent.tenant().as_str(),
        &filter,
        before,
        limit + 1,
    )
    .await?;
    let more = rows.len() as i64 > limit;
    let rows = &rows[..rows.len().min(limit as usize)];
    let next_page_token = more
        .then(|| rows.last().map(|r| r.sequence.to_string()))
        .flatten();
    let mut events = Vec::with_capacity(rows.len());
    let mut context = Context::new(&state, agent.tenant().as_str());
    // The failures of the page's workflows, in one query.
    let started: Vec<uuid::Uuid> = rows.iter().filter_map(workflow_of).collect();
    let failures = fleet_projections::inventory::workflows::failures(
        &state.pool,
        agent.tenant().as_str(),
        &started,
    )
    .await?;
    for row in rows {
        let mut event = AuditEvent::from(row);
        context.fill(row, &mut event).await?;
        if let Some(reason) = workflow_of(row).and_then(|w| failures.get(&w)) {
            event
                .workflow_failures
                .push(serde_json::json!({ "message": reason }));
        }
        events.push(event);
    }
    let events: Vec<AuditEvent> = events
        .into_iter()
        .filter(|e| sources.is_empty() || sources.contains(&e.event_source))
        .filter(|e| {
            query
                .service_id
                .as_ref()
                .is_none_or(|s| e.service_id.as_ref() == Some(s))
        })
        .filter(|e| {
            query
                .product_tier_id
                .as_ref()
                .is_none_or(|p| e.product_tier_id.as_ref() == Some(p))
        })
        .filter(|e| {
            environment.is_none_or(|env| e.environment_type.as_deref() == Some(env.as_str()))
        })
        .collect();
    Ok(Json(AuditEvents {
        ids: events.iter().map(|e| e.id.clone()).collect(),
        events,
        next_page_token,
    }))
}

/// `EndCustomerEvent`: what the service's customers did.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct EndCustomerEvent {
    #[serde(rename = "eventID")]
    event_id: String,
    /// CustomerSignUp, InviteUser or RevokeUserRole.
    event_type: String,
    event_payload: Value,
    /// Medium for a sign-up, Low otherwise.
    priority: String,
    time: String,
    #[serde(rename = "orgID")]
    org_id: String,
    #[serde(rename = "userID", skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_email: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct EventsQuery {
    /// Customers and users are not per environment here: any value lists them all.
    #[allow(dead_code)]
    environment_type: Option<String>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct EndCustomerEvents {
    events: Vec<EndCustomerEvent>,
}

/// The audit events that are end-customer events.
const END_CUSTOMER_KINDS: [&str; 3] = ["CustomerCreated", "UserCreated", "UserDeleted"];

/// The customers' sign-ups, invited users and revoked users not yet acknowledged, newest
/// first (the latest 1000).
async fn end_customer_events(
    State(state): State<AppState>,
    agent: Agent,
    Query(_): Query<EventsQuery>,
) -> Result<Json<EndCustomerEvents>, GoaError> {
    state.caught_up_on_all(agent.tenant(), audit::NAME).await?;
    let kinds: Vec<String> = END_CUSTOMER_KINDS.iter().map(|k| (*k).to_owned()).collect();
    let rows = audit::unacknowledged(&state.pool, agent.tenant().as_str(), &kinds, 1000).await?;
    let events = rows
        .iter()
        .map(|row| {
            let (event_type, priority) = match row.action.as_str() {
                "CustomerCreated" => ("CustomerSignUp", "Medium"),
                "UserCreated" => ("InviteUser", "Low"),
                _ => ("RevokeUserRole", "Low"),
            };
            let is_user = row.aggregate_type == fleet_events::user::AGGREGATE_TYPE;
            EndCustomerEvent {
                event_id: id(prefix::EVENT, row.event_id),
                event_type: event_type.into(),
                event_payload: row.payload.clone(),
                priority: priority.into(),
                time: time(row.occurred_at),
                org_id: row
                    .customer_id
                    .as_ref()
                    .map(|c| id(prefix::ORG, c))
                    .unwrap_or_default(),
                user_id: is_user.then(|| id(prefix::USER, &row.aggregate_id)),
                user_name: is_user
                    .then(|| text(&row.payload, "name").map(str::to_owned))
                    .flatten(),
                user_email: is_user
                    .then(|| text(&row.payload, "email").map(str::to_owned))
                    .flatten(),
            }
        })
        .collect();
    Ok(Json(EndCustomerEvents { events }))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct EventPath {
    /// `event-…`, as the list shows it.
    id: String,
}

/// Acknowledges an end-customer event: it leaves the list. Twice is a 409.
async fn acknowledge_event(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<EventPath>,
) -> Result<super::Done, GoaError> {
    agent.require(Permission::ManageAccounts)?;
    let uuid = super::wire::native(prefix::EVENT, "event", &path.id)?;
    state.caught_up_on_all(agent.tenant(), audit::NAME).await?;
    let row = audit::get(&state.pool, agent.tenant().as_str(), uuid)
        .await?
        .filter(|r| END_CUSTOMER_KINDS.contains(&r.action.as_str()))
        .ok_or_else(|| GoaError::not_found("event", &path.id))?;
    let command = fleet_domain::acknowledgement::Acknowledge {
        event_type: row.action,
    };
    state
        .bus
        .execute::<fleet_domain::acknowledgement::Acknowledgement>(
            agent.meta(),
            &uuid.to_string(),
            command,
        )
        .await
        .map_err(|e| GoaError::refused(e, "event", &path.id))?;
    Ok(super::Done)
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct EnvironmentPath {
    environment_type: String,
}

/// `CountWithRecent`.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct CountWithRecent {
    total_count: i64,
    last7_days_count: i64,
}

impl From<Recent> for CountWithRecent {
    fn from(r: Recent) -> Self {
        Self {
            total_count: r.total,
            last7_days_count: r.last_7_days,
        }
    }
}

/// `EnvironmentReportStats`; `upgrades` counts the instances' upgrade workflows.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ReportStats {
    deployments: CountWithRecent,
    live_deployments: CountWithRecent,
    failovers: CountWithRecent,
    subscriptions: CountWithRecent,
    upgrades: CountWithRecent,
    user_signups: CountWithRecent,
}

async fn report_stats(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<EnvironmentPath>,
) -> Result<Json<ReportStats>, GoaError> {
    let environment = EnvironmentType::parse(&path.environment_type).ok_or_else(|| {
        GoaError::field(
            "environmentType",
            format!("must be one of {}", EnvironmentType::WORDS.join(", ")),
        )
    })?;
    state
        .caught_up_on_all(agent.tenant(), inventory::NAME)
        .await?;
    state.caught_up_on_all(agent.tenant(), audit::NAME).await?;
    let stats =
        inventory::environment_stats(&state.pool, agent.tenant().as_str(), environment.as_str())
            .await?;
    Ok(Json(ReportStats {
        deployments: stats.deployments.into(),
        live_deployments: stats.live_deployments.into(),
        failovers: stats.failovers.into(),
        subscriptions: stats.subscriptions.into(),
        upgrades: stats.upgrades.into(),
        user_signups: stats.user_signups.into(),
    }))
}
