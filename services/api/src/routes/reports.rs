//! `GET /v1/reports/billing.csv`: 001's billing report, one row per invoice whose period
//! starts within `[start_date, end_date]`, streamed as it is read.
//!
//! The 17 columns are 001's, in its order, with its header row; `test_account` is written
//! `True`/`False` as 001 writes it, `invoice_date` is the period's month, `invoice_end` its
//! last day. `detail=true` adds a row per line item after each invoice row (the invoice's
//! columns repeated, and the item's in extra columns); `show_federated_invoices=true` adds
//! 001's two federation columns, which stay empty because every Fleetledger customer is
//! local. Without `show_all_resellers` (admin only) the report holds the provider's own
//! customers, not those sold through a reseller.

use aide::axum::routing::get_with;
use aide::axum::ApiRouter;
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use chrono::{NaiveDate, Utc};
use fleet_domain::invoice::Period;
use fleet_projections::invoices::{self, ReportRow, ReportScope};
use serde::Deserialize;
use serde_json::Value;

use crate::auth::{Caller, Permission};
use crate::docs::{summary, Csv, Served};
use crate::extract::{ApiQuery, ReadPosition};
use crate::routes::wait_for_position;
use crate::streaming::{body_channel, csv_field, csv_text, send_rows};
use crate::{ApiError, AppState};

pub const COLUMNS: [&str; 17] = [
    "client_id",
    "test_account",
    "customer_email",
    "customer_name",
    "subscription_id",
    "invoice_id",
    "invoice_date",
    "invoice_status",
    "invoice_start",
    "invoice_end",
    "invoice_subtotal",
    "invoice_discount_percentage",
    "invoice_discount_flat",
    "invoice_discount_total",
    "invoice_total",
    "customer_metadata",
    "reseller",
];

const FEDERATED_COLUMNS: [&str; 2] = ["federated_provider", "federated_reseller"];

const DETAIL_COLUMNS: [&str; 11] = [
    "item_kind",
    "item_origin_start",
    "item_origin_end",
    "item_provider_id",
    "item_project_id",
    "item_product",
    "item_description",
    "item_quantity",
    "item_unit",
    "item_rate_system",
    "item_total",
];

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/reports/billing.csv",
            get_with(
                billing_report,
                summary("001's billing report: one row per invoice (17 columns), streamed as CSV"),
            ),
        )
        .with_path_items(|item| item.tag("invoices"))
}
#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    start_date: Option<NaiveDate>,
    end_date: Option<NaiveDate>,
    detail: Option<String>,
    show_federated_invoices: Option<String>,
    show_all_resellers: Option<String>,
}

/// 001 documents its flags with Python's `True`/`False`; JSON's spelling works too.
pub fn flag(field: &str, value: &Option<String>) -> Result<bool, ApiError> {
    match value.as_deref() {
        None => Ok(false),
        Some("true" | "True" | "1") => Ok(true),
        Some("false" | "False" | "0") => Ok(false),
        Some(_) => Err(ApiError::bad_request(field, "must be true or false")),
    }
}

struct Layout {
    federated: bool,
    detail: bool,
}

impl Layout {
    fn header(&self) -> String {
        let mut columns: Vec<&str> = COLUMNS.to_vec();
        if self.federated {
            columns.extend(FEDERATED_COLUMNS);
        }
        if self.detail {
            columns.extend(DETAIL_COLUMNS);
        }
        let mut line = columns.join(",");
        line.push('\n');
        line
    }

