//! `/api/marketplace-component-usages/`: the usage a provider reports per resource component
//! and billing period (`set_usage`, as Waldur's site agent calls it), and the list of it.

use aide::axum::routing::{get_with, post_with};
use aide::axum::ApiRouter;
use aide::transform::TransformOperation;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use fleet_api::AppState;
use fleet_app::marketplace::{self, ReportedUsage};
use fleet_projections::marketplace::{count_usages, list_usages, UsageFilter};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::body::Body;
use super::params::{instant, project_fields, uuid_in_url, Base, Listed, Params};
use super::shapes;
use super::{applied, fresh, Agent, DrfError};

const PATH: &str = "/marketplace-component-usages";

fn op(summary: &'static str) -> impl FnOnce(TransformOperation) -> TransformOperation {
    super::operation("marketplace-component-usages", summary)
}

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(&format!("{PATH}/"), get_with(list, op("List component usages")))
        .api_route(&format!("{PATH}/{{uuid}}/"), get_with(retrieve, op("Retrieve a component usage")))
        .api_route(
            &format!("{PATH}/set_usage/"),
            post_with(set_usage, op("Report a resource's usage per component for the current (or given) billing period; it replaces the period's earlier report")),
        )
}

#[derive(Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct ListQuery {
    resource_uuid: Option<Uuid>,
    /// The resource's URL.
    resource: Option<String>,
    offering_uuid: Option<Uuid>,
    project_uuid: Option<Uuid>,
    customer_uuid: Option<Uuid>,
    #[serde(rename = "type")]
    kind: Option<String>,
    /// A billing period: its first day (YYYY-MM-DD).
    billing_period: Option<chrono::NaiveDate>,
    date_after: Option<String>,
    date_before: Option<String>,
    field: Option<Vec<String>>,
    page: Option<i64>,
    page_size: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    agent: Agent,
    base: Base,
    q: Params<ListQuery>,
) -> Result<Listed<shapes::ComponentUsage>, DrfError> {
    let tenant = agent.tenant().clone();
    let period = q
        .one("billing_period")
        .map(|v| {
            chrono::NaiveDate::parse_from_str(&v, "%Y-%m-%d")
                .map_err(|_| DrfError::field("billing_period", "Enter a valid date."))
        })
        .transpose()?;
    let filter = UsageFilter {
        id: None,
        resource_id: q.uuid("resource_uuid")?.or(q.url_uuid("resource")?),
        offering_id: q.uuid("offering_uuid")?,
        project_id: q.uuid("project_uuid")?,
        customer_id: q.uuid("customer_uuid")?.map(|u| u.to_string()),
        component: q.one("type"),
        period,
        date_from: q.since("date_after")?,
        date_before: q.since("date_before")?,
    };
    let page = q.page()?;
    fresh(&state, &tenant).await?;
    let total = count_usages(&state.pool, tenant.as_str(), &filter).await?;
    let offset = page.offset(total)?;
    let rows = list_usages(&state.pool, tenant.as_str(), &filter, offset, page.size).await?;
    let fields = q.all("field");
    let items = rows
        .iter()
        .map(|row| {
            serde_json::to_value(shapes::component_usage(row))
                .map(|v| project_fields(v, &fields))
                .map_err(|e| DrfError::Internal(e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    Ok(Listed::new(&base, page, offset, total, items))
}

async fn retrieve(
    State(state): State<AppState>,
    agent: Agent,
    Path(uuid): Path<String>,
) -> Result<Json<shapes::ComponentUsage>, DrfError> {
    let id = Uuid::parse_str(&uuid).map_err(|_| DrfError::NotFound)?;
    fresh(&state, agent.tenant()).await?;
    let filter = UsageFilter {
        id: Some(id),
        ..Default::default()
    };
    let rows = list_usages(&state.pool, agent.tenant().as_str(), &filter, 0, 1).await?;
    rows.first()
        .map(|u| Json(shapes::component_usage(u)))
        .ok_or(DrfError::NotFound)
}

#[derive(Deserialize, schemars::JsonSchema)]
struct UsageItem {
    #[serde(rename = "type")]
    kind: String,
    /// A decimal, as text (a JSON number is read exactly too).
    amount: Value,
    #[serde(default)]
    description: String,
    #[serde(default)]
    recurring: bool,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct SetUsageBody {
    /// The resource's uuid or URL.
    resource: Option<String>,
    /// The resource's plan period (accepted; the period follows from `date`).
    #[allow(dead_code)]
    plan_period: Option<String>,
    usages: Vec<UsageItem>,
    /// When the usage was measured: its month is the billing period. Now by default.
    date: Option<String>,
}

/// An amount as text or a JSON number, parsed as a decimal (never through a float).
fn amount(value: &Value) -> Result<Decimal, DrfError> {
    let text = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => {
            return Err(DrfError::field(
                "usages",
                "amount: A valid number is required.",
            ))
        }
    };
    let amount: Decimal = text
        .parse()
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| DrfError::field("usages", format!("amount: {text:?} is not a number.")))?;
    if amount.is_sign_negative() {
        return Err(DrfError::field(
            "usages",
            "amount: Ensure this value is greater than or equal to 0.",
        ));
    }
    Ok(amount)
}

async fn set_usage(
    State(state): State<AppState>,
    agent: Agent,
    Body(body): Body<SetUsageBody>,
) -> Result<StatusCode, DrfError> {
    agent.require_provider()?;
    let resource = body
        .resource
        .ok_or_else(|| DrfError::required("resource"))?;
    let resource = uuid_in_url(&resource)
        .ok_or_else(|| DrfError::field("resource", "Invalid hyperlink - Object does not exist."))?;
    if body.usages.is_empty() {
        return Err(DrfError::field("usages", "This list may not be empty."));
    }
    let occurred_at: DateTime<Utc> = match body.date.as_deref() {
        Some(date) => {
            instant(date).ok_or_else(|| DrfError::field("date", "Enter a valid date."))?
        }
        None => Utc::now(),
    };
    let usages = body
        .usages
        .iter()
        .map(|u| {
            Ok(ReportedUsage {
                component: u.kind.clone(),
                amount: amount(&u.amount)?,
                description: u.description.clone(),
                recurring: u.recurring,
            })
        })
        .collect::<Result<Vec<_>, DrfError>>()?;
    fresh(&state, agent.tenant()).await?;
    let (outcome, _) = marketplace::report_usage(
        &state,
        &agent.issuer.meta,
        &resource.to_string(),
        occurred_at,
        usages,
    )
    .await?;
    applied(&state, outcome.position).await?;
    Ok(StatusCode::CREATED)
}
