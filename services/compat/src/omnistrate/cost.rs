//! cost-api: the cost of operating the fleet by cloud provider, region, deployment cell and
//! user, over the same cost facts and report as the native `/v1/cost/{view}`.
//!
//! Fleetledger records cost per customer; the user view names each customer's cost after its
//! root user (with the user's name, email and organisation), and its user filters select the
//! customers of the users named.

use std::collections::BTreeMap;

use aide::axum::routing::get_with;
use aide::axum::ApiRouter;
use aide::transform::TransformOperation;
use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use fleet_api::AppState;
use fleet_domain::vocabulary::EnvironmentType;
use fleet_projections::cost::{self, Group, IdFilter, Point, ReportQuery, View};
use fleet_projections::inventory::users;
use serde::{Deserialize, Serialize};

use super::shapes::Lookup;
use super::wire::{id, list, native_in, prefix, time, Number, Query};
use super::{Agent, GoaError};

fn op(summary: &'static str) -> impl FnOnce(TransformOperation) -> TransformOperation {
    super::operation("cost-api", summary)
}

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/cost/cloud-provider",
            get_with(by_cloud_provider, op("DescribeCloudProviderCost")),
        )
        .api_route(
            "/cost/deployment-cell",
            get_with(by_deployment_cell, op("DescribeDeploymentCellCost")),
        )
        .api_route(
            "/cost/region",
            get_with(by_region, op("DescribeRegionCost")),
        )
        .api_route("/cost/user", get_with(by_user, op("DescribeUserCost")))
}

/// The parameters of every view; each view reads those its operation has.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct CostQuery {
    start_date: Option<String>,
    end_date: Option<String>,
    environment_type: Option<String>,
    /// DAILY or MONTHLY.
    frequency: Option<String>,
    #[serde(rename = "includeCloudProviderIDs")]
    include_cloud_provider_ids: Option<String>,
    #[serde(rename = "excludeCloudProviderIDs")]
    exclude_cloud_provider_ids: Option<String>,
    #[serde(rename = "includeRegionIDs")]
    include_region_ids: Option<String>,
    #[serde(rename = "excludeRegionIDs")]
    exclude_region_ids: Option<String>,
    #[serde(rename = "includeDeploymentCellIDs")]
    include_deployment_cell_ids: Option<String>,
    #[serde(rename = "excludeDeploymentCellIDs")]
    exclude_deployment_cell_ids: Option<String>,
    #[serde(rename = "includeInstanceIDs")]
    include_instance_ids: Option<String>,
    #[serde(rename = "excludeInstanceIDs")]
    exclude_instance_ids: Option<String>,
    #[serde(rename = "includeUserIDs")]
    include_user_ids: Option<String>,
    #[serde(rename = "excludeUserIDs")]
    exclude_user_ids: Option<String>,
    #[serde(rename = "topNInstances")]
    top_n_instances: Option<i64>,
    #[serde(rename = "topNUsers")]
    top_n_users: Option<i64>,
}

fn date_time(field: &str, value: Option<&str>) -> Result<DateTime<Utc>, GoaError> {
    let value = value.ok_or_else(|| GoaError::required(field))?;
    value
        .parse::<DateTime<Utc>>()
        .map_err(|_| GoaError::field(field, "must be an RFC 3339 date-time"))
}

