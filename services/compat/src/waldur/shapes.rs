//! Waldur's shapes of a resource, an order and a component usage, built from the read models.
//! Uuids are written as Waldur writes them (hex without hyphens) and name the same objects as
//! the native ids; hyperlinks point at Waldur's paths on this server.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use fleet_domain::resource::ResourceState;
use fleet_projections::marketplace::orders::OrderView;
use fleet_projections::marketplace::resources::ResourceView;
use fleet_projections::marketplace::UsageView;
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::params::Base;

/// Waldur hex form of a uuid.
pub fn hex(id: Uuid) -> String {
    id.simple().to_string()
}

fn hex_of(id: &str) -> String {
    Uuid::parse_str(id)
        .map(hex)
        .unwrap_or_else(|_| id.to_owned())
}

/// The tenant is the service provider: its organisation has a stable uuid of its own.
pub fn provider_uuid(tenant: &str) -> Uuid {
    Uuid::new_v5(
        &Uuid::NAMESPACE_URL,
        format!("fleetledger:provider:{tenant}").as_bytes(),
    )
}

/// An offering's category is its type: one category per type and provider.
pub fn category_uuid(tenant: &str, offering_type: &str) -> Uuid {
    Uuid::new_v5(
        &provider_uuid(tenant),
        format!("category:{offering_type}").as_bytes(),
    )
}

/// What a resource and an order say about their offering, its provider and their plan.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct OfferingFields {
    pub offering: String,
    pub offering_name: String,
    pub offering_uuid: String,
    pub offering_description: String,
    pub offering_image: Option<String>,
    pub offering_thumbnail: Option<String>,
    pub offering_type: String,
    pub offering_shared: bool,
    pub offering_billable: bool,
    pub offering_plugin_options: Value,
    pub provider_name: String,
    pub provider_uuid: String,
    pub provider_slug: String,
    pub category_title: String,
    pub category_uuid: String,
    pub category_icon: Option<String>,
    pub plan: Option<String>,
    pub plan_unit: Option<String>,
    pub plan_name: Option<String>,
    pub plan_uuid: Option<String>,
    pub plan_description: Option<String>,
}

/// The offering as the read models hold it.
pub struct Offered<'a> {
    pub id: Uuid,
    pub name: &'a str,
    pub description: &'a str,
    pub offering_type: &'a str,
    pub shared: bool,
    pub billable: bool,
    pub plugin_options: Option<&'a Value>,
    /// Its plans (the `plans` column), to name the plan.
    pub plans: Option<&'a Value>,
}

fn offering_fields(
    base: &Base,
    tenant: &str,
    o: Offered<'_>,
    plan_id: Option<&str>,
) -> OfferingFields {
    let plan = o.plans.and_then(|p| plan_of(p, plan_id));
    let text = |key: &str| plan.and_then(|p| p[key].as_str()).map(str::to_owned);
    OfferingFields {
        offering: base.url(&format!(
            "/api/marketplace-provider-offerings/{}/",
            hex(o.id)
        )),
        offering_name: o.name.to_owned(),
        offering_uuid: hex(o.id),
        offering_description: o.description.to_owned(),
        offering_image: None,
        offering_thumbnail: None,
        offering_type: o.offering_type.to_owned(),
        offering_shared: o.shared,
        offering_billable: o.billable,
        offering_plugin_options: o
            .plugin_options
            .filter(|v| v.is_object())
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new())),
        provider_name: tenant.to_owned(),
        provider_uuid: hex(provider_uuid(tenant)),
        provider_slug: tenant.to_owned(),
        category_title: o.offering_type.to_owned(),
        category_uuid: hex(category_uuid(tenant, o.offering_type)),
        category_icon: None,
        plan: plan_id.map(|id| base.url(&format!("/api/marketplace-public-plans/{}/", hex_of(id)))),
        plan_unit: text("unit"),
        plan_name: text("name"),
        plan_uuid: plan_id.map(hex_of),
        plan_description: text("description"),
    }
}

