//! The inventory views (inventory-api): organisations (the tenant's customers), a service's
//! summary, and its resources. A resource here is a kind of instance (`instance_type`) of a
//! service on a tier, with the count of its live instances.

use std::collections::BTreeMap;

use aide::axum::routing::get_with;
use aide::axum::ApiRouter;
use aide::transform::TransformOperation;
use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use fleet_api::AppState;
use fleet_domain::vocabulary::EnvironmentType;
use fleet_projections::inventory::customers::{self, CustomerFilter, CustomerRow};
use fleet_projections::inventory::{self, users, InstanceKind};
use serde::{Deserialize, Serialize};

use super::instances::Scope;
use super::wire::{id, native, native_opt, prefix, Body, Query};
use super::{fresh, Agent, GoaError};

fn op(summary: &'static str) -> impl FnOnce(TransformOperation) -> TransformOperation {
    super::operation("inventory-api", summary)
}

const SCOPE: &str = "/service/{serviceId}/environment/{environmentId}";

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route("/organizations", get_with(all_organizations, op("ListAllOrganizations")))
        .api_route(
            &format!("{SCOPE}/organizations"),
            get_with(active_organizations, op("ListActiveOrganizations")),
        )
        .api_route(
            &format!("{SCOPE}/organization/{{organizationId}}"),
            get_with(organization, op("DescribeOrganization")),
        )
        .api_route(
            &format!("{SCOPE}/service-inventory-summary"),
            get_with(summary, op("DescribeInventorySummary")),
        )
        .api_route(
            &format!("{SCOPE}/model/{{serviceModelId}}/productTier/{{productTierId}}/resources"),
            get_with(resources, op("ListResources")),
        )
        .api_route(
            &format!(
                "{SCOPE}/model/{{serviceModelId}}/productTier/{{productTierId}}/resource/{{resourceId}}"
            ),
            get_with(resource, op("DescribeResource")),
        )
}

const READS: &[&str] = &[
    fleet_events::customer::AGGREGATE_TYPE,
    fleet_events::user::AGGREGATE_TYPE,
    fleet_events::subscription::AGGREGATE_TYPE,
    fleet_events::instance::AGGREGATE_TYPE,
];

/// `Organization`.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Organization {
    email: String,
    org_id: String,
    org_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    org_url: Option<String>,
}

