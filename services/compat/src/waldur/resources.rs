//! `/api/marketplace-provider-resources/`: the 29 operations of the seed, and HEAD for the
//! count (axum answers HEAD from the GET route, headers only).

use std::collections::BTreeMap;

use aide::axum::routing::{get_with, post_with};
use aide::axum::ApiRouter;
use aide::transform::TransformOperation;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{Datelike, NaiveDate, Utc};
use fleet_api::AppState;
use fleet_app::marketplace::{self, Outcome, PlaceOrder};
use fleet_domain::resource::{ReportSection, ResourceCommand, ResourceState, TERMINATE, UPDATE};
use fleet_projections::marketplace::resources::{self, ResourceFilter, ResourceView, ORDER_KEYS};
use fleet_projections::marketplace::{offerings, orders};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::body::Body;
use super::params::{project_fields, uuid_in_url, Base, Listed, Params};
use super::shapes::{self, hex, provider_uuid};
use super::{applied, fresh, status, Agent, DrfError, Status};

const PATH: &str = "/marketplace-provider-resources";

fn op(summary: &'static str) -> impl FnOnce(TransformOperation) -> TransformOperation {
    super::operation("marketplace-provider-resources", summary)
}

pub fn router() -> ApiRouter<AppState> {
    let item = |tail: &str| format!("{PATH}/{{uuid}}/{tail}");
    ApiRouter::new()
        .api_route(
            &format!("{PATH}/"),
            get_with(list, op("List Marketplace Provider Resources")),
        )
        .api_route(
            &format!("{PATH}/{{uuid}}/"),
            get_with(retrieve, op("Retrieve"))
                .put_with(update, op("Update"))
                .patch_with(partial_update, op("Partial Update")),
        )
        .api_route(
            &item("pull/"),
            post_with(pull, op("Starts process of pulling a resource")),
        )
        .api_route(
            &item("unlink/"),
            post_with(
                unlink,
                op("Delete the resource from the database without touching its backend"),
            ),
        )
        .api_route(
            &item("update_options/"),
            post_with(update_options, op("Update resource options")),
        )
        .api_route(
            &item("update_options_direct/"),
            post_with(
                update_options_direct,
                op("Update resource options directly without creating orders"),
            ),
        )
        .api_route(&item("details/"), get_with(details, op("Details")))
        .api_route(
            &item("glauth_users_config/"),
            get_with(glauth_users_config, op("Glauth users config")),
        )
        .api_route(
            &item("offering_for_subresources/"),
            get_with(offering_for_subresources, op("Offering for subresources")),
        )
        .api_route(&item("offering/"), get_with(offering, op("Offering")))
        .api_route(
            &item("plan_periods/"),
            get_with(plan_periods, op("Plan periods")),
        )
        .api_route(
            &item("team/"),
            get_with(team, op("Return users connected to the project")),
        )
        .api_route(
            &item("move_resource/"),
            post_with(move_resource, op("Move resource to another project")),
        )
        .api_route(
            &item("refresh_last_sync/"),
            post_with(
                refresh_last_sync,
                op("Refresh the last sync time for a resource"),
            ),
        )
        .api_route(
            &item("set_as_erred/"),
            post_with(set_as_erred, op("Set the resource as erred")),
        )
        .api_route(
            &item("set_as_ok/"),
            post_with(set_as_ok, op("Set the resource as OK")),
        )
        .api_route(
            &item("set_backend_id/"),
            post_with(set_backend_id, op("Set resource backend ID")),
        )
        .api_route(
            &item("set_backend_metadata/"),
            post_with(set_backend_metadata, op("Set backend metadata")),
        )
        .api_route(
            &item("set_downscaled/"),
            post_with(set_downscaled, op("Set downscaled flag for resource")),
        )
        .api_route(
            &item("set_end_date_by_provider/"),
            post_with(set_end_date_by_provider, op("Set end date by provider")),
        )
        .api_route(
            &item("set_end_date_by_staff/"),
            post_with(
                set_end_date_by_staff,
                op("Set end date of the resource by staff"),
            ),
        )
        .api_route(
            &item("set_limits/"),
            post_with(set_limits, op("Set limits")),
        )
        .api_route(
            &item("set_paused/"),
            post_with(set_paused, op("Set paused flag for resource")),
        )
        .api_route(
            &item("set_restrict_member_access/"),
            post_with(
                set_restrict_member_access,
                op("Set restrict_member_access flag for resource"),
            ),
        )
        .api_route(
            &item("set_slug/"),
            post_with(set_slug, op("Set slug for resource")),
        )
        .api_route(
            &item("submit_report/"),
            post_with(submit_report, op("Submit resource report")),
        )
        .api_route(
            &item("terminate/"),
            post_with(
                terminate,
                op("Create marketplace order for resource termination"),
            ),
        )
}