/// A resource as the provider API shows it: the 76 fields of Waldur's `Resource`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Resource {
    #[serde(flatten)]
    pub offered: OfferingFields,
    pub attributes: Value,
    /// Component type -> allocated amount.
    pub limits: BTreeMap<String, i64>,
    pub uuid: String,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    pub url: String,
    pub scope: Option<String>,
    pub description: String,
    /// `Creating`, `OK`, `Erred`, `Updating`, `Terminating` or `Terminated`.
    pub state: String,
    pub resource_uuid: Option<String>,
    pub backend_id: String,
    pub effective_id: String,
    pub resource_type: Option<String>,
    pub project: String,
    pub project_uuid: String,
    pub project_name: String,
    pub project_description: String,
    pub project_end_date: Option<NaiveDate>,
    pub project_end_date_requested_by: Option<String>,
    pub customer_uuid: String,
    pub customer_name: String,
    pub offering_slug: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_offering_uuid: Option<String>,
    pub parent_offering_name: Option<String>,
    pub parent_offering_slug: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_uuid: Option<String>,
    pub parent_name: Option<String>,
    pub backend_metadata: Value,
    pub is_usage_based: bool,
    pub is_limit_based: bool,
    pub name: String,
    pub slug: String,
    /// Component type -> usage reported for the current month (decimal strings).
    pub current_usages: Value,
    pub can_terminate: bool,
    pub report: Value,
    pub end_date: Option<NaiveDate>,
    pub end_date_requested_by: Option<String>,
    pub username: Option<String>,
    pub limit_usage: Value,
    pub downscaled: bool,
    pub restrict_member_access: bool,
    pub paused: bool,
    pub endpoints: Vec<Value>,
    pub error_message: String,
    pub error_traceback: String,
    pub options: Value,
    pub available_actions: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<DateTime<Utc>>,
    pub order_in_progress: Option<Order>,
    pub creation_order: Option<Order>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_settings_uuid: Option<String>,
    pub project_slug: String,
    pub customer_slug: String,
    pub user_requires_reconsent: bool,
    pub renewal_date: Option<Value>,
}

fn components_of(view: &ResourceView) -> Vec<Value> {
    view.offering_components
        .0
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn plan_of<'a>(plans: &'a Value, id: Option<&str>) -> Option<&'a Value> {
    let id = id?;
    plans
        .as_array()?
        .iter()
        .find(|p| p["id"].as_str() == Some(id))
}

fn limits_of(value: &Value) -> BTreeMap<String, i64> {
    value
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_i64().map(|n| (k.clone(), n)))
                .collect()
        })
        .unwrap_or_default()
}

/// The usage of each limit-based component compared to its limit (this month's usage).
fn limit_usage(view: &ResourceView) -> Value {
    let usages = view
        .current_usages
        .0
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut out = Map::new();
    for component in components_of(view) {
        if component["billing_type"] != "limit" {
            continue;
        }
        let kind = component["type"].as_str().unwrap_or_default();
        let used = usages
            .get(kind)
            .cloned()
            .unwrap_or(Value::String("0".into()));
        out.insert(kind.to_owned(), used);
    }
    Value::Object(out)
}

