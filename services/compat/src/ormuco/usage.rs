//! A client's usage (001 ops 5, 7 and 12): by provider and project, on one provider by
//! project, and on one project. Each answer is a statement: the rated resources by category,
//! then the client's discount and taxes, by the same arithmetic as its invoices.
//!
//! The period is the current month to now unless `start_date` and `end_date` (`YYYY-MM-DD`,
//! both days included) say otherwise. A resource is one product's usage in a project: its
//! `id` is the product code.

use std::collections::BTreeMap;

use aide::axum::routing::get_with;
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use chrono::{Datelike, Duration, NaiveDate, Utc};
use fleet_api::routes::Issuer;
use fleet_api::AppState;
use fleet_app::statements::{self, Scope, StatementLine, UsageStatement};
use fleet_domain::customer::Customer;
use fleet_domain::Aggregate;
use fleet_projections::inventory::{self, customers};
use fleet_projections::usage as usage_model;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::wire::{iso_millis, midnight, Amount, Exact, Query};
use super::OrmucoError;

pub fn router() -> ApiRouter<AppState> {
    let op = |s| super::operation("usage", s);
    let mut router = ApiRouter::new();
    for slash in ["/", ""] {
        router = router
            .api_route(
                &format!("/clients/{{client_id}}/usage{slash}"),
                get_with(
                    of_client,
                    op("Returns the Usage of a given Client separated by Provider and Project"),
                ),
            )
            .api_route(
                &format!("/clients/{{client_id}}/providers/{{provider_id}}/usage{slash}"),
                get_with(
                    on_provider,
                    op("Returns the Usage of a given Client on a given Provider, separated by Project"),
                ),
            )
            .api_route(
                &format!("/clients/{{client_id}}/projects/{{project_id}}/usage{slash}"),
                get_with(
                    on_project,
                    op("Returns the Usage of a given Client on a given Project"),
                ),
            );
    }
    router
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Window {
    /// `YYYY-MM-DD`, UTC; the first day of this month by default.
    start_date: Option<NaiveDate>,
    /// `YYYY-MM-DD`, UTC, included; today by default.
    end_date: Option<NaiveDate>,
}

impl Window {
    /// `[start, end)` in days.
    fn bounds(&self) -> Result<(NaiveDate, NaiveDate), OrmucoError> {
        let today = Utc::now().date_naive();
        let start = self
            .start_date
            .unwrap_or_else(|| today.with_day(1).unwrap_or(today));
        let last = self.end_date.unwrap_or(today);
        if start > last {
            return Err(OrmucoError::field(
                "start_date",
                "should be smaller or equal than end_date",
            ));
        }
        if (last - start).num_days() > 366 {
            return Err(OrmucoError::field(
                "end_date",
                "the period may be at most a year",
            ));
        }
        Ok((start, last + Duration::days(1)))
    }
}

/// A resource's usage, as 001 lists it under its category.
#[derive(Serialize, schemars::JsonSchema)]
struct UsageResource {
    id: String,
    name: String,
    description: String,
    /// Usage is kept per product, not per resource: there is no single resource behind it.
    resource_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uptime: Option<String>,
    unit: Option<String>,
    size: Option<String>,
    quantity: Exact,
    total: Amount,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Project {
    id: String,
    name: String,
    /// Resources by category (`servers`, `volumes`…: the products' categories).
    resources: BTreeMap<String, Vec<UsageResource>>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Tax {
    name: String,
    /// Percent.
    rate: Exact,
    amount: Amount,
    description: String,
}

/// What every usage answer ends with.
#[derive(Serialize, schemars::JsonSchema)]
struct Totals {
    subtotal: Amount,
    discount_percentage: Exact,
    discount: Amount,
    taxes: Vec<Tax>,
    total: Amount,
    /// The currency of every amount.
    currency: String,
}

fn totals(statement: &UsageStatement) -> Totals {
    let t = &statement.totals;
    Totals {
        subtotal: Amount::from_decimal(t.subtotal),
        discount_percentage: Exact(t.discount_percentage),
        discount: Amount::from_decimal(t.discount_total),
        taxes: t
            .taxes
            .iter()
            .map(|tax| Tax {
                name: tax.name.clone(),
                rate: Exact(tax.rate),
                amount: Amount::from_decimal(tax.amount),
                description: tax.description.clone().unwrap_or_else(|| tax.name.clone()),
            })
            .collect(),
        total: Amount::from_decimal(t.total),
        currency: statement.currency.to_string(),
    }
}

fn projects<'a>(lines: impl Iterator<Item = &'a StatementLine>) -> Vec<Project> {
    let mut by_project: BTreeMap<&str, BTreeMap<String, Vec<UsageResource>>> = BTreeMap::new();
    for line in lines {
        by_project
            .entry(line.project_id.as_str())
            .or_default()
            .entry(line.category.clone())
            .or_default()
            .push(UsageResource {
                id: line.product.clone(),
                name: line.description.clone(),
                description: line.description.clone(),
                resource_id: None,
                uptime: line.uptime.clone(),
                unit: line.unit.clone(),
                size: None,
                quantity: Exact(line.quantity),
                total: Amount::from_decimal(line.total),
            });
    }
    by_project
        .into_iter()
        .map(|(id, resources)| Project {
            id: id.to_owned(),
            name: String::new(),
            resources,
        })
        .collect()
}

/// The client's statement over the window, once every write it reads is applied.
async fn statement(
    state: &AppState,
    issuer: &Issuer,
    client_id: &str,
    window: &Window,
    scope: Scope,
) -> Result<(UsageStatement, Period), OrmucoError> {
    let (start, end) = window.bounds()?;
    let tenant = &issuer.caller.tenant;
    let uuid =
        Uuid::parse_str(client_id).map_err(|_| OrmucoError::not_found("client", client_id))?;
    state
        .caught_up_on(tenant, Customer::TYPE, inventory::NAME)
        .await?;
    customers::get(&state.pool, tenant.as_str(), uuid)
        .await?
        .ok_or_else(|| OrmucoError::not_found("client", client_id))?;
    state.caught_up_on_usage(tenant, usage_model::NAME).await?;
    let statement = statements::usage_statement(state, tenant, uuid, start, end, &scope).await?;
    let period = Period {
        usage_period_start: iso_millis(midnight(start)),
        usage_period_end: iso_millis(midnight(end).min(Utc::now())),
    };
    Ok((statement, period))
}

#[derive(Serialize, schemars::JsonSchema)]
struct Period {
    usage_period_start: String,
    usage_period_end: String,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Provider {
    id: String,
    name: String,
    projects: Vec<Project>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct ClientUsage {
    #[serde(flatten)]
    period: Period,
    providers: Vec<Provider>,
    #[serde(flatten)]
    totals: Totals,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Usage<T> {
    usage: T,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ClientPath {
    client_id: String,
}

async fn of_client(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(path): Path<ClientPath>,
    crate::extract::Query(window, _): Query<Window>,
) -> Result<Json<Usage<ClientUsage>>, OrmucoError> {
    let (statement, period) =
        statement(&state, &issuer, &path.client_id, &window, Scope::default()).await?;
    let mut providers: BTreeMap<&str, Vec<&StatementLine>> = BTreeMap::new();
    for line in &statement.lines {
        providers
            .entry(line.provider_id.as_str())
            .or_default()
            .push(line);
    }
    let providers = providers
        .into_iter()
        .map(|(id, lines)| Provider {
            id: id.to_owned(),
            name: id.to_owned(),
            projects: projects(lines.into_iter()),
        })
        .collect();
    Ok(Json(Usage {
        usage: ClientUsage {
            period,
            providers,
            totals: totals(&statement),
        },
    }))
}

#[derive(Serialize, schemars::JsonSchema)]
struct ProviderRef {
    uuid: String,
    name: String,
}

#[derive(Serialize, schemars::JsonSchema)]
struct ProviderUsage {
    #[serde(flatten)]
    period: Period,
    projects: Vec<Project>,
    provider: ProviderRef,
    #[serde(flatten)]
    totals: Totals,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ProviderPath {
    client_id: String,
    provider_id: String,
}

async fn on_provider(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(path): Path<ProviderPath>,
    crate::extract::Query(window, _): Query<Window>,
) -> Result<Json<Usage<ProviderUsage>>, OrmucoError> {
    let scope = Scope {
        provider_id: Some(path.provider_id.clone()),
        project_id: None,
    };
    let (statement, period) = statement(&state, &issuer, &path.client_id, &window, scope).await?;
    Ok(Json(Usage {
        usage: ProviderUsage {
            period,
            projects: projects(statement.lines.iter()),
            provider: ProviderRef {
                uuid: path.provider_id.clone(),
                name: path.provider_id,
            },
            totals: totals(&statement),
        },
    }))
}

#[derive(Serialize, schemars::JsonSchema)]
struct ProjectUsage {
    #[serde(flatten)]
    period: Period,
    project: Project,
    #[serde(flatten)]
    totals: Totals,
}

#[derive(Deserialize, schemars::JsonSchema)]
struct ProjectPath {
    client_id: String,
    project_id: String,
}

async fn on_project(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(path): Path<ProjectPath>,
    crate::extract::Query(window, _): Query<Window>,
) -> Result<Json<Usage<ProjectUsage>>, OrmucoError> {
    let scope = Scope {
        provider_id: None,
        project_id: Some(path.project_id.clone()),
    };
    let (statement, period) = statement(&state, &issuer, &path.client_id, &window, scope).await?;
    let project = projects(statement.lines.iter())
        .into_iter()
        .next()
        .unwrap_or(Project {
            id: path.project_id,
            name: String::new(),
            resources: BTreeMap::new(),
        });
    Ok(Json(Usage {
        usage: ProjectUsage {
            period,
            project,
            totals: totals(&statement),
        },
    }))
}