    /// The invoice's row, then one row per line item when the report asks for detail.
    fn rows(&self, row: &ReportRow) -> String {
        let period = Period {
            start: row.period_start,
            end: row.period_end,
        };
        let mut invoice = vec![
            row.customer_id.clone(),
            if row.test_account { "True" } else { "False" }.to_owned(),
            csv_text(&row.customer_email),
            csv_text(&row.customer_name),
            String::new(),
            row.id.to_string(),
            row.period_start.format("%Y-%m").to_string(),
            row.status.clone(),
            period.start.to_string(),
            period.last_day().to_string(),
            row.subtotal.to_string(),
            row.discount_percentage.normalize().to_string(),
            row.discount_flat.to_string(),
            row.discount_total.to_string(),
            row.total.to_string(),
            csv_field(&row.customer_metadata.0.to_string()),
            csv_text(&row.resellers.join(";")),
        ];
        if self.federated {
            invoice.extend([String::new(), String::new()]);
        }
        let mut out = String::new();
        let mut push = |fields: &[String]| {
            out.push_str(&fields.join(","));
            out.push('\n');
        };
        if !self.detail {
            push(&invoice);
            return out;
        }
        let mut first = invoice.clone();
        first.extend(std::iter::repeat_n(String::new(), DETAIL_COLUMNS.len()));
        push(&first);
        let lines = row
            .lines
            .as_ref()
            .and_then(|l| l.0.as_array().cloned())
            .unwrap_or_default();
        for line in lines {
            let field = |key: &str| line.get(key).and_then(Value::as_str).unwrap_or("");
            let text = |key: &str| csv_text(field(key));
            let number = |key: &str| csv_field(field(key));
            let origin: Option<Period> = serde_json::from_value(line["origin_period"].clone()).ok();
            let mut item = invoice.clone();
            item.extend([
                text("kind"),
                origin.map(|p| p.start.to_string()).unwrap_or_default(),
                origin.map(|p| p.last_day().to_string()).unwrap_or_default(),
                text("provider_id"),
                text("project_id"),
                text("product"),
                text("description"),
                number("quantity"),
                text("unit"),
                text("rate_system"),
                number("total"),
            ]);
            push(&item);
        }
        out
    }
}

async fn billing_report(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> Result<Served<Csv>, ApiError> {
    let request = ReportRequest {
        start_date: query
            .start_date
            .ok_or_else(|| ApiError::bad_request("start_date", "is required"))?,
        end_date: query.end_date,
        detail: flag("detail", &query.detail)?,
        show_federated_invoices: flag("show_federated_invoices", &query.show_federated_invoices)?,
        show_all_resellers: flag("show_all_resellers", &query.show_all_resellers)?,
    };
    wait_for_position(&state, invoices::NAME, position).await?;
    billing_report_csv(&state, &caller, request).map(Served::new)
}

/// What a billing report covers and shows, as 001 asks for it.
pub struct ReportRequest {
    pub start_date: NaiveDate,
    /// Today when absent.
    pub end_date: Option<NaiveDate>,
    pub detail: bool,
    pub show_federated_invoices: bool,
    pub show_all_resellers: bool,
}

/// The report as a streamed CSV answer, read from the invoices read model as it stands (the
/// caller has waited for what it must see). Shared with Ormuco's report operation.
pub fn billing_report_csv(
    state: &AppState,
    caller: &Caller,
    request: ReportRequest,
) -> Result<axum::response::Response, ApiError> {
    let start = request.start_date;
    let end = request.end_date.unwrap_or_else(|| Utc::now().date_naive());
    if start > end {
        return Err(ApiError::bad_request(
            "start_date",
            "should be smaller or equal than end_date",
        ));
    }
    if request.show_all_resellers {
        caller.require(Permission::ReportAllResellers)?;
    }
    let layout = Layout {
        federated: request.show_federated_invoices,
        detail: request.detail,
    };
    let scope = ReportScope {
        tenant: caller.tenant.to_string(),
        start,
        end,
        all_resellers: request.show_all_resellers,
        detail: layout.detail,
    };
    let (sender, body) = body_channel();
    let pool = state.pool.clone();
    tokio::spawn(async move {
        let sql = invoices::report_sql(scope.detail);
        let rows = invoices::report(&pool, &sql, &scope);
        send_rows(sender, layout.header(), rows, |row, out| {
            out.push_str(&layout.rows(row));
            Ok(())
        })
        .await;
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"billing.csv\"",
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}