pub fn resource(
    base: &Base,
    tenant: &str,
    view: &ResourceView,
    order_in_progress: Option<Order>,
    creation_order: Option<Order>,
) -> Resource {
    let components = components_of(view);
    let count = |t: &str| components.iter().filter(|c| c["billing_type"] == t).count();
    let state = ResourceState::parse(&view.state).unwrap_or_default();
    let can_terminate = matches!(state, ResourceState::Ok | ResourceState::Erred)
        && view.order_in_progress_id.is_none();
    let mut actions: Vec<String> = Vec::new();
    if can_terminate {
        actions.push("terminate".into());
    }
    if state == ResourceState::Ok {
        actions.extend(["update_options", "set_limits"].map(str::to_owned));
    }
    if matches!(
        state,
        ResourceState::Erred
            | ResourceState::Creating
            | ResourceState::Updating
            | ResourceState::Terminating
    ) {
        actions.push("set_as_ok".into());
    }
    let current_usages = view
        .current_usages
        .0
        .as_object()
        .map(|m| {
            Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), Value::String(decimal_text(v))))
                    .collect(),
            )
        })
        .unwrap_or_else(|| Value::Object(Map::new()));
    Resource {
        offered: offering_fields(
            base,
            tenant,
            Offered {
                id: view.offering_id,
                name: &view.offering_name,
                description: &view.offering_description,
                offering_type: &view.offering_type,
                shared: view.offering_shared,
                billable: view.offering_billable,
                plugin_options: Some(&view.offering_plugin_options.0),
                plans: Some(&view.offering_plans.0),
            },
            view.plan_id.as_deref(),
        ),
        attributes: view.attributes.0.clone(),
        limits: limits_of(&view.limits.0),
        uuid: hex(view.id),
        created: view.created_at,
        modified: view.modified_at,
        url: base.url(&format!("/api/marketplace-resources/{}/", hex(view.id))),
        scope: None,
        description: view.description.clone(),
        state: view.state.clone(),
        resource_uuid: None,
        backend_id: view.backend_id.clone(),
        effective_id: String::new(),
        resource_type: None,
        project: base.url(&format!("/api/projects/{}/", hex(view.project_id))),
        project_uuid: hex(view.project_id),
        project_name: view.project_name.clone(),
        project_description: view.project_description.clone(),
        project_end_date: view.project_end_date,
        project_end_date_requested_by: None,
        customer_uuid: hex_of(&view.customer_id),
        customer_name: view.customer_name.clone(),
        offering_slug: view.offering_slug.clone(),
        parent_offering_uuid: None,
        parent_offering_name: None,
        parent_offering_slug: None,
        parent_uuid: None,
        parent_name: None,
        backend_metadata: match &view.backend_metadata.0 {
            Value::Object(_) => view.backend_metadata.0.clone(),
            _ => Value::Object(Map::new()),
        },
        is_usage_based: count("usage") > 0,
        is_limit_based: count("limit") > 0,
        name: view.name.clone(),
        slug: view.slug.clone(),
        current_usages,
        can_terminate,
        report: view.report.0.clone(),
        end_date: view.end_date,
        end_date_requested_by: view.end_date_requested_by.clone(),
        username: None,
        limit_usage: limit_usage(view),
        downscaled: view.downscaled,
        restrict_member_access: view.restrict_member_access,
        paused: view.paused,
        endpoints: Vec::new(),
        error_message: view.error_message.clone(),
        error_traceback: view.error_traceback.clone(),
        options: view.options.0.clone(),
        available_actions: actions,
        last_sync: view.last_sync,
        order_in_progress,
        creation_order,
        service_settings_uuid: None,
        project_slug: view.project_slug.clone(),
        customer_slug: hex_of(&view.customer_id),
        user_requires_reconsent: false,
        renewal_date: None,
    }
}

/// A decimal as the read model holds it (a JSON number from `numeric`), as exact text.
fn decimal_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// An order as Waldur's `OrderDetails` (and `OrderCreate`) show it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Order {
    pub uuid: String,
    pub url: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub state: String,
    #[serde(flatten)]
    pub offered: OfferingFields,
    pub attributes: Value,
    pub limits: BTreeMap<String, i64>,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub start_date: Option<NaiveDate>,
    pub resource_uuid: Option<String>,
    pub resource_type: Option<String>,
    pub resource_name: String,
    pub marketplace_resource_uuid: String,
    pub cost: Option<String>,
    pub output: String,
    pub error_message: String,
    pub error_traceback: String,
    pub callback_url: Option<String>,
    pub request_comment: Option<String>,
    pub attachment: Option<String>,
    pub backend_id: String,
    pub created_by: String,
    pub created_by_username: String,
    pub created_by_full_name: String,
    pub created_by_civil_number: Option<String>,
    pub consumer_reviewed_by: Option<String>,
    pub consumer_reviewed_by_full_name: Option<String>,
    pub consumer_reviewed_by_username: Option<String>,
    pub consumer_reviewed_at: Option<DateTime<Utc>>,
    pub provider_reviewed_by: Option<String>,
    pub provider_reviewed_by_full_name: Option<String>,
    pub provider_reviewed_by_username: Option<String>,
    pub provider_reviewed_at: Option<DateTime<Utc>>,
    pub project: String,
    pub project_uuid: String,
    pub project_name: String,
    pub project_description: String,
    pub project_slug: String,
    pub customer_name: String,
    pub customer_uuid: String,
    pub customer_slug: String,
    pub can_terminate: bool,
    pub fixed_price: Option<String>,
    pub activation_price: Option<String>,
    pub termination_comment: Option<String>,
    pub issue: Option<Value>,
}

/// Who did it, as a Waldur user name: the credential behind the actor.
fn username(actor: &str) -> String {
    actor.trim_start_matches("apikey:").to_owned()
}

