//! The marketplace in the native API: offerings and projects are created here; resources and
//! orders are read here (they are driven by the Waldur dialect's order and provider calls, or
//! by any client of the same application functions).

use aide::axum::routing::{get_with, post_with};
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use chrono::NaiveDate;
use fleet_app::marketplace;
use fleet_domain::offering::{OfferingCommand, OfferingComponent, OfferingPlan};
use fleet_domain::order::Order;
use fleet_domain::project::{Project, ProjectCommand};
use fleet_domain::resource::Resource;
use fleet_projections::marketplace::offerings::OfferingRow;
use fleet_projections::marketplace::orders::{self, OrderFilter, OrderView};
use fleet_projections::marketplace::projects::ProjectRow;
use fleet_projections::marketplace::resources::{self, ResourceFilter, ResourceView};
use fleet_projections::marketplace::{self as read, NAME};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::auth::{Caller, Permission};
use crate::docs::summary;
use crate::extract::{ApiJson, ApiQuery, ReadPosition};
use crate::pagination::Items;
use crate::routes::commands::{Created, Reply};
use crate::routes::{history_route, parse_id, wait_for_position, Issuer};
use crate::{ApiError, AppState};

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/offerings",
            post_with(
                create_offering,
                summary("Create a marketplace offering with its plans and priced components"),
            )
            .get_with(list_offerings, summary("List offerings")),
        )
        .api_route(
            "/offerings/{id}",
            get_with(get_offering, summary("Get an offering")),
        )
        .api_route(
            "/projects",
            post_with(create_project, summary("Create a project of a customer"))
                .get_with(list_projects, summary("List projects")),
        )
        .api_route(
            "/projects/{id}",
            get_with(get_project, summary("Get a project")),
        )
        .api_route("/projects/{id}/events", history_route::<Project>())
        .api_route(
            "/marketplace-resources",
            get_with(list_resources, summary("List marketplace resources")),
        )
        .api_route(
            "/marketplace-resources/{id}",
            get_with(get_resource, summary("Get a marketplace resource")),
        )
        .api_route(
            "/marketplace-resources/{id}/events",
            history_route::<Resource>(),
        )
        .api_route(
            "/marketplace-orders",
            get_with(
                list_orders,
                summary("List marketplace orders, newest first"),
            ),
        )
        .api_route(
            "/marketplace-orders/{id}",
            get_with(get_order, summary("Get a marketplace order")),
        )
        .api_route("/marketplace-orders/{id}/events", history_route::<Order>())
        .with_path_items(|item| item.tag("marketplace"))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct NewOffering {
    name: String,
    slug: String,
    #[serde(default)]
    description: String,
    /// The plugin type, e.g. `Marketplace.Slurm`.
    #[serde(rename = "type")]
    offering_type: String,
    #[serde(default = "yes")]
    shared: bool,
    #[serde(default = "yes")]
    billable: bool,
    /// Orders wait for the consumer's approval before the provider's.
    #[serde(default)]
    consumer_review: bool,
    /// Option changes go through an Update order.
    #[serde(default)]
    options_by_order: bool,
    components: Vec<OfferingComponent>,
    /// Plans; ids are minted when absent.
    #[serde(default)]
    plans: Vec<NewPlan>,
    #[serde(default)]
    plugin_options: Value,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct NewPlan {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default = "monthly")]
    unit: String,
}

fn yes() -> bool {
    true
}

fn monthly() -> String {
    "month".into()
}

#[derive(Serialize, schemars::JsonSchema)]
struct CreatedId {
    id: Uuid,
    position: u64,
}

async fn create_offering(
    State(state): State<AppState>,
    issuer: Issuer,
    ApiJson(body): ApiJson<NewOffering>,
) -> Result<Created<CreatedId>, ApiError> {
    issuer.caller.require(Permission::ManagePricing)?;
    let command = OfferingCommand::Create {
        name: body.name,
        slug: body.slug,
        description: body.description,
        offering_type: body.offering_type,
        shared: body.shared,
        billable: body.billable,
        consumer_review: body.consumer_review,
        options_by_order: body.options_by_order,
        components: body.components,
        plans: body
            .plans
            .into_iter()
            .map(|p| OfferingPlan {
                id: Uuid::now_v7().to_string(),
                name: p.name,
                description: p.description,
                unit: p.unit,
                archived: false,
            })
            .collect(),
        plugin_options: body.plugin_options,
    };
    let (id, position) = marketplace::create_offering(&state, &issuer.meta, command).await?;
    Ok(Reply::new(position, CreatedId { id, position }).at(format!("/v1/offerings/{id}")))
}

async fn list_offerings(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
) -> Result<Json<Items<OfferingRow>>, ApiError> {
    wait_for_position(&state, NAME, position).await?;
    let items = read::offerings::list(&state.pool, caller.tenant.as_str()).await?;
    Ok(Json(Items { items }))
}