impl CostQuery {
    /// The report's window and environment; `frequency` only where the view has one.
    fn report(&self, with_frequency: bool) -> Result<ReportQuery, GoaError> {
        let start = date_time("startDate", self.start_date.as_deref())?;
        let end = date_time("endDate", self.end_date.as_deref())?;
        if start > end {
            return Err(GoaError::field("startDate", "must not be after endDate"));
        }
        let environment = self
            .environment_type
            .as_deref()
            .ok_or_else(|| GoaError::required("environmentType"))?;
        let environment = EnvironmentType::parse(environment).ok_or_else(|| {
            GoaError::field(
                "environmentType",
                format!("must be one of {}", EnvironmentType::WORDS.join(", ")),
            )
        })?;
        let monthly = if with_frequency {
            match self.frequency.as_deref() {
                None => return Err(GoaError::required("frequency")),
                Some(f) if f.eq_ignore_ascii_case("DAILY") => false,
                Some(f) if f.eq_ignore_ascii_case("MONTHLY") => true,
                Some(_) => return Err(GoaError::field("frequency", "must be DAILY or MONTHLY")),
            }
        } else {
            false
        };
        for (field, n) in [
            ("topNInstances", self.top_n_instances),
            ("topNUsers", self.top_n_users),
        ] {
            if n.is_some_and(|n| n < 1) {
                return Err(GoaError::field(field, "must be at least 1"));
            }
        }
        let filter =
            |include: &Option<String>, exclude: &Option<String>, strip: &[&str]| IdFilter {
                include: list(include.as_deref(), strip),
                exclude: list(exclude.as_deref(), strip),
            };
        Ok(ReportQuery {
            start: start.date_naive(),
            end: exclusive_day(end),
            environment_type: Some(environment.as_str().into()),
            monthly,
            cloud_providers: filter(
                &self.include_cloud_provider_ids,
                &self.exclude_cloud_provider_ids,
                &["infra"],
            ),
            regions: filter(
                &self.include_region_ids,
                &self.exclude_region_ids,
                &["region"],
            ),
            deployment_cells: filter(
                &self.include_deployment_cell_ids,
                &self.exclude_deployment_cell_ids,
                &[],
            ),
            instances: filter(
                &self.include_instance_ids,
                &self.exclude_instance_ids,
                &[prefix::INSTANCE],
            ),
            customers: IdFilter::default(),
            top_instances: self.top_n_instances,
            top_groups: None,
        })
    }
}

/// The first day after the window: a window ending at midnight ends before that day.
fn exclusive_day(end: DateTime<Utc>) -> NaiveDate {
    let day = end.date_naive();
    if end.time() == NaiveTime::MIN {
        day
    } else {
        day + Duration::days(1)
    }
}

#[derive(Serialize, schemars::JsonSchema)]
struct CostDataPerDate {
    date: String,
    cost: Number,
}