pub fn order(base: &Base, tenant: &str, view: &OrderView, plans: Option<&Value>) -> Order {
    let user_url = |actor: &str| base.url(&format!("/api/users/{}/", username(actor)));
    Order {
        uuid: hex(view.id),
        url: base.url(&format!("/api/marketplace-orders/{}/", hex(view.id))),
        kind: view.kind.clone(),
        state: view.state.clone(),
        offered: offering_fields(
            base,
            tenant,
            Offered {
                id: view.offering_id,
                name: &view.offering_name,
                description: &view.offering_description,
                offering_type: &view.offering_type,
                shared: view.offering_shared,
                billable: view.offering_billable,
                plugin_options: None,
                plans,
            },
            view.plan_id.as_deref(),
        ),
        attributes: view.attributes.0.clone(),
        limits: view
            .limits
            .as_ref()
            .map(|l| limits_of(&l.0))
            .unwrap_or_default(),
        created: view.created_at,
        modified: view.modified_at,
        completed_at: view.completed_at,
        start_date: None,
        resource_uuid: None,
        resource_type: None,
        resource_name: view.resource_name.clone().unwrap_or_default(),
        marketplace_resource_uuid: hex(view.resource_id),
        cost: None,
        output: String::new(),
        error_message: view.error_message.clone(),
        error_traceback: view.error_traceback.clone(),
        callback_url: view.callback_url.clone(),
        request_comment: view.request_comment.clone(),
        attachment: None,
        backend_id: view.backend_id.clone(),
        created_by: user_url(&view.created_by),
        created_by_username: username(&view.created_by),
        created_by_full_name: String::new(),
        created_by_civil_number: None,
        consumer_reviewed_by: view.consumer_reviewed_by.as_deref().map(user_url),
        consumer_reviewed_by_full_name: None,
        consumer_reviewed_by_username: view.consumer_reviewed_by.as_deref().map(username),
        consumer_reviewed_at: view.consumer_reviewed_at,
        provider_reviewed_by: view.provider_reviewed_by.as_deref().map(user_url),
        provider_reviewed_by_full_name: None,
        provider_reviewed_by_username: view.provider_reviewed_by.as_deref().map(username),
        provider_reviewed_at: view.provider_reviewed_at,
        project: base.url(&format!("/api/projects/{}/", hex(view.project_id))),
        project_uuid: hex(view.project_id),
        project_name: view.project_name.clone(),
        project_description: view.project_description.clone(),
        project_slug: view.project_slug.clone(),
        customer_name: view.customer_name.clone(),
        customer_uuid: hex_of(&view.customer_id),
        customer_slug: hex_of(&view.customer_id),
        can_terminate: matches!(view.state.as_str(), "pending-consumer" | "pending-provider"),
        fixed_price: None,
        activation_price: None,
        termination_comment: None,
        issue: None,
    }
}

/// A component usage as Waldur's `ComponentUsage` shows it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ComponentUsage {
    pub uuid: String,
    pub created: DateTime<Utc>,
    pub description: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub measured_unit: String,
    /// A decimal, as text.
    pub usage: String,
    pub date: DateTime<Utc>,
    pub recurring: bool,
    pub resource_name: String,
    pub resource_uuid: String,
    pub offering_name: String,
    pub offering_uuid: String,
    pub project_name: String,
    pub project_uuid: String,
    pub customer_name: String,
    pub customer_uuid: String,
    pub billing_period: NaiveDate,
    pub modified_by: Option<String>,
}

pub fn component_usage(view: &UsageView) -> ComponentUsage {
    ComponentUsage {
        uuid: hex(view.id),
        created: view.created_at,
        description: view.description.clone(),
        kind: view.component.clone(),
        name: view.component_name.clone(),
        measured_unit: view.measured_unit.clone(),
        usage: view.usage.normalize().to_string(),
        date: view.occurred_at,
        recurring: view.recurring,
        resource_name: view.resource_name.clone(),
        resource_uuid: hex(view.resource_id),
        offering_name: view.offering_name.clone(),
        offering_uuid: hex(view.offering_id),
        project_name: view.project_name.clone(),
        project_uuid: hex(view.project_id),
        customer_name: view.customer_name.clone(),
        customer_uuid: hex_of(&view.customer_id),
        billing_period: view.period,
        modified_by: Some(username(&view.modified_by)),
    }
}
