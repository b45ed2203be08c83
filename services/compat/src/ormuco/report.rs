//! The billing report (001 op 4): the native report's CSV at Ormuco's path, asked for with a
//! query string (`GET`) or with the JSON body 001 shows (`POST`).

use aide::axum::routing::get_with;
use aide::axum::ApiRouter;
use axum::extract::State;
use chrono::NaiveDate;
use fleet_api::docs::{Csv, Served};
use fleet_api::routes::reports::{billing_report_csv, flag, ReportRequest};
use fleet_api::routes::Issuer;
use fleet_api::AppState;
use fleet_domain::invoice::Invoice;
use fleet_domain::Aggregate;
use fleet_projections::invoices;
use serde::Deserialize;

use super::wire::{Body, Query};
use super::OrmucoError;

pub fn router() -> ApiRouter<AppState> {
    let op = |s| super::operation("report", s);
    let mut router = ApiRouter::new();
    for path in ["/report/", "/report"] {
        router = router.api_route(
            path,
            get_with(
                by_query,
                op("Generate billing report for time period (CSV)"),
            )
            .post_with(by_body, op("Generate billing report for time period (CSV)")),
        );
    }
    router
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    /// `YYYY-MM-DD`, UTC: the start date of the invoices.
    start_date: Option<NaiveDate>,
    /// `YYYY-MM-DD`, UTC; today by default.
    end_date: Option<NaiveDate>,
    /// `True` or `False` (`true`, `false` too).
    detail: Option<String>,
    show_federated_invoices: Option<String>,
    /// Only resellers with the collection admin role.
    show_all_resellers: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ReportBody {
    start_date: Option<NaiveDate>,
    end_date: Option<NaiveDate>,
    #[serde(default)]
    detail: bool,
    #[serde(default)]
    show_federated_invoices: bool,
    #[serde(default)]
    show_all_resellers: bool,
}

async fn by_query(
    State(state): State<AppState>,
    issuer: Issuer,
    crate::extract::Query(query, _): Query<ReportQuery>,
) -> Result<Served<Csv>, OrmucoError> {
    let request = ReportRequest {
        start_date: required(query.start_date)?,
        end_date: query.end_date,
        detail: flag("detail", &query.detail)?,
        show_federated_invoices: flag("show_federated_invoices", &query.show_federated_invoices)?,
        show_all_resellers: flag("show_all_resellers", &query.show_all_resellers)?,
    };
    report(&state, &issuer, request).await
}

async fn by_body(
    State(state): State<AppState>,
    issuer: Issuer,
    crate::extract::Body(body, _): Body<ReportBody>,
) -> Result<Served<Csv>, OrmucoError> {
    let request = ReportRequest {
        start_date: required(body.start_date)?,
        end_date: body.end_date,
        detail: body.detail,
        show_federated_invoices: body.show_federated_invoices,
        show_all_resellers: body.show_all_resellers,
    };
    report(&state, &issuer, request).await
}

fn required(start: Option<NaiveDate>) -> Result<NaiveDate, OrmucoError> {
    start.ok_or_else(|| OrmucoError::field("start_date", "is required ('YYYY-MM-DD')"))
}

async fn report(
    state: &AppState,
    issuer: &Issuer,
    request: ReportRequest,
) -> Result<Served<Csv>, OrmucoError> {
    state
        .caught_up_on(&issuer.caller.tenant, Invoice::TYPE, invoices::NAME)
        .await?;
    Ok(Served::new(billing_report_csv(
        state,
        &issuer.caller,
        request,
    )?))
}