/// The query of the list: documents the 39 parameters (all optional).
#[derive(Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct ListQuery {
    backend_id: Option<String>,
    category_uuid: Option<Uuid>,
    component_count: Option<f64>,
    /// Created after (a date or date-time).
    created: Option<String>,
    /// The consumer customer's URL.
    customer: Option<String>,
    customer_uuid: Option<Uuid>,
    downscaled: Option<bool>,
    /// Fields to return (repeat the parameter).
    field: Option<Vec<String>>,
    has_terminate_date: Option<bool>,
    lexis_links_supported: Option<bool>,
    limit_based: Option<bool>,
    limit_component_count: Option<f64>,
    modified: Option<String>,
    name: Option<String>,
    name_exact: Option<String>,
    /// created, end_date, name, project_name, state; `-` for descending.
    o: Option<Vec<String>>,
    offering: Option<String>,
    offering_billable: Option<bool>,
    offering_shared: Option<bool>,
    offering_slug: Option<Vec<String>>,
    offering_type: Option<String>,
    offering_uuid: Option<Vec<Uuid>>,
    only_limit_based: Option<bool>,
    only_usage_based: Option<bool>,
    page: Option<i64>,
    page_size: Option<i64>,
    parent_offering_uuid: Option<Uuid>,
    paused: Option<bool>,
    plan_uuid: Option<Uuid>,
    project_name: Option<String>,
    project_uuid: Option<Uuid>,
    provider_uuid: Option<Uuid>,
    query: Option<String>,
    restrict_member_access: Option<bool>,
    runtime_state: Option<String>,
    service_manager_uuid: Option<Uuid>,
    state: Option<Vec<String>>,
    usage_based: Option<bool>,
    visible_to_username: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct FieldQuery {
    field: Option<Vec<String>>,
}

