//! `/api/marketplace-orders/`: what a consumer places and a provider's site agent works
//! through: list and retrieve, create, approve or reject (as consumer or provider), mark
//! executing, done or erred, set the backend id, cancel.

use std::collections::BTreeMap;

use aide::axum::routing::{get_with, post_with};
use aide::axum::ApiRouter;
use aide::transform::TransformOperation;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use fleet_api::AppState;
use fleet_app::marketplace::{self, PlaceOrder};
use fleet_domain::order::{OrderCommand, STATES};
use fleet_domain::resource::{CREATE, TERMINATE, UPDATE};
use fleet_projections::marketplace::orders::{self, OrderFilter};
use fleet_projections::marketplace::resources;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::body::Body;
use super::params::{project_fields, uuid_in_url, Base, Listed, Params};
use super::shapes::{self, provider_uuid};
use super::{applied, fresh, status, Agent, DrfError, Status};

const PATH: &str = "/marketplace-orders";

fn op(summary: &'static str) -> impl FnOnce(TransformOperation) -> TransformOperation {
    super::operation("marketplace-orders", summary)
}

pub fn router() -> ApiRouter<AppState> {
    let item = |tail: &str| format!("{PATH}/{{uuid}}/{tail}");
    ApiRouter::new()
        .api_route(
            &format!("{PATH}/"),
            get_with(list, op("List orders")).post_with(create, op("Create an order")),
        )
        .api_route(
            &format!("{PATH}/{{uuid}}/"),
            get_with(retrieve, op("Retrieve an order")),
        )
        .api_route(
            &item("approve_by_consumer/"),
            post_with(approve_by_consumer, op("Approve as the consumer")),
        )
        .api_route(
            &item("reject_by_consumer/"),
            post_with(reject_by_consumer, op("Reject as the consumer")),
        )
        .api_route(
            &item("approve_by_provider/"),
            post_with(approve_by_provider, op("Approve as the provider")),
        )
        .api_route(
            &item("reject_by_provider/"),
            post_with(reject_by_provider, op("Reject as the provider")),
        )
        .api_route(
            &item("set_state_executing/"),
            post_with(set_state_executing, op("Mark the order as executing")),
        )
        .api_route(
            &item("set_state_done/"),
            post_with(set_state_done, op("Mark the order as done")),
        )
        .api_route(
            &item("set_state_erred/"),
            post_with(set_state_erred, op("Mark the order as erred")),
        )
        .api_route(
            &item("set_backend_id/"),
            post_with(set_backend_id, op("Set the order's backend id")),
        )
        .api_route(
            &item("cancel/"),
            post_with(cancel, op("Cancel a pending order")),
        )
}

#[derive(Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct ListQuery {
    state: Option<Vec<String>>,
    #[serde(rename = "type")]
    kind: Option<Vec<String>>,
    resource_uuid: Option<Uuid>,
    /// The resource's URL.
    resource: Option<String>,
    offering_uuid: Option<Vec<Uuid>>,
    project_uuid: Option<Uuid>,
    customer_uuid: Option<Uuid>,
    provider_uuid: Option<Uuid>,
    created: Option<String>,
    modified: Option<String>,
    /// `created` or `-created` (the default).
    o: Option<Vec<String>>,
    field: Option<Vec<String>>,
    page: Option<i64>,
    page_size: Option<i64>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct FieldQuery {
    field: Option<Vec<String>>,
}

