//! Search and service offerings (inventory-api). Search is PostgreSQL full-text search over
//! the inventory: a query may start with a kind (`resourceinstance:`, `deploymentcell:`,
//! `subscription:`, `user:`, `snapshot:`, `workflow:`, `upgradepath:`, `all:`) to search only
//! that kind; every word must match, as a prefix. The offerings are the services the tenant
//! sells, with the product tiers its subscriptions and instances use.

use std::collections::{BTreeMap, BTreeSet};

use aide::axum::routing::{get_with, post_with};
use aide::axum::ApiRouter;
use aide::transform::TransformOperation;
use axum::extract::{Path, State};
use axum::Json;
use fleet_api::AppState;
use fleet_domain::instance::Instance;
use fleet_projections::inventory::search::{self, Hit, KINDS};
use fleet_projections::inventory::NAME as INVENTORY;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::instances::Scope;
use super::wire::{id, native, native_opt, prefix, Body, Query};
use super::{fresh, Agent, GoaError};

const READS: &[&str] = &[
    fleet_events::instance::AGGREGATE_TYPE,
    fleet_events::host_cluster::AGGREGATE_TYPE,
    fleet_events::subscription::AGGREGATE_TYPE,
    fleet_events::user::AGGREGATE_TYPE,
    fleet_events::snapshot::AGGREGATE_TYPE,
    fleet_events::workflow::AGGREGATE_TYPE,
    fleet_events::upgrade_path::AGGREGATE_TYPE,
];

/// Hits per kind.
const PER_KIND: i64 = 50;

fn op(summary: &'static str) -> impl FnOnce(TransformOperation) -> TransformOperation {
    super::operation("inventory-api", summary)
}

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/search-inventory",
            post_with(search_all, op("SearchInventory")),
        )
        .api_route(
            "/service/{serviceId}/environment/{environmentId}/search-inventory",
            post_with(search_service, op("SearchServiceInventory")),
        )
        .api_route(
            "/service-offering",
            get_with(list_offerings, op("ListServiceOfferings")),
        )
        .api_route(
            "/service-offering/{serviceId}",
            get_with(describe_offering, op("DescribeServiceOffering")),
        )
        .api_route(
            "/service-offering/{serviceId}/resource/{resourceId}/instance/{instanceId}",
            get_with(
                describe_offering_resource,
                op("DescribeServiceOfferingResource"),
            ),
        )
}

#[derive(Deserialize, schemars::JsonSchema)]
struct SearchBody {
    query: String,
}

/// The kinds a query asks for and its words; an unknown kind is a 400.
fn parse_query(query: &str) -> Result<(Option<&'static str>, &str), GoaError> {
    let query = query.trim();
    if query.is_empty() {
        return Err(GoaError::field("query", "must not be empty"));
    }
    match query.split_once(':') {
        Some((kind, rest)) if !kind.contains(' ') => {
            let kind = kind.to_ascii_lowercase();
            if kind == "all" {
                return Ok((None, rest));
            }
            KINDS
                .iter()
                .find(|k| **k == kind)
                .map(|k| (Some(*k), rest))
                .ok_or_else(|| {
                    GoaError::field(
                        "query",
                        format!(
                            "{kind}: is not a kind; use one of {}, all",
                            KINDS.join(", ")
                        ),
                    )
                })
        }
        _ => Ok((None, query)),
    }
}

/// A search record, with the fields every kind shares.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Record {
    id: String,
    name: String,
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_plan_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cloud_provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region_code: Option<String>,
    /// Which kind of thing it is.
    #[serde(rename = "type")]
    kind: String,
}

impl From<Hit> for Record {
    fn from(hit: Hit) -> Self {
        let shown = match hit.kind.as_str() {
            "resourceinstance" => id(prefix::INSTANCE, &hit.id),
            "subscription" => id(prefix::SUBSCRIPTION, &hit.id),
            "user" => id(prefix::USER, &hit.id),
            "snapshot" => id(prefix::SNAPSHOT, &hit.id),
            "workflow" => id(prefix::WORKFLOW, &hit.id),
            "upgradepath" => id(prefix::UPGRADE_PATH, &hit.id),
            _ => hit.id.clone(),
        };
        Self {
            id: shown,
            name: hit.name,
            status: hit.status.to_ascii_uppercase(),
            service_id: hit.service_id,
            service_plan_id: hit.plan_id,
            cloud_provider: hit.cloud_provider,
            region_code: hit.region,
            kind: hit.kind,
        }
    }
}