fn filter_of(agent: &Agent, q: &Params<ListQuery>) -> Result<ResourceFilter, DrfError> {
    let tenant = agent.tenant().as_str();
    let mut f = ResourceFilter {
        backend_id: q.one("backend_id"),
        customer_id: q
            .uuid("customer_uuid")?
            .or(q.url_uuid("customer")?)
            .map(|u| u.to_string()),
        created_from: q.since("created")?,
        modified_from: q.since("modified")?,
        downscaled: q.flag("downscaled")?,
        paused: q.flag("paused")?,
        restrict_member_access: q.flag("restrict_member_access")?,
        has_end_date: q.flag("has_terminate_date")?,
        name_contains: q.one("name"),
        name_exact: q.one("name_exact"),
        offering_ids: q.uuids("offering_uuid")?,
        offering_slugs: q.all("offering_slug"),
        offering_type: q.one("offering_type"),
        offering_shared: q.flag("offering_shared")?,
        offering_billable: q.flag("offering_billable")?,
        plan_id: q.uuid("plan_uuid")?.map(|u| u.to_string()),
        project_name: q.one("project_name"),
        project_id: q.uuid("project_uuid")?,
        query: q.one("query"),
        runtime_state: q.one("runtime_state"),
        usage_based: q.flag("usage_based")?,
        limit_based: q.flag("limit_based")?,
        only_usage_based: q.flag("only_usage_based")?,
        only_limit_based: q.flag("only_limit_based")?,
        component_count: q.integer("component_count")?,
        limit_component_count: q.integer("limit_component_count")?,
        lexis_links_supported: q.flag("lexis_links_supported")?,
        ..Default::default()
    };
    if let Some(offering) = q.url_uuid("offering")? {
        f.offering_ids.push(offering);
    }
    for state in q.all("state") {
        let state = ResourceState::parse(&state).ok_or_else(|| {
            DrfError::field(
                "state",
                format!("Select a valid choice. {state} is not one of the available choices."),
            )
        })?;
        f.states.push(state.as_str().to_owned());
    }
    for key in q.all("o") {
        let (name, descending) = match key.strip_prefix('-') {
            Some(name) => (name, true),
            None => (key.as_str(), false),
        };
        if !ORDER_KEYS.contains(&name) {
            return Err(DrfError::field(
                "o",
                format!("Select a valid choice. {key} is not one of the available choices."),
            ));
        }
        f.order.push((name.to_owned(), descending));
    }
    // Filters naming what this provider has none of: no parents, no categories but its
    // offering types, no offering roles, no consumer users.
    if let Some(provider) = q.uuid("provider_uuid")? {
        f.nothing |= provider != provider_uuid(tenant);
    }
    f.nothing |= q.uuid("parent_offering_uuid")?.is_some();
    f.nothing |= q.uuid("service_manager_uuid")?.is_some();
    f.nothing |= q.one("visible_to_username").is_some();
    Ok(f)
}

/// A resource as shown, with its order in progress and its creation order.
async fn render(
    state: &AppState,
    base: &Base,
    tenant: &str,
    view: &ResourceView,
) -> Result<shapes::Resource, DrfError> {
    let order = |id: Option<Uuid>| async move {
        match id {
            Some(id) => orders::get(&state.pool, tenant, id).await,
            None => Ok(None),
        }
    };
    let plans = Some(&view.offering_plans.0);
    let in_progress = order(view.order_in_progress_id)
        .await?
        .map(|o| shapes::order(base, tenant, &o, plans));
    let creation = order(view.creation_order_id)
        .await?
        .map(|o| shapes::order(base, tenant, &o, plans));
    Ok(shapes::resource(base, tenant, view, in_progress, creation))
}

fn to_value(resource: shapes::Resource) -> Result<Value, DrfError> {
    serde_json::to_value(resource).map_err(|e| DrfError::Internal(e.to_string()))
}

async fn list(
    State(state): State<AppState>,
    agent: Agent,
    base: Base,
    q: Params<ListQuery>,
) -> Result<Listed<shapes::Resource>, DrfError> {
    let tenant = agent.tenant().clone();
    let mut filter = filter_of(&agent, &q)?;
    let page = q.page()?;
    fresh(&state, &tenant).await?;
    // A category is an offering type of this provider (see `shapes::category_uuid`).
    if let Some(category) = q.uuid("category_uuid")? {
        let types: Vec<String> = offerings::list(&state.pool, tenant.as_str())
            .await?
            .into_iter()
            .map(|o| o.offering_type)
            .filter(|t| shapes::category_uuid(tenant.as_str(), t) == category)
            .collect();
        filter.nothing |= types.is_empty();
        filter.offering_types = types;
    }
    let total = resources::count(&state.pool, tenant.as_str(), &filter).await?;
    let offset = page.offset(total)?;
    let rows = resources::list(&state.pool, tenant.as_str(), &filter, offset, page.size).await?;
    let fields = q.all("field");
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        let value = to_value(render(&state, &base, tenant.as_str(), row).await?)?;
        items.push(project_fields(value, &fields));
    }
    Ok(Listed::new(&base, page, offset, total, items))
}

/// The resource, after every acknowledged write, or 404 (another tenant's too).
async fn find(state: &AppState, agent: &Agent, uuid: &str) -> Result<ResourceView, DrfError> {
    let id = Uuid::parse_str(uuid).map_err(|_| DrfError::NotFound)?;
    fresh(state, agent.tenant()).await?;
    resources::get(&state.pool, agent.tenant().as_str(), id)
        .await?
        .ok_or(DrfError::NotFound)
}