impl From<&CustomerRow> for Organization {
    fn from(row: &CustomerRow) -> Self {
        Self {
            email: row.email.clone(),
            org_id: id(prefix::ORG, row.id),
            org_name: row.name.clone(),
            org_url: row.domain.clone(),
        }
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct OrganizationsQuery {
    has_invoice: Option<bool>,
    /// draft, open, paid, uncollectible or void.
    has_invoice_with_status: Option<String>,
    has_invoice_from_date: Option<DateTime<Utc>>,
    has_invoice_to_date: Option<DateTime<Utc>>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Organizations {
    organizations: Vec<Organization>,
}

/// Every organisation of the tenant; with an invoice filter, those with such invoices.
async fn all_organizations(
    State(state): State<AppState>,
    agent: Agent,
    Query(query): Query<OrganizationsQuery>,
) -> Result<Json<Organizations>, GoaError> {
    let statuses = ["draft", "open", "paid", "uncollectible", "void"];
    if let Some(status) = &query.has_invoice_with_status {
        if !statuses.contains(&status.as_str()) {
            return Err(GoaError::field(
                "hasInvoiceWithStatus",
                format!("must be one of {}", statuses.join(", ")),
            ));
        }
    }
    fresh(&state, agent.tenant(), inventory::NAME, READS).await?;
    let tenant = agent.tenant().as_str();
    let by_invoice = query.has_invoice == Some(true)
        || query.has_invoice_with_status.is_some()
        || query.has_invoice_from_date.is_some()
        || query.has_invoice_to_date.is_some();
    let rows = if by_invoice {
        state
            .caught_up_on(
                agent.tenant(),
                fleet_events::invoice::AGGREGATE_TYPE,
                fleet_projections::invoices::NAME,
            )
            .await?;
        customers::with_invoices(
            &state.pool,
            tenant,
            query.has_invoice_with_status.as_deref(),
            query.has_invoice_from_date.map(|t| t.date_naive()),
            query.has_invoice_to_date.map(|t| t.date_naive()),
        )
        .await?
    } else {
        customers::list(&state.pool, tenant, &CustomerFilter::default(), None, 1000).await?
    };
    Ok(Json(Organizations {
        organizations: rows.iter().map(Organization::from).collect(),
    }))
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ActiveOrganizations {
    environment_id: String,
    organizations: Vec<Organization>,
    service_id: String,
}

/// The organisations holding a live subscription to the service or a live instance of it.
async fn active_organizations(
    State(state): State<AppState>,
    agent: Agent,
    Path(scope): Path<Scope>,
) -> Result<Json<ActiveOrganizations>, GoaError> {
    fresh(&state, agent.tenant(), inventory::NAME, READS).await?;
    let rows =
        inventory::service_customers(&state.pool, agent.tenant().as_str(), &scope.service_id)
            .await?;
    Ok(Json(ActiveOrganizations {
        environment_id: scope.environment_id,
        organizations: rows.iter().map(Organization::from).collect(),
        service_id: scope.service_id,
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct OrganizationPath {
    #[serde(rename = "serviceId")]
    service_id: String,
    #[serde(rename = "environmentId")]
    #[allow(dead_code)]
    environment_id: String,
    #[serde(rename = "organizationId")]
    organization_id: String,
}

async fn organization(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<OrganizationPath>,
) -> Result<Json<Organization>, GoaError> {
    let uuid = native(prefix::ORG, "organization", &path.organization_id)?;
    fresh(&state, agent.tenant(), inventory::NAME, READS).await?;
    inventory::service_customers(&state.pool, agent.tenant().as_str(), &path.service_id)
        .await?
        .iter()
        .find(|c| c.id == uuid)
        .map(|c| Json(Organization::from(c)))
        .ok_or_else(|| GoaError::not_found("organization", &path.organization_id))
}

/// `DescribeInventorySummary`. Images and infra configs are not kept by Fleetledger, so
/// their counts are left out rather than answered as zero.
#[derive(Serialize, schemars::JsonSchema)]
struct Summary {
    #[serde(rename = "EnvironmentCount")]
    environment_count: i64,
    #[serde(rename = "InstancesCount")]
    instances_count: i64,
    #[serde(rename = "OrganizationCount")]
    organization_count: i64,
    #[serde(rename = "ResourceCount")]
    resource_count: i64,
    #[serde(rename = "UserCount")]
    user_count: i64,
    #[serde(rename = "environmentId")]
    environment_id: String,
    #[serde(rename = "serviceId")]
    service_id: String,
}

async fn summary(
    State(state): State<AppState>,
    agent: Agent,
    Path(scope): Path<Scope>,
) -> Result<Json<Summary>, GoaError> {
    fresh(&state, agent.tenant(), inventory::NAME, READS).await?;
    let s =
        inventory::service_summary(&state.pool, agent.tenant().as_str(), &scope.service_id).await?;
    Ok(Json(Summary {
        environment_count: s.environments,
        instances_count: s.live_instances,
        organization_count: s.customers,
        resource_count: s.instance_types,
        user_count: s.users,
        environment_id: scope.environment_id,
        service_id: scope.service_id,
    }))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct TierPath {
    #[serde(rename = "serviceId")]
    service_id: String,
    #[serde(rename = "environmentId")]
    environment_id: String,
    #[serde(rename = "serviceModelId")]
    #[allow(dead_code)]
    service_model_id: String,
    #[serde(rename = "productTierId")]
    product_tier_id: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ResourcePath {
    #[serde(rename = "serviceId")]
    service_id: String,
    #[serde(rename = "environmentId")]
    environment_id: String,
    #[serde(rename = "serviceModelId")]
    #[allow(dead_code)]
    service_model_id: String,
    #[serde(rename = "productTierId")]
    product_tier_id: String,
    #[serde(rename = "resourceId")]
    resource_id: String,
}

/// `Resource`.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Resource {
    environment_id: String,
    instance_count: i64,
    name: String,
    /// One version per tier here: empty.
    per_version_instance_count: BTreeMap<String, i64>,
    resource_id: String,
    service_id: String,
}

impl Resource {
    fn of(kind: &InstanceKind, service_id: &str, environment_id: &str) -> Self {
        Self {
            environment_id: environment_id.to_owned(),
            instance_count: kind.live_instances,
            name: kind.instance_type.clone(),
            per_version_instance_count: BTreeMap::new(),
            resource_id: format!("r-{}", kind.instance_type),
            service_id: service_id.to_owned(),
        }
    }
}

/// ListResources' filters, which Omnistrate sends in a body on this GET.
#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ResourcesFilter {
    environment_type: Option<String>,
    org_id: Option<String>,
    user_id: Option<String>,
    #[allow(dead_code)]
    next_page_token: Option<String>,
    #[allow(dead_code)]
    page_size: Option<i64>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Resources {
    environment_id: String,
    resources: Vec<Resource>,
    service_id: String,
}

async fn resources(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<TierPath>,
    Body(filter): Body<ResourcesFilter>,
) -> Result<Json<Resources>, GoaError> {
    let environment = filter
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
    fresh(&state, agent.tenant(), inventory::NAME, READS).await?;
    let tenant = agent.tenant().as_str();
    let mut customer =
        native_opt(prefix::ORG, "orgId", filter.org_id.as_deref())?.map(|c| c.to_string());
    if let Some(user) = native_opt(prefix::USER, "userId", filter.user_id.as_deref())? {
        let user = users::get(&state.pool, tenant, user)
            .await?
            .ok_or_else(|| GoaError::field("userId", "is not a user"))?;
        if customer.as_ref().is_some_and(|c| c != &user.customer_id) {
            return Ok(Json(Resources {
                environment_id: path.environment_id,
                resources: Vec::new(),
                service_id: path.service_id,
            }));
        }
        customer = Some(user.customer_id);
    }
    let kinds = inventory::instance_kinds(
        &state.pool,
        tenant,
        &path.service_id,
        &path.product_tier_id,
        environment.map(|e| e.as_str()),
        customer.as_deref(),
    )
    .await?;
    Ok(Json(Resources {
        resources: kinds
            .iter()
            .map(|k| Resource::of(k, &path.service_id, &path.environment_id))
            .collect(),
        environment_id: path.environment_id,
        service_id: path.service_id,
    }))
}

async fn resource(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<ResourcePath>,
) -> Result<Json<Resource>, GoaError> {
    fresh(&state, agent.tenant(), inventory::NAME, READS).await?;
    let wanted = path
        .resource_id
        .strip_prefix("r-")
        .unwrap_or(&path.resource_id);
    inventory::instance_kinds(
        &state.pool,
        agent.tenant().as_str(),
        &path.service_id,
        &path.product_tier_id,
        None,
        None,
    )
    .await?
    .iter()
    .find(|k| k.instance_type == wanted)
    .map(|k| Json(Resource::of(k, &path.service_id, &path.environment_id)))
    .ok_or_else(|| GoaError::not_found("resource", &path.resource_id))
}