async fn get_offering(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    Path(id): Path<String>,
) -> Result<Json<OfferingRow>, ApiError> {
    let uuid = parse_id("offering", &id)?;
    wait_for_position(&state, NAME, position).await?;
    read::offerings::get(&state.pool, caller.tenant.as_str(), uuid)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("offering {id} not found")))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct NewProject {
    customer_id: String,
    name: String,
    #[serde(default)]
    description: String,
    /// Derived from the name when absent.
    slug: Option<String>,
    end_date: Option<NaiveDate>,
}

async fn create_project(
    State(state): State<AppState>,
    issuer: Issuer,
    ApiJson(body): ApiJson<NewProject>,
) -> Result<Created<CreatedId>, ApiError> {
    issuer.caller.require(Permission::ManageAccounts)?;
    let slug = body.slug.unwrap_or_else(|| {
        body.name
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect()
    });
    let command = ProjectCommand::Create {
        customer_id: body.customer_id,
        name: body.name,
        description: body.description,
        slug,
        end_date: body.end_date,
    };
    let (id, position) = marketplace::create_project(&state, &issuer.meta, command).await?;
    Ok(Reply::new(position, CreatedId { id, position }).at(format!("/v1/projects/{id}")))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ProjectQuery {
    customer_id: Option<String>,
}

async fn list_projects(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    ApiQuery(query): ApiQuery<ProjectQuery>,
) -> Result<Json<Items<ProjectRow>>, ApiError> {
    wait_for_position(&state, NAME, position).await?;
    let items = read::projects::list(
        &state.pool,
        caller.tenant.as_str(),
        query.customer_id.as_deref(),
    )
    .await?;
    Ok(Json(Items { items }))
}

async fn get_project(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    Path(id): Path<String>,
) -> Result<Json<ProjectRow>, ApiError> {
    let uuid = parse_id("project", &id)?;
    wait_for_position(&state, NAME, position).await?;
    read::projects::get(&state.pool, caller.tenant.as_str(), uuid)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("project {id} not found")))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ResourceQuery {
    /// `Creating`, `OK`, `Erred`, `Updating`, `Terminating` or `Terminated`.
    state: Option<String>,
    project_id: Option<Uuid>,
    customer_id: Option<String>,
    offering_id: Option<Uuid>,
    /// 1 to 1000; 100 by default.
    limit: Option<i64>,
    offset: Option<i64>,
}

/// `offset` and `limit` of a list: 100 rows from the first by default, at most 1000.
fn window(offset: Option<i64>, limit: Option<i64>) -> Result<(i64, i64), ApiError> {
    let limit = limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit", "must be between 1 and 1000"));
    }
    let offset = offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::bad_request("offset", "must not be negative"));
    }
    Ok((offset, limit))
}

async fn list_resources(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    ApiQuery(query): ApiQuery<ResourceQuery>,
) -> Result<Json<Items<ResourceView>>, ApiError> {
    wait_for_position(&state, NAME, position).await?;
    let (offset, limit) = window(query.offset, query.limit)?;
    let filter = ResourceFilter {
        states: query.state.into_iter().collect(),
        project_id: query.project_id,
        customer_id: query.customer_id,
        offering_ids: query.offering_id.into_iter().collect(),
        ..Default::default()
    };
    let items =
        resources::list(&state.pool, caller.tenant.as_str(), &filter, offset, limit).await?;
    Ok(Json(Items { items }))
}

async fn get_resource(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    Path(id): Path<String>,
) -> Result<Json<ResourceView>, ApiError> {
    let uuid = parse_id("resource", &id)?;
    wait_for_position(&state, NAME, position).await?;
    resources::get(&state.pool, caller.tenant.as_str(), uuid)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("resource {id} not found")))
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct OrderQuery {
    state: Option<String>,
    resource_id: Option<Uuid>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn list_orders(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    ApiQuery(query): ApiQuery<OrderQuery>,
) -> Result<Json<Items<OrderView>>, ApiError> {
    wait_for_position(&state, NAME, position).await?;
    let (offset, limit) = window(query.offset, query.limit)?;
    let filter = OrderFilter {
        states: query.state.into_iter().collect(),
        resource_id: query.resource_id,
        newest_first: true,
        ..Default::default()
    };
    let items = orders::list(&state.pool, caller.tenant.as_str(), &filter, offset, limit).await?;
    Ok(Json(Items { items }))
}

async fn get_order(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    Path(id): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    let uuid = parse_id("order", &id)?;
    wait_for_position(&state, NAME, position).await?;
    orders::get(&state.pool, caller.tenant.as_str(), uuid)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("order {id} not found")))
}