async fn shown(
    state: &AppState,
    agent: &Agent,
    base: &Base,
    uuid: &str,
    fields: &[String],
) -> Result<Json<Value>, DrfError> {
    let view = find(state, agent, uuid).await?;
    let value = to_value(render(state, base, agent.tenant().as_str(), &view).await?)?;
    Ok(Json(project_fields(value, fields)))
}

async fn retrieve(
    State(state): State<AppState>,
    agent: Agent,
    base: Base,
    Path(uuid): Path<String>,
    q: Params<FieldQuery>,
) -> Result<Json<Value>, DrfError> {
    shown(&state, &agent, &base, &uuid, &q.all("field")).await
}

async fn details(
    State(state): State<AppState>,
    agent: Agent,
    base: Base,
    Path(uuid): Path<String>,
    q: Params<FieldQuery>,
) -> Result<Json<Value>, DrfError> {
    shown(&state, &agent, &base, &uuid, &q.all("field")).await
}

/// Runs a command on the resource (which must exist for the caller); the outcome.
async fn command(
    state: &AppState,
    agent: &Agent,
    uuid: &str,
    command: ResourceCommand,
) -> Result<Outcome, DrfError> {
    let view = find(state, agent, uuid).await?;
    let outcome =
        marketplace::resource_command(state, &agent.issuer.meta, &view.id.to_string(), command)
            .await?;
    applied(state, outcome.position).await?;
    Ok(outcome)
}

/// A setter's answer: what changed, or that nothing did.
async fn setter(
    state: &AppState,
    agent: &Agent,
    uuid: &str,
    cmd: ResourceCommand,
    changed: &str,
    unchanged: &str,
) -> Result<Json<Status>, DrfError> {
    let outcome = command(state, agent, uuid, cmd).await?;
    Ok(status(if outcome.changed { changed } else { unchanged }))
}

#[derive(Serialize, schemars::JsonSchema)]
struct PullAccepted {
    detail: String,
}

async fn pull(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
) -> Result<(StatusCode, Json<PullAccepted>), DrfError> {
    agent.require_provider()?;
    command(&state, &agent, &uuid, ResourceCommand::RequestPull).await?;
    // 200, not 202: the seed's own client (waldur-api-client 7.8.7) accepts only 200 here.
    Ok((
        StatusCode::OK,
        Json(PullAccepted {
            detail: "Pull operation was successfully scheduled.".into(),
        }),
    ))
}

async fn unlink(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
) -> Result<StatusCode, DrfError> {
    agent.require_staff()?;
    command(&state, &agent, &uuid, ResourceCommand::Unlink).await?;
    // 200 with no body, as the seed and its client have it (later Waldur answers 204).
    Ok(StatusCode::OK)
}