/// The twelve buckets of Omnistrate's answer, and its snapshots.
#[derive(Serialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Buckets {
    deployment_cell_results: Vec<Record>,
    notification_results: Vec<Record>,
    proxy_instance_results: Vec<Record>,
    resource_instance_results: Vec<Record>,
    resource_results: Vec<Record>,
    serverless_proxy_results: Vec<Record>,
    service_plan_results: Vec<Record>,
    service_results: Vec<Record>,
    snapshot_results: Vec<Record>,
    subscription_results: Vec<Record>,
    upgrade_path_results: Vec<Record>,
    user_results: Vec<Record>,
    workflow_results: Vec<Record>,
}

async fn hits(
    state: &AppState,
    agent: &Agent,
    query: &str,
    service_id: Option<&str>,
) -> Result<Vec<Hit>, GoaError> {
    let (kind, words) = parse_query(query)?;
    fresh(state, agent.tenant(), INVENTORY, READS).await?;
    let kinds = kind.map(|k| vec![k]);
    Ok(search::search(
        &state.pool,
        agent.tenant().as_str(),
        words,
        kinds.as_deref(),
        service_id,
        PER_KIND,
    )
    .await?)
}

async fn search_all(
    State(state): State<AppState>,
    agent: Agent,
    Body(body): Body<SearchBody>,
) -> Result<Json<Buckets>, GoaError> {
    let mut buckets = Buckets::default();
    for hit in hits(&state, &agent, &body.query, None).await? {
        let bucket = match hit.kind.as_str() {
            "resourceinstance" => &mut buckets.resource_instance_results,
            "deploymentcell" => &mut buckets.deployment_cell_results,
            "subscription" => &mut buckets.subscription_results,
            "user" => &mut buckets.user_results,
            "snapshot" => &mut buckets.snapshot_results,
            "workflow" => &mut buckets.workflow_results,
            _ => &mut buckets.upgrade_path_results,
        };
        bucket.push(hit.into());
    }
    Ok(Json(buckets))
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ServiceResults {
    results: Vec<Record>,
    service_id: String,
}

async fn search_service(
    State(state): State<AppState>,
    agent: Agent,
    Path(scope): Path<Scope>,
    Body(body): Body<SearchBody>,
) -> Result<Json<ServiceResults>, GoaError> {
    let results = hits(&state, &agent, &body.query, Some(&scope.service_id))
        .await?
        .into_iter()
        .map(Record::from)
        .collect();
    Ok(Json(ServiceResults {
        results,
        service_id: scope.service_id,
    }))
}

/// The services the tenant sells and their tiers, from its subscriptions and instances.
async fn offerings(
    state: &AppState,
    agent: &Agent,
    customer: Option<String>,
) -> Result<BTreeMap<String, BTreeSet<String>>, GoaError> {
    fresh(state, agent.tenant(), INVENTORY, READS).await?;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT service_id, plan_id FROM inventory.subscriptions
          WHERE tenant = $1 AND ($2::text IS NULL OR customer_id = $2)
         UNION
         SELECT service_id, plan_id FROM inventory.instances
          WHERE tenant = $1 AND ($2::text IS NULL OR customer_id = $2)",
    )
    .bind(agent.tenant().as_str())
    .bind(customer)
    .fetch_all(&state.pool)
    .await?;
    let mut services: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (service, plan) in rows {
        services.entry(service).or_default().insert(plan);
    }
    Ok(services)
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Offering {
    #[serde(rename = "productTierID")]
    product_tier_id: String,
    product_tier_name: String,
    service_id: String,
    service_name: String,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ServiceOffering {
    service_id: String,
    service_name: String,
    offerings: Vec<Offering>,
}

fn offering(service: &str, plans: &BTreeSet<String>) -> ServiceOffering {
    ServiceOffering {
        service_id: service.to_owned(),
        service_name: service.to_owned(),
        offerings: plans
            .iter()
            .map(|p| Offering {
                product_tier_id: p.clone(),
                product_tier_name: p.clone(),
                service_id: service.to_owned(),
                service_name: service.to_owned(),
            })
            .collect(),
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct OfferingsQuery {
    org_id: Option<String>,
    /// Every offering here is the tenant's own: any value lists them.
    #[allow(dead_code)]
    visibility: Option<String>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct OfferingList {
    service_ids: Vec<String>,
    services: Vec<ServiceOffering>,
}

async fn list_offerings(
    State(state): State<AppState>,
    agent: Agent,
    Query(query): Query<OfferingsQuery>,
) -> Result<Json<Value>, GoaError> {
    let org = native_opt(prefix::ORG, "orgId", query.org_id.as_deref())?;
    let services = offerings(&state, &agent, org.map(|o| o.to_string())).await?;
    let list = OfferingList {
        service_ids: services.keys().cloned().collect(),
        services: services.iter().map(|(s, p)| offering(s, p)).collect(),
    };
    Ok(Json(
        json!({ "ConsumptionListServiceOfferingsResult": list }),
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct OfferingQuery {
    product_tier_id: Option<String>,
    #[allow(dead_code)]
    product_tier_version: Option<String>,
    #[allow(dead_code)]
    visibility: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ServicePath {
    service_id: String,
}

async fn describe_offering(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<ServicePath>,
    Query(query): Query<OfferingQuery>,
) -> Result<Json<Value>, GoaError> {
    let services = offerings(&state, &agent, None).await?;
    let mut plans = services
        .get(&path.service_id)
        .cloned()
        .ok_or_else(|| GoaError::not_found("service offering", &path.service_id))?;
    if let Some(tier) = &query.product_tier_id {
        if !plans.contains(tier) {
            return Err(GoaError::not_found("product tier", tier));
        }
        plans.retain(|p| p == tier);
    }
    Ok(Json(
        json!({ "ConsumptionDescribeServiceOfferingResult": offering(&path.service_id, &plans) }),
    ))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ResourcePath {
    service_id: String,
    /// `r-<resource key>` or the key.
    resource_id: String,
    /// `none` for the resource alone.
    instance_id: String,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ApiEntity {
    verb: String,
    path: String,
    description: String,
}

/// The operations a resource of the service answers, at their Omnistrate paths; with an
/// instance, only those its state allows now.
async fn describe_offering_resource(
    State(state): State<AppState>,
    agent: Agent,
    Path(path): Path<ResourcePath>,
) -> Result<Json<Value>, GoaError> {
    let resource = path
        .resource_id
        .strip_prefix("r-")
        .unwrap_or(&path.resource_id)
        .to_owned();
    let status = if path.instance_id == "none" {
        None
    } else {
        let uuid = native(prefix::INSTANCE, "instance", &path.instance_id)?;
        let instance = state
            .bus
            .state::<Instance>(agent.tenant(), &uuid.to_string())
            .await
            .map_err(|e| GoaError::Unavailable(e.to_string()))?;
        match &instance.spec {
            Some(spec) if spec.service_id == path.service_id && spec.instance_type == resource => {
                Some(instance.status.as_str())
            }
            _ => return Err(GoaError::not_found("instance", &path.instance_id)),
        }
    };
    let services = offerings(&state, &agent, None).await?;
    if status.is_none() && !services.contains_key(&path.service_id) {
        return Err(GoaError::not_found("service offering", &path.service_id));
    }
    let item = "/resource-instance/{instanceId}";
    let all: [(&str, &str, &str, &[&str]); 6] = [
        (
            "POST",
            "/resource-instance",
            "Create an instance of the resource",
            &[],
        ),
        (
            "GET",
            item,
            "Describe the instance",
            &["deploying", "running", "stopped", "failed"],
        ),
        (
            "POST",
            "/resource-instance/{instanceId}/stop",
            "Stop the instance",
            &["running"],
        ),
        (
            "POST",
            "/resource-instance/{instanceId}/start",
            "Start the instance",
            &["stopped"],
        ),
        (
            "POST",
            "/resource-instance/{instanceId}/restart",
            "Restart the instance",
            &["running"],
        ),
        (
            "DELETE",
            item,
            "Delete the instance",
            &["deploying", "running", "stopped", "failed"],
        ),
    ];
    let apis: Vec<ApiEntity> = all
        .iter()
        .filter(|(_, _, _, allowed)| match status {
            None => true,
            Some(s) => allowed.contains(&s),
        })
        .map(|(verb, tail, what, _)| ApiEntity {
            verb: (*verb).into(),
            path: format!("/{}/{resource}{tail}", path.service_id),
            description: (*what).into(),
        })
        .collect();
    Ok(Json(
        json!({ "ConsumptionDescribeServiceOfferingResourceResult": { "apis": apis } }),
    ))
}