async fn list(
    State(state): State<AppState>,
    agent: Agent,
    base: Base,
    q: Params<ListQuery>,
) -> Result<Listed<shapes::Order>, DrfError> {
    let tenant = agent.tenant().clone();
    let mut filter = OrderFilter {
        resource_id: q.uuid("resource_uuid")?.or(q.url_uuid("resource")?),
        offering_ids: q.uuids("offering_uuid")?,
        project_id: q.uuid("project_uuid")?,
        customer_id: q.uuid("customer_uuid")?.map(|u| u.to_string()),
        created_from: q.since("created")?,
        modified_from: q.since("modified")?,
        newest_first: true,
        ..Default::default()
    };
    for value in q.all("state") {
        if !STATES.contains(&value.as_str()) {
            return Err(DrfError::field(
                "state",
                format!("Select a valid choice. {value} is not one of the available choices."),
            ));
        }
        filter.states.push(value);
    }
    for value in q.all("type") {
        if ![CREATE, UPDATE, TERMINATE].contains(&value.as_str()) {
            return Err(DrfError::field(
                "type",
                format!("Select a valid choice. {value} is not one of the available choices."),
            ));
        }
        filter.kinds.push(value);
    }
    for key in q.all("o") {
        match key.as_str() {
            "created" => filter.newest_first = false,
            "-created" => filter.newest_first = true,
            _ => {
                return Err(DrfError::field(
                    "o",
                    format!("Select a valid choice. {key} is not one of the available choices."),
                ))
            }
        }
    }
    let foreign = q
        .uuid("provider_uuid")?
        .is_some_and(|p| p != provider_uuid(tenant.as_str()));
    let page = q.page()?;
    fresh(&state, &tenant).await?;
    let total = if foreign {
        0
    } else {
        orders::count(&state.pool, tenant.as_str(), &filter).await?
    };
    let offset = page.offset(total)?;
    let rows = if foreign {
        Vec::new()
    } else {
        orders::list(&state.pool, tenant.as_str(), &filter, offset, page.size).await?
    };
    let fields = q.all("field");
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        let plans = plans_of(&state, tenant.as_str(), row.offering_id).await?;
        let value =
            serde_json::to_value(shapes::order(&base, tenant.as_str(), row, plans.as_ref()))
                .map_err(|e| DrfError::Internal(e.to_string()))?;
        items.push(project_fields(value, &fields));
    }
    Ok(Listed::new(&base, page, offset, total, items))
}

async fn plans_of(
    state: &AppState,
    tenant: &str,
    offering: Uuid,
) -> Result<Option<Value>, DrfError> {
    Ok(
        fleet_projections::marketplace::offerings::get(&state.pool, tenant, offering)
            .await?
            .map(|o| serde_json::to_value(&o.plans.0).unwrap_or_default()),
    )
}