fn series(points: &[Point]) -> Vec<CostDataPerDate> {
    points
        .iter()
        .map(|p| CostDataPerDate {
            date: time(p.date.and_time(NaiveTime::MIN).and_utc()),
            cost: Number(p.cost),
        })
        .collect()
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct PerInstanceCost {
    #[serde(rename = "instanceID")]
    instance_id: String,
    total_cost: Number,
}

fn instances(group: &Group) -> Option<Vec<PerInstanceCost>> {
    group.instances.as_ref().map(|list| {
        list.iter()
            .map(|i| PerInstanceCost {
                instance_id: id(prefix::INSTANCE, &i.instance_id),
                total_cost: Number(i.total_cost),
            })
            .collect()
    })
}

async fn report(
    state: &AppState,
    agent: &Agent,
    view: View,
    query: &ReportQuery,
) -> Result<Vec<Group>, GoaError> {
    state.caught_up_on_usage(agent.tenant(), cost::NAME).await?;
    Ok(
        fleet_app::cost::report(state, agent.tenant().as_str(), view, query)
            .await?
            .groups,
    )
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct PerCloudProviderCost {
    cloud_provider_name: String,
    cost: Vec<CostDataPerDate>,
    total_cost: Number,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct CloudProviderCosts {
    cloud_provider_costs: BTreeMap<String, PerCloudProviderCost>,
}

async fn by_cloud_provider(
    State(state): State<AppState>,
    agent: Agent,
    Query(query): Query<CostQuery>,
) -> Result<Json<CloudProviderCosts>, GoaError> {
    let report_query = query.report(true)?;
    let groups = report(&state, &agent, View::CloudProvider, &report_query).await?;
    let cloud_provider_costs = groups
        .iter()
        .map(|g| {
            let cost = PerCloudProviderCost {
                cloud_provider_name: g.key.clone(),
                cost: series(&g.series),
                total_cost: Number(g.total_cost),
            };
            (g.key.clone(), cost)
        })
        .collect();
    Ok(Json(CloudProviderCosts {
        cloud_provider_costs,
    }))
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct PerRegionCost {
    cloud_provider_name: String,
    region_name: String,
    cost: Vec<CostDataPerDate>,
    total_cost: Number,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct RegionCosts {
    region_costs: BTreeMap<String, PerRegionCost>,
}

/// The parts of a group key `provider/region[/cell]`.
fn parts(key: &str) -> (String, String, String) {
    let mut parts = key.splitn(3, '/');
    let mut next = || parts.next().unwrap_or_default().to_owned();
    (next(), next(), next())
}

async fn by_region(
    State(state): State<AppState>,
    agent: Agent,
    Query(query): Query<CostQuery>,
) -> Result<Json<RegionCosts>, GoaError> {
    let report_query = query.report(true)?;
    let groups = report(&state, &agent, View::Region, &report_query).await?;
    let region_costs = groups
        .iter()
        .map(|g| {
            let (provider, region, _) = parts(&g.key);
            let cost = PerRegionCost {
                cloud_provider_name: provider,
                region_name: region.clone(),
                cost: series(&g.series),
                total_cost: Number(g.total_cost),
            };
            (region, cost)
        })
        .collect();
    Ok(Json(RegionCosts { region_costs }))
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct PerDeploymentCellCost {
    cloud_provider_name: String,
    region_name: String,
    cost: Vec<CostDataPerDate>,
    total_cost: Number,
    #[serde(skip_serializing_if = "Option::is_none")]
    instances_cost: Option<Vec<PerInstanceCost>>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct DeploymentCellCosts {
    deployment_cell_costs: BTreeMap<String, PerDeploymentCellCost>,
}

async fn by_deployment_cell(
    State(state): State<AppState>,
    agent: Agent,
    Query(query): Query<CostQuery>,
) -> Result<Json<DeploymentCellCosts>, GoaError> {
    let report_query = query.report(true)?;
    let groups = report(&state, &agent, View::DeploymentCell, &report_query).await?;
    let deployment_cell_costs = groups
        .iter()
        .map(|g| {
            let (provider, region, cell) = parts(&g.key);
            let cost = PerDeploymentCellCost {
                cloud_provider_name: provider,
                region_name: region,
                cost: series(&g.series),
                total_cost: Number(g.total_cost),
                instances_cost: instances(g),
            };
            (cell, cost)
        })
        .collect();
    Ok(Json(DeploymentCellCosts {
        deployment_cell_costs,
    }))
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct PerUserCost {
    user_name: String,
    email: String,
    #[serde(rename = "orgID")]
    org_id: String,
    org_name: String,
    cost: Vec<CostDataPerDate>,
    total_cost: Number,
    #[serde(skip_serializing_if = "Option::is_none")]
    instances_cost: Option<Vec<PerInstanceCost>>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct UserCosts {
    user_costs: BTreeMap<String, PerUserCost>,
}

/// The customers of the users a filter names.
async fn customers_of(
    state: &AppState,
    agent: &Agent,
    field: &str,
    ids: Option<&str>,
) -> Result<Vec<String>, GoaError> {
    let mut customers = Vec::new();
    for shown in list(ids, &[]) {
        let uuid = native_in(prefix::USER, field, &shown)?;
        let user = users::get(&state.pool, agent.tenant().as_str(), uuid)
            .await?
            .ok_or_else(|| GoaError::field(field, format!("{shown} is not a user")))?;
        customers.push(user.customer_id);
    }
    Ok(customers)
}

async fn by_user(
    State(state): State<AppState>,
    agent: Agent,
    Query(query): Query<CostQuery>,
) -> Result<Json<UserCosts>, GoaError> {
    let mut report_query = query.report(false)?;
    state
        .caught_up_on(
            agent.tenant(),
            fleet_events::user::AGGREGATE_TYPE,
            fleet_projections::inventory::NAME,
        )
        .await?;
    report_query.customers = IdFilter {
        include: customers_of(
            &state,
            &agent,
            "includeUserIDs",
            query.include_user_ids.as_deref(),
        )
        .await?,
        exclude: customers_of(
            &state,
            &agent,
            "excludeUserIDs",
            query.exclude_user_ids.as_deref(),
        )
        .await?,
    };
    report_query.top_groups = query.top_n_users.map(|n| n as usize);
    let groups = report(&state, &agent, View::Customer, &report_query).await?;
    let mut lookup = Lookup::new(&state.pool, agent.tenant().as_str());
    let mut user_costs = BTreeMap::new();
    for group in &groups {
        let customer = lookup.customer(&group.key).await?;
        let root = lookup.root_user(&group.key).await?;
        let key = match &root {
            Some(user) => id(prefix::USER, user.id),
            None => id(prefix::ORG, &group.key),
        };
        let cost = PerUserCost {
            user_name: root.as_ref().map(|u| u.name.clone()).unwrap_or_default(),
            email: root.map(|u| u.email).unwrap_or_default(),
            org_id: id(prefix::ORG, &group.key),
            org_name: customer.map(|c| c.name).unwrap_or_default(),
            cost: series(&group.series),
            total_cost: Number(group.total_cost),
            instances_cost: instances(group),
        };
        user_costs.insert(key, cost);
    }
    Ok(Json(UserCosts { user_costs }))
}