#[derive(Deserialize, schemars::JsonSchema)]
struct OptionsBody {
    #[serde(default)]
    options: Option<Value>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct OrderUuid {
    pub order_uuid: String,
}

#[derive(Serialize, schemars::JsonSchema)]
struct OptionsOrdered {
    status: String,
    order_uuid: String,
}

async fn update_options(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
    Body(body): Body<OptionsBody>,
) -> Result<Response, DrfError> {
    agent.require_provider()?;
    let view = find(&state, &agent, &uuid).await?;
    let options = body.options.unwrap_or(Value::Object(Default::default()));
    if !options.is_object() {
        return Err(DrfError::field(
            "options",
            "Expected a dictionary of items.",
        ));
    }
    let by_order = offerings::get(&state.pool, agent.tenant().as_str(), view.offering_id)
        .await?
        .is_some_and(|o| o.options_by_order);
    if by_order {
        let placed = marketplace::place_order(
            &state,
            &agent.issuer.meta,
            PlaceOrder {
                kind: UPDATE.into(),
                resource_id: Some(view.id.to_string()),
                options: Some(options),
                by_provider: true,
                ..Default::default()
            },
        )
        .await?;
        applied(&state, placed.position).await?;
        // The seed's client accepts only 200: the order's uuid comes with the status.
        return Ok(Json(OptionsOrdered {
            status: "Resource options change is ordered".into(),
            order_uuid: hex(placed.order_id),
        })
        .into_response());
    }
    command(&state, &agent, &uuid, ResourceCommand::SetOptions(options)).await?;
    Ok(status("Resource options are submitted").into_response())
}

async fn update_options_direct(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
    Body(body): Body<OptionsBody>,
) -> Result<Json<Status>, DrfError> {
    agent.require_provider()?;
    let options = body.options.unwrap_or(Value::Object(Default::default()));
    setter(
        &state,
        &agent,
        &uuid,
        ResourceCommand::SetOptions(options),
        "Resource options are updated",
        "Resource options are not changed",
    )
    .await
}

/// Present-but-null is not absent: `end_date: null` clears it.
fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<NaiveDate>>, D::Error> {
    Option::<NaiveDate>::deserialize(d).map(Some)
}

#[derive(Deserialize, schemars::JsonSchema)]
struct UpdateBody {
    name: String,
    description: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schemars(with = "Option<NaiveDate>")]
    end_date: Option<Option<NaiveDate>>,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct PatchBody {
    name: Option<String>,
    description: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schemars(with = "Option<NaiveDate>")]
    end_date: Option<Option<NaiveDate>>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct ResourceUpdate {
    name: String,
    description: String,
    end_date: Option<NaiveDate>,
}

async fn change_details(
    state: &AppState,
    agent: &Agent,
    uuid: &str,
    body: PatchBody,
) -> Result<Json<ResourceUpdate>, DrfError> {
    agent.require_provider()?;
    command(
        state,
        agent,
        uuid,
        ResourceCommand::ChangeDetails {
            name: body.name,
            description: body.description,
            end_date: body.end_date,
            today: Utc::now().date_naive(),
        },
    )
    .await?;
    let view = find(state, agent, uuid).await?;
    Ok(Json(ResourceUpdate {
        name: view.name,
        description: view.description,
        end_date: view.end_date,
    }))
}

async fn update(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
    Body(body): Body<UpdateBody>,
) -> Result<Json<ResourceUpdate>, DrfError> {
    let body = PatchBody {
        name: Some(body.name),
        description: body.description,
        end_date: body.end_date,
    };
    change_details(&state, &agent, &uuid, body).await
}

async fn partial_update(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
    Body(body): Body<PatchBody>,
) -> Result<Json<ResourceUpdate>, DrfError> {
    change_details(&state, &agent, &uuid, body).await
}

async fn glauth_users_config(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
) -> Result<Response, DrfError> {
    let view = find(&state, &agent, &uuid).await?;
    // No offering users are kept here yet: the config names the project's group only.
    let text = format!(
        "# GLauth users of {} ({}), project {}\n",
        view.name,
        hex(view.id),
        view.project_name.replace('\n', " ")
    );
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

#[derive(Serialize, schemars::JsonSchema)]
struct SubresourceOffering {
    uuid: String,
    #[serde(rename = "type")]
    kind: String,
}

async fn offering_for_subresources(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
) -> Result<Json<Vec<SubresourceOffering>>, DrfError> {
    // No offering here is provisioned under another resource.
    find(&state, &agent, &uuid).await?;
    Ok(Json(Vec::new()))
}

async fn offering(
    State(state): State<AppState>,
    agent: Agent,
    base: Base,
    Path(uuid): Path<String>,
) -> Result<Json<Value>, DrfError> {
    let view = find(&state, &agent, &uuid).await?;
    let tenant = agent.tenant().as_str();
    let row = offerings::get(&state.pool, tenant, view.offering_id)
        .await?
        .ok_or(DrfError::NotFound)?;
    let components: Vec<Value> = row.components.0.iter().map(|c| serde_json::json!({
        "uuid": hex(Uuid::new_v5(&row.id, c.kind.as_bytes())),
        "billing_type": c.billing_type, "type": c.kind, "name": c.name,
        "description": c.description, "measured_unit": c.measured_unit,
        "unit_factor": 1, "article_code": c.product, "is_boolean": false, "is_builtin": false,
        "is_prepaid": false,
    })).collect();
    let plans: Vec<Value> = row.plans.0.iter().map(|p| serde_json::json!({
        "url": base.url(&format!("/api/marketplace-public-plans/{}/", hex(Uuid::parse_str(&p.id).unwrap_or(row.id)))),
        "uuid": hex(Uuid::parse_str(&p.id).unwrap_or(row.id)),
        "name": p.name, "description": p.description, "unit": p.unit, "archived": p.archived,
        "is_active": !p.archived, "components": [], "prices": {}, "quotas": {},
    })).collect();
    Ok(Json(serde_json::json!({
        "url": base.url(&format!("/api/marketplace-provider-offerings/{}/", hex(row.id))),
        "uuid": hex(row.id),
        "created": row.created_at,
        "name": row.name,
        "slug": row.slug,
        "description": row.description,
        "customer_uuid": hex(provider_uuid(tenant)),
        "customer_name": tenant,
        "category_title": row.offering_type,
        "category_uuid": hex(shapes::category_uuid(tenant, &row.offering_type)),
        "type": row.offering_type,
        "shared": row.shared,
        "billable": row.billable,
        "state": "Active",
        "plugin_options": if row.plugin_options.0.is_object() { row.plugin_options.0.clone() } else { serde_json::json!({}) },
        "components": components,
        "plans": plans,
        "endpoints": [], "screenshots": [], "files": [], "quotas": [], "roles": [],
        "organization_groups": [], "promotion_campaigns": [], "software_catalogs": [],
        "partitions": [],
    })))
}

#[derive(Serialize, schemars::JsonSchema)]
struct PlanPeriod {
    uuid: String,
    plan_name: String,
    plan_uuid: String,
    start: Option<chrono::DateTime<Utc>>,
    end: Option<chrono::DateTime<Utc>>,
    components: Vec<shapes::ComponentUsage>,
}

async fn plan_periods(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
) -> Result<Json<Vec<PlanPeriod>>, DrfError> {
    let view = find(&state, &agent, &uuid).await?;
    let Some(plan_id) = view.plan_id.clone() else {
        return Ok(Json(Vec::new()));
    };
    let plan_name = view
        .offering_plans
        .0
        .as_array()
        .and_then(|p| p.iter().find(|p| p["id"] == plan_id.as_str()))
        .and_then(|p| p["name"].as_str())
        .unwrap_or_default()
        .to_owned();
    let today = Utc::now().date_naive();
    let month = today.with_day(1).unwrap_or(today);
    let filter = fleet_projections::marketplace::UsageFilter {
        resource_id: Some(view.id),
        ..Default::default()
    };
    let usages = fleet_projections::marketplace::list_usages(
        &state.pool,
        agent.tenant().as_str(),
        &filter,
        0,
        1000,
    )
    .await?;
    let components = usages
        .iter()
        .filter(|u| u.period >= month)
        .map(shapes::component_usage)
        .collect();
    let plan_uuid = Uuid::parse_str(&plan_id).unwrap_or(view.id);
    Ok(Json(vec![PlanPeriod {
        uuid: hex(Uuid::new_v5(&view.id, plan_id.as_bytes())),
        plan_name,
        plan_uuid: hex(plan_uuid),
        start: Some(view.created_at),
        end: None,
        components,
    }]))
}

#[derive(Serialize, schemars::JsonSchema)]
struct ProjectUser {
    url: String,
    uuid: String,
    username: String,
    full_name: String,
    role: String,
}

async fn team(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
) -> Result<Json<Vec<ProjectUser>>, DrfError> {
    // Project membership is not modelled: a project's team is empty.
    find(&state, &agent, &uuid).await?;
    Ok(Json(Vec::new()))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ProjectLink {
    url: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct MoveBody {
    project: ProjectLink,
}

async fn move_resource(
    State(state): State<AppState>,
    agent: Agent,
    base: Base,
    Path(uuid): Path<String>,
    Body(body): Body<MoveBody>,
) -> Result<Json<Value>, DrfError> {
    agent.require_staff()?;
    let view = find(&state, &agent, &uuid).await?;
    let project = uuid_in_url(&body.project.url)
        .ok_or_else(|| DrfError::field("project", "Invalid hyperlink - No URL match."))?;
    let outcome = marketplace::move_resource(
        &state,
        &agent.issuer.meta,
        &view.id.to_string(),
        &project.to_string(),
    )
    .await?;
    applied(&state, outcome.position).await?;
    shown(&state, &agent, &base, &uuid, &[]).await
}

async fn refresh_last_sync(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
) -> Result<Json<Status>, DrfError> {
    agent.require_provider()?;
    setter(
        &state,
        &agent,
        &uuid,
        ResourceCommand::Sync { at: Utc::now() },
        "Last sync time has been refreshed.",
        "Last sync time has been refreshed.",
    )
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ErredBody {
    #[serde(default)]
    error_message: String,
    #[serde(default)]
    error_traceback: String,
}

async fn set_as_erred(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
    Body(body): Body<ErredBody>,
) -> Result<Json<Status>, DrfError> {
    agent.require_provider()?;
    setter(
        &state,
        &agent,
        &uuid,
        ResourceCommand::MarkErred {
            error_message: body.error_message,
            error_traceback: body.error_traceback,
        },
        "Resource has been marked as erred.",
        "Resource is erred already.",
    )
    .await
}

async fn set_as_ok(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
) -> Result<Json<Status>, DrfError> {
    agent.require_provider()?;
    setter(
        &state,
        &agent,
        &uuid,
        ResourceCommand::MarkOk,
        "Resource has been marked as OK.",
        "Resource is OK already.",
    )
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
struct BackendIdBody {
    #[serde(default)]
    backend_id: String,
}

async fn set_backend_id(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
    Body(body): Body<BackendIdBody>,
) -> Result<Json<Status>, DrfError> {
    agent.require_provider()?;
    setter(
        &state,
        &agent,
        &uuid,
        ResourceCommand::SetBackendId(body.backend_id),
        "Resource backend_id has been changed.",
        "Resource backend_id is not changed.",
    )
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
struct BackendMetadataBody {
    backend_metadata: Value,
}

async fn set_backend_metadata(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
    Body(body): Body<BackendMetadataBody>,
) -> Result<Json<Status>, DrfError> {
    agent.require_provider()?;
    setter(
        &state,
        &agent,
        &uuid,
        ResourceCommand::SetBackendMetadata(body.backend_metadata),
        "The backend metadata is updated",
        "The backend metadata is not changed",
    )
    .await
}

async fn flag(
    state: &AppState,
    agent: &Agent,
    uuid: &str,
    flag: &'static str,
    value: Option<bool>,
) -> Result<Json<Status>, DrfError> {
    agent.require_staff()?;
    let command = ResourceCommand::SetFlag {
        flag,
        value: value.unwrap_or(false),
    };
    setter(
        state,
        agent,
        uuid,
        command,
        &format!("Resource {flag} has been changed."),
        &format!("Resource {flag} is not changed."),
    )
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
struct DownscaledBody {
    downscaled: Option<bool>,
}

async fn set_downscaled(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
    Body(body): Body<DownscaledBody>,
) -> Result<Json<Status>, DrfError> {
    flag(&state, &agent, &uuid, "downscaled", body.downscaled).await
}

#[derive(Deserialize, schemars::JsonSchema)]
struct PausedBody {
    paused: Option<bool>,
}

async fn set_paused(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
    Body(body): Body<PausedBody>,
) -> Result<Json<Status>, DrfError> {
    flag(&state, &agent, &uuid, "paused", body.paused).await
}

#[derive(Deserialize, schemars::JsonSchema)]
struct RestrictBody {
    restrict_member_access: Option<bool>,
}

async fn set_restrict_member_access(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
    Body(body): Body<RestrictBody>,
) -> Result<Json<Status>, DrfError> {
    flag(
        &state,
        &agent,
        &uuid,
        "restrict_member_access",
        body.restrict_member_access,
    )
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
struct EndDateBody {
    #[serde(default)]
    end_date: Option<NaiveDate>,
}

fn end_date(agent: &Agent, body: EndDateBody, by: &str) -> ResourceCommand {
    ResourceCommand::SetEndDate {
        end_date: body.end_date,
        by: by.into(),
        requested_by: agent.issuer.meta.actor.id.clone(),
        today: Utc::now().date_naive(),
    }
}

async fn set_end_date_by_provider(
    State(state): State<AppState>,
    agent: Agent,
    base: Base,
    Path(uuid): Path<String>,
    Body(body): Body<EndDateBody>,
) -> Result<Json<Value>, DrfError> {
    agent.require_provider()?;
    command(&state, &agent, &uuid, end_date(&agent, body, "provider")).await?;
    shown(&state, &agent, &base, &uuid, &[]).await
}

async fn set_end_date_by_staff(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
    Body(body): Body<EndDateBody>,
) -> Result<Json<Status>, DrfError> {
    agent.require_staff()?;
    setter(
        &state,
        &agent,
        &uuid,
        end_date(&agent, body, "staff"),
        "End date has been set.",
        "End date is not changed.",
    )
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
struct LimitsBody {
    limits: BTreeMap<String, i64>,
}

async fn set_limits(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
    Body(body): Body<LimitsBody>,
) -> Result<Json<Status>, DrfError> {
    agent.require_provider()?;
    let view = find(&state, &agent, &uuid).await?;
    let known: Vec<&str> = view
        .offering_components
        .0
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["type"].as_str()).collect())
        .unwrap_or_default();
    if let Some(unknown) = body.limits.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(DrfError::field(
            "limits",
            format!("{unknown} is not a component of the offering."),
        ));
    }
    setter(
        &state,
        &agent,
        &uuid,
        ResourceCommand::SetLimits(body.limits),
        "Resource limits have been updated.",
        "Resource limits are not changed.",
    )
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
struct SlugBody {
    slug: String,
}

async fn set_slug(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
    Body(body): Body<SlugBody>,
) -> Result<Json<Status>, DrfError> {
    agent.require_staff()?;
    setter(
        &state,
        &agent,
        &uuid,
        ResourceCommand::SetSlug(body.slug),
        "Resource slug has been changed.",
        "Resource slug is not changed.",
    )
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ReportBody {
    report: Vec<ReportSectionBody>,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ReportSectionBody {
    header: String,
    body: String,
}

async fn submit_report(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
    Body(body): Body<ReportBody>,
) -> Result<Json<Status>, DrfError> {
    agent.require_provider()?;
    let report = body
        .report
        .into_iter()
        .map(|s| ReportSection {
            header: s.header,
            body: s.body,
        })
        .collect();
    setter(
        &state,
        &agent,
        &uuid,
        ResourceCommand::SubmitReport(report),
        "Report is submitted",
        "Report is not changed",
    )
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
struct TerminateBody {
    #[serde(default)]
    attributes: Value,
}

async fn terminate(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
    Body(body): Body<TerminateBody>,
) -> Result<Json<OrderUuid>, DrfError> {
    agent.require_provider()?;
    let view = find(&state, &agent, &uuid).await?;
    let placed = marketplace::place_order(
        &state,
        &agent.issuer.meta,
        PlaceOrder {
            kind: TERMINATE.into(),
            resource_id: Some(view.id.to_string()),
            attributes: body.attributes,
            by_provider: true,
            ..Default::default()
        },
    )
    .await?;
    applied(&state, placed.position).await?;
    Ok(Json(OrderUuid {
        order_uuid: hex(placed.order_id),
    }))
}
