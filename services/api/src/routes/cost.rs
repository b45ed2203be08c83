//! Cost of operating the fleet: imported cost records (`POST /v1/cost-records`) beside the
//! runtime cost the uptime process manager records, and reports by cloud provider, region,
//! deployment cell or customer (`GET /v1/cost/{view}`), the semantics of cost-api.

use aide::axum::routing::{get_with, post_with};
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use fleet_events::cost::CostFact;
use fleet_projections::cost::{self, Group, IdFilter, ReportQuery, View};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::auth::{Caller, Permission};
use crate::docs::summary;
use crate::extract::{ApiJson, ApiQuery, ReadPosition};
use crate::routes::commands::{Accepted, Reply};
use crate::routes::{wait_for_latest, wait_for_position_in, Issuer};
use crate::{ApiError, AppState};

pub const MAX_RECORDS: usize = 10_000;

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/cost-records",
            post_with(
                import_cost_records,
                summary("Import cost records (FOCUS-style rows)"),
            ),
        )
        .api_route(
            "/cost/{view}",
            get_with(
                cost_report,
                summary("Cost by cloud-provider, region, deployment-cell or user (customer)"),
            ),
        )
        .with_path_items(|item| item.tag("cost"))
}
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Import {
    records: Vec<Value>,
}

/// A FOCUS-style cost row.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct CostRecordIn {
    id: String,
    resource_id: String,
    instance_id: Option<String>,
    charge_period_start: DateTime<Utc>,
    charge_period_end: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "fleet_domain::money::decimal_str")]
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    billed_cost: Decimal,
    currency: String,
    service_name: Option<String>,
    cloud_provider: Option<String>,
    region: Option<String>,
    deployment_cell: Option<String>,
    environment_type: Option<String>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Rejected {
    index: usize,
    field: String,
    reason: String,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct Imported {
    accepted: usize,
    rejected: Vec<Rejected>,
    position: u64,
}

async fn import_cost_records(
    State(state): State<AppState>,
    issuer: Issuer,
    ApiJson(body): ApiJson<Import>,
) -> Result<Accepted<Imported>, ApiError> {
    issuer.caller.require(Permission::ManagePricing)?;
    if body.records.is_empty() || body.records.len() > MAX_RECORDS {
        return Err(ApiError::unprocessable(
            "records",
            format!("must hold 1 to {MAX_RECORDS} records"),
        ));
    }
    let tenant = issuer.caller.tenant.as_str();
    let caller = &issuer.caller.tenant;
    wait_for_latest(
        &state,
        caller,
        fleet_events::instance::AGGREGATE_TYPE,
        fleet_projections::inventory::NAME,
    )
    .await?;
    wait_for_latest(
        &state,
        caller,
        fleet_events::price_book::AGGREGATE_TYPE,
        fleet_projections::pricing::NAME,
    )
    .await?;
    let main = fleet_projections::pricing::main_currency(&state.pool, tenant).await?;
    let Some(main) = main else {
        return Err(ApiError::Conflict {
            detail: "the price book has no main currency to report cost in".into(),
            current_state: None,
        });
    };
    let mut rejected = Vec::new();
    let mut facts = Vec::new();
    for (index, raw) in body.records.into_iter().enumerate() {
        let mut reject = |field: &str, reason: String| {
            rejected.push(Rejected {
                index,
                field: field.to_owned(),
                reason,
            })
        };
        let record: CostRecordIn = match serde_path_to_error::deserialize(raw) {
            Ok(record) => record,
            Err(e) => {
                let path = e.path().to_string();
                let message = e.inner().to_string();
                let field = if path == "." {
                    message.split('`').nth(1).unwrap_or("record").to_owned()
                } else {
                    path
                };
                reject(&field, message);
                continue;
            }
        };
        if record.id.is_empty() || record.id.len() > 128 {
            reject("id", "must be 1 to 128 characters".into());
            continue;
        }
        if record
            .charge_period_end
            .is_some_and(|end| end < record.charge_period_start)
        {
            reject(
                "charge_period_end",
                "must not be before charge_period_start".into(),
            );
            continue;
        }
        let at = record.charge_period_start;
        let exchange = fleet_projections::pricing::rate_at(
            &state.pool,
            tenant,
            &record.currency.to_ascii_uppercase(),
            at,
        )
        .await?;
        let Some(exchange) = exchange else {
            reject(
                "currency",
                format!("{} is not a currency of the price book", record.currency),
            );
            continue;
        };
        // An instance's cost takes the instance's dimensions.
        let instance = match &record.instance_id {
            Some(id) => match Uuid::parse_str(id) {
                Ok(uuid) => {
                    fleet_projections::inventory::get_instance(&state.pool, tenant, uuid).await?
                }
                Err(_) => None,
            },
            None => None,
        };
        if record.instance_id.is_some() && instance.is_none() {
            reject("instance_id", "is not an instance of this tenant".into());
            continue;
        }
        let pick = |given: &Option<String>, from_instance: Option<&String>| {
            given.clone().or(from_instance.cloned()).unwrap_or_default()
        };
        facts.push(CostFact {
            id: format!("import:{}", record.id),
            day: at.date_naive(),
            instance_id: record.instance_id.clone(),
            resource_id: record.resource_id,
            cloud_provider: pick(
                &record.cloud_provider,
                instance.as_ref().map(|i| &i.cloud_provider),
            )
            .to_ascii_lowercase(),
            region: pick(&record.region, instance.as_ref().map(|i| &i.region)),
            deployment_cell: pick(
                &record.deployment_cell,
                instance.as_ref().map(|i| &i.deployment_cell),
            ),
            environment_type: pick(
                &record.environment_type,
                instance.as_ref().map(|i| &i.environment_type),
            )
            .to_ascii_uppercase(),
            instance_type: record
                .service_name
                .clone()
                .or(instance.as_ref().map(|i| i.instance_type.clone()))
                .unwrap_or_default(),
            customer_id: instance
                .as_ref()
                .and_then(|i| i.customer_id.clone())
                .unwrap_or_default(),
            hours: Decimal::ZERO,
            cost: record.billed_cost * exchange,
            currency: main.clone(),
            source: "imported".into(),
        });
    }
    let accepted = facts.len();
    let position = if facts.is_empty() {
        0
    } else {
        fleet_app::facts::record_costs(&state.usage_log, state.bus.namespace(), &issuer.meta, facts)
            .await
            .map_err(fleet_app::AppError::from)?
    };
    Ok(Reply::new(
        position,
        Imported {
            accepted,
            rejected,
            position,
        },
    ))
}

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct CostQuery {
    start: String,
    end: String,
    environment_type: Option<String>,
    frequency: Option<String>,
    include_cloud_providers: Option<String>,
    exclude_cloud_providers: Option<String>,
    include_regions: Option<String>,
    exclude_regions: Option<String>,
    include_deployment_cells: Option<String>,
    exclude_deployment_cells: Option<String>,
    include_instances: Option<String>,
    exclude_instances: Option<String>,
    include_users: Option<String>,
    exclude_users: Option<String>,
    top_instances: Option<i64>,
    top_users: Option<usize>,
}

/// A date (`2026-11-01`) or a date-time (`2026-11-01T10:00:00Z`, its day).
fn day(field: &str, value: &str) -> Result<NaiveDate, ApiError> {
    value
        .parse::<DateTime<Utc>>()
        .map(|t| t.date_naive())
        .or_else(|_| value.parse::<NaiveDate>())
        .map_err(|_| {
            ApiError::bad_request(
                field,
                "must be a date (2026-11-01) or an RFC 3339 date-time",
            )
        })
}

fn ids(list: &Option<String>) -> Vec<String> {
    list.as_deref()
        .map(|l| {
            l.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn filter(include: &Option<String>, exclude: &Option<String>) -> IdFilter {
    IdFilter {
        include: ids(include),
        exclude: ids(exclude),
    }
}

#[derive(Serialize, schemars::JsonSchema)]
struct CostReport {
    view: String,
    start: NaiveDate,
    end: NaiveDate,
    frequency: &'static str,
    currency: Option<String>,
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    total_cost: Decimal,
    groups: Vec<Group>,
}

async fn cost_report(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    Path(view_name): Path<String>,
    ApiQuery(query): ApiQuery<CostQuery>,
) -> Result<Json<CostReport>, ApiError> {
    let view = match view_name.as_str() {
        "cloud-provider" => View::CloudProvider,
        "region" => View::Region,
        "deployment-cell" => View::DeploymentCell,
        "user" => View::Customer,
        _ => {
            return Err(ApiError::NotFound(format!(
                "no cost view {view_name}: cloud-provider, region, deployment-cell or user"
            )))
        }
    };
    let start = day("start", &query.start)?;
    let end = day("end", &query.end)?;
    if start > end {
        return Err(ApiError::bad_request("start", "must not be after end"));
    }
    let monthly = match query
        .frequency
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("daily") => false,
        Some("monthly") => true,
        Some(_) => {
            return Err(ApiError::bad_request(
                "frequency",
                "must be daily or monthly",
            ))
        }
    };
    if query.top_instances.is_some_and(|n| n < 1) {
        return Err(ApiError::bad_request("top_instances", "must be at least 1"));
    }
    wait_for_position_in(&state, &state.usage_log, cost::NAME, position).await?;
    let tenant = caller.tenant.as_str();
    let report = ReportQuery {
        start,
        end: end + Duration::days(1),
        environment_type: query
            .environment_type
            .as_ref()
            .map(|e| e.to_ascii_uppercase()),
        monthly,
        cloud_providers: filter(
            &query.include_cloud_providers,
            &query.exclude_cloud_providers,
        ),
        regions: filter(&query.include_regions, &query.exclude_regions),
        deployment_cells: filter(
            &query.include_deployment_cells,
            &query.exclude_deployment_cells,
        ),
        instances: filter(&query.include_instances, &query.exclude_instances),
        customers: filter(&query.include_users, &query.exclude_users),
        top_instances: query.top_instances,
        top_groups: query.top_users.filter(|_| view == View::Customer),
    };
    let shown = fleet_app::cost::report(&state, tenant, view, &report).await?;
    Ok(Json(CostReport {
        view: view_name,
        start,
        end,
        frequency: if monthly { "monthly" } else { "daily" },
        currency: shown.currency,
        total_cost: shown.total_cost,
        groups: shown.groups,
    }))
}