async fn shown(
    state: &AppState,
    agent: &Agent,
    base: &Base,
    uuid: &str,
    fields: &[String],
) -> Result<Json<Value>, DrfError> {
    let id = Uuid::parse_str(uuid).map_err(|_| DrfError::NotFound)?;
    let tenant = agent.tenant().as_str();
    fresh(state, agent.tenant()).await?;
    let row = orders::get(&state.pool, tenant, id)
        .await?
        .ok_or(DrfError::NotFound)?;
    let plans = plans_of(state, tenant, row.offering_id).await?;
    let value = serde_json::to_value(shapes::order(base, tenant, &row, plans.as_ref()))
        .map_err(|e| DrfError::Internal(e.to_string()))?;
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

#[derive(Deserialize, schemars::JsonSchema)]
struct CreateBody {
    /// The offering's URL (or uuid).
    offering: String,
    /// The project's URL (or uuid).
    project: String,
    plan: Option<String>,
    #[serde(default)]
    attributes: Value,
    limits: Option<BTreeMap<String, i64>>,
    #[serde(rename = "type", default = "create_kind")]
    kind: String,
    /// The resource an Update or Terminate order is for (URL or uuid).
    resource: Option<String>,
    request_comment: Option<String>,
    callback_url: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    accepting_terms_of_service: Option<bool>,
    #[allow(dead_code)]
    start_date: Option<chrono::NaiveDate>,
}

fn create_kind() -> String {
    CREATE.into()
}

fn linked(field: &str, value: &str) -> Result<String, DrfError> {
    uuid_in_url(value)
        .map(|u| u.to_string())
        .ok_or_else(|| DrfError::field(field, "Invalid hyperlink - No URL match."))
}

async fn create(
    State(state): State<AppState>,
    agent: Agent,
    base: Base,
    Body(body): Body<CreateBody>,
) -> Result<(StatusCode, Json<Value>), DrfError> {
    agent.require_provider()?;
    if ![CREATE, UPDATE, TERMINATE].contains(&body.kind.as_str()) {
        return Err(DrfError::field(
            "type",
            format!("\"{}\" is not a valid choice.", body.kind),
        ));
    }
    let resource_id = match (&body.resource, body.kind.as_str()) {
        (Some(resource), _) => Some(linked("resource", resource)?),
        (None, CREATE) => None,
        (None, _) => return Err(DrfError::required("resource")),
    };
    if let Some(id) = &resource_id {
        fresh(&state, agent.tenant()).await?;
        let known = resources::get(
            &state.pool,
            agent.tenant().as_str(),
            Uuid::parse_str(id).unwrap_or_default(),
        )
        .await?;
        if known.is_none() {
            return Err(DrfError::field(
                "resource",
                "Invalid hyperlink - Object does not exist.",
            ));
        }
    }
    let order = PlaceOrder {
        kind: body.kind,
        offering_id: Some(linked("offering", &body.offering)?),
        project_id: Some(linked("project", &body.project)?),
        resource_id,
        plan_id: body
            .plan
            .as_deref()
            .map(|p| linked("plan", p))
            .transpose()?,
        name: None,
        description: None,
        attributes: body.attributes,
        limits: body.limits,
        options: None,
        request_comment: body.request_comment,
        callback_url: body.callback_url,
        by_provider: false,
    };
    let placed = marketplace::place_order(&state, &agent.issuer.meta, order).await?;
    applied(&state, placed.position).await?;
    let Json(value) = shown(&state, &agent, &base, &placed.order_id.to_string(), &[]).await?;
    Ok((StatusCode::CREATED, Json(value)))
}

async fn step(
    state: &AppState,
    agent: &Agent,
    uuid: &str,
    command: OrderCommand,
) -> Result<(), DrfError> {
    let id = Uuid::parse_str(uuid).map_err(|_| DrfError::NotFound)?;
    fresh(state, agent.tenant()).await?;
    if orders::get(&state.pool, agent.tenant().as_str(), id)
        .await?
        .is_none()
    {
        return Err(DrfError::NotFound);
    }
    let outcome =
        marketplace::order_step(state, &agent.issuer.meta, &id.to_string(), command).await?;
    applied(state, outcome.position).await
}

async fn approve_by_consumer(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
) -> Result<Json<Status>, DrfError> {
    agent.require_provider()?;
    step(&state, &agent, &uuid, OrderCommand::ApproveByConsumer).await?;
    Ok(status("Order has been approved by consumer."))
}

async fn reject_by_consumer(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
) -> Result<Json<Status>, DrfError> {
    agent.require_provider()?;
    step(&state, &agent, &uuid, OrderCommand::RejectByConsumer).await?;
    Ok(status("Order has been rejected by consumer."))
}

async fn approve_by_provider(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
) -> Result<Json<Status>, DrfError> {
    agent.require_provider()?;
    step(&state, &agent, &uuid, OrderCommand::ApproveByProvider).await?;
    Ok(status("Order has been approved by provider."))
}

async fn reject_by_provider(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
) -> Result<Json<Status>, DrfError> {
    agent.require_provider()?;
    step(&state, &agent, &uuid, OrderCommand::RejectByProvider).await?;
    Ok(status("Order has been rejected by provider."))
}

async fn set_state_executing(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
) -> Result<Json<Status>, DrfError> {
    agent.require_provider()?;
    step(&state, &agent, &uuid, OrderCommand::StartExecution).await?;
    Ok(status("Order state has been changed to executing."))
}

async fn set_state_done(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
) -> Result<Json<Status>, DrfError> {
    agent.require_provider()?;
    step(&state, &agent, &uuid, OrderCommand::Complete).await?;
    Ok(status("Order state has been changed to done."))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ErredBody {
    #[serde(default)]
    error_message: String,
    #[serde(default)]
    error_traceback: String,
}

async fn set_state_erred(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
    Body(body): Body<ErredBody>,
) -> Result<Json<Status>, DrfError> {
    agent.require_provider()?;
    step(
        &state,
        &agent,
        &uuid,
        OrderCommand::Fail {
            error_message: body.error_message,
            error_traceback: body.error_traceback,
        },
    )
    .await?;
    Ok(status("Order state has been changed to erred."))
}

#[derive(Deserialize, schemars::JsonSchema)]
struct BackendIdBody {
    backend_id: String,
}

async fn set_backend_id(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
    Body(body): Body<BackendIdBody>,
) -> Result<Json<Status>, DrfError> {
    agent.require_provider()?;
    step(
        &state,
        &agent,
        &uuid,
        OrderCommand::SetBackendId(body.backend_id),
    )
    .await?;
    Ok(status("Order backend_id has been changed."))
}

async fn cancel(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
) -> Result<Json<Status>, DrfError> {
    agent.require_provider()?;
    step(&state, &agent, &uuid, OrderCommand::Cancel).await?;
    Ok(status("Order has been canceled."))
}
