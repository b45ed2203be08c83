//! `/v1/invoices`: generating a customer's invoice for a period, its lifecycle, and the
//! queries (list, one, a customer's invoices, a customer's last invoice).
//!
//! One invoice is read from its own history in the stream, so it is current the moment a
//! command returns and can be read `as_of` any past instant; lists come from the read model.

use aide::axum::routing::{get_with, post_with, ApiMethodRouter};
use aide::axum::ApiRouter;
use aide::generate::GenContext;
use aide::openapi::{Operation, StatusCode as ApiStatus};
use aide::OperationOutput;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use fleet_domain::invoice::{
    Invoice, InvoiceCommand, InvoiceDocument, InvoiceEvent, InvoiceStatus, Period,
};
use fleet_domain::Aggregate;
use fleet_events::EventEnvelope;
use fleet_projections::invoices::{self, InvoiceFilter, InvoiceRow, NAME};
use serde::{Deserialize, Serialize};

use crate::auth::{Caller, Permission};
use crate::docs::summary;
use crate::extract::{ApiJson, ApiQuery, OptionalJson, ReadPosition};
use crate::pagination::{self, Page};
use crate::routes::commands::{Created, Reply};
use crate::routes::customers;
use crate::routes::{
    history, history_as_of, history_route, parse_id, run, wait_for_position, AsOf, Issuer, Target,
};
use crate::{ApiError, AppState};
use fleet_app::invoicing::{generate_invoice, month};

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/invoices",
            post_with(
                create_invoice,
                summary("Generate the customer's invoice for a period (201), or return the live one it has (200)"),
            )
            .get_with(list_invoices, summary("List invoices")),
        )
        .api_route(
            "/invoices/{id}",
            get_with(
                get_invoice,
                summary("One invoice with its lines, from its history (as_of: as it was then)"),
            )
            .delete_with(
                |State(state): State<AppState>, issuer: Issuer, Path(id): Path<String>| async move {
                    transition(&state, &issuer, &id, InvoiceCommand::Delete).await
                },
                summary("Delete a draft invoice"),
            ),
        )
        .api_route(
            "/invoices/{id}/approve",
            lifecycle("Approve: draft -> open", || InvoiceCommand::Approve),
        )
        .api_route(
            "/invoices/{id}/pay",
            lifecycle("Mark paid: open or uncollectible -> paid", || {
                InvoiceCommand::MarkPaid
            }),
        )
        .api_route(
            "/invoices/{id}/mark-uncollectible",
            lifecycle("Mark uncollectible: open -> uncollectible", || {
                InvoiceCommand::MarkUncollectible
            }),
        )
        .api_route(
            "/invoices/{id}/void",
            post_with(
                void_invoice,
                summary("Void: open or uncollectible -> void (never a paid invoice)"),
            ),
        )
        .api_route(
            "/invoices/{id}/resend",
            lifecycle(
                "Send again (open or paid); recorded and announced to subscribers",
                || InvoiceCommand::Resend,
            ),
        )
        .api_route("/invoices/{id}/events", history_route::<Invoice>())
        .api_route(
            "/customers/{id}/invoices",
            get_with(list_customer_invoices, summary("All invoices of a customer")),
        )
        .api_route(
            "/customers/{id}/invoices/last",
            get_with(
                last_customer_invoice,
                summary("The customer's last invoice (latest period)"),
            ),
        )
        .with_path_items(|item| item.tag("invoices"))
}

/// `POST /invoices/{id}/<step>`: a lifecycle command without a body.
fn lifecycle(
    summary_text: &'static str,
    make: fn() -> InvoiceCommand,
) -> ApiMethodRouter<AppState> {
    post_with(
        move |State(state): State<AppState>, issuer: Issuer, Path(id): Path<String>| async move {
            transition(&state, &issuer, &id, make()).await
        },
        summary(summary_text),
    )
}

/// What a lifecycle command answers: the invoice as it now stands, or that it is gone.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum InvoiceAnswer {
    Invoice(Box<InvoiceView>),
    /// A deleted draft: `status` is `deleted`.
    Deleted {
        id: String,
        status: &'static str,
    },
}

/// A generation's answer: a new draft (201) or the live invoice the period has (200).
pub enum Generation {
    Created(Created<InvoiceView>),
    Existing(Reply<InvoiceView>),
}

impl IntoResponse for Generation {
    fn into_response(self) -> Response {
        match self {
            Self::Created(reply) => reply.into_response(),
            Self::Existing(reply) => reply.into_response(),
        }
    }
}

impl OperationOutput for Generation {
    type Inner = InvoiceView;

    fn inferred_responses(
        ctx: &mut GenContext,
        operation: &mut Operation,
    ) -> Vec<(Option<ApiStatus>, aide::openapi::Response)> {
        [
            Created::<InvoiceView>::inferred_responses(ctx, operation),
            Reply::<InvoiceView>::inferred_responses(ctx, operation),
        ]
        .concat()
    }
}

/// An invoice as the API shows it: its document, where it stands, and when each step was taken.
#[derive(Serialize, schemars::JsonSchema)]
pub struct InvoiceView {
    id: String,
    status: &'static str,
    #[serde(flatten)]
    document: InvoiceDocument,
    #[serde(flatten)]
    timeline: Timeline,
}

/// When each step of an invoice's life happened; its state is the aggregate's.
#[derive(Default, Serialize, schemars::JsonSchema)]
struct Timeline {
    #[serde(skip_serializing_if = "Option::is_none")]
    generated_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    approved_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    paid_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uncollectible_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    voided_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    void_reason: Option<String>,
    resent: Vec<DateTime<Utc>>,
}

/// Folds an invoice's history into its view; `None` when it is deleted.
fn view_of(id: &str, history: &[EventEnvelope]) -> Result<Option<InvoiceView>, ApiError> {
    let mut invoice = Invoice::default();
    let mut timeline = Timeline::default();
    for envelope in history {
        let at = envelope.event.occurred_at;
        let event = envelope
            .decode::<InvoiceEvent>()
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        match &event {
            InvoiceEvent::InvoiceGenerated { .. } => timeline.generated_at = Some(at),
            InvoiceEvent::InvoiceApproved {} => timeline.approved_at = Some(at),
            InvoiceEvent::InvoicePaid {} => timeline.paid_at = Some(at),
            InvoiceEvent::InvoiceMarkedUncollectible {} => timeline.uncollectible_at = Some(at),
            InvoiceEvent::InvoiceVoided { reason } => {
                timeline.voided_at = Some(at);
                timeline.void_reason = reason.clone();
            }
            InvoiceEvent::InvoiceDeleted {} => {}
            InvoiceEvent::InvoiceResent { .. } => timeline.resent.push(at),
        }
        invoice.evolve(&event);
    }
    Ok(match invoice.document {
        Some(document) if invoice.status != InvoiceStatus::Deleted => Some(InvoiceView {
            id: id.to_owned(),
            status: invoice.status.as_str(),
            document: *document,
            timeline,
        }),
        _ => None,
    })
}

async fn read_invoice(
    state: &AppState,
    caller: &Caller,
    id: &str,
    as_of: Option<DateTime<Utc>>,
) -> Result<InvoiceView, ApiError> {
    let items = match as_of {
        Some(at) => history_as_of::<Invoice>(state, caller, id, at).await?,
        None => history::<Invoice>(state, caller, id).await?.0.items,
    };
    view_of(id, &items)?.ok_or_else(|| ApiError::NotFound(format!("invoice {id} not found")))
}

/// Longest explicit billing period: a year, leap day included.
const MAX_PERIOD_DAYS: i64 = 366;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct GenerateInvoice {
    customer_id: String,
    /// `YYYY-MM`; or `start` and `end`.
    period: Option<String>,
    /// First day, inclusive.
    start: Option<NaiveDate>,
    /// Last day, inclusive.
    end: Option<NaiveDate>,
    /// Bill usage of products without a price in force at 0 rather than refuse the invoice.
    #[serde(default)]
    bill_unpriced_at_zero: bool,
}

impl GenerateInvoice {
    fn period(&self) -> Result<Period, ApiError> {
        billing_period(self.period.as_deref(), self.start, self.end)
    }
}

/// A billing period named as a month (`YYYY-MM`) or by its first and last days.
pub(crate) fn billing_period(
    period: Option<&str>,
    start: Option<NaiveDate>,
    end: Option<NaiveDate>,
) -> Result<Period, ApiError> {
    match (period, start, end) {
        (Some(text), None, None) => month(text)
            .ok_or_else(|| ApiError::unprocessable("period", "must be a month written YYYY-MM")),
        (None, Some(start), Some(end)) if (end - start).num_days() >= MAX_PERIOD_DAYS => {
            Err(ApiError::unprocessable(
                "end",
                format!("a billing period spans at most {MAX_PERIOD_DAYS} days"),
            ))
        }
        (None, Some(start), Some(end)) if start <= end => Ok(Period {
            start,
            end: end.succ_opt().unwrap_or(end),
        }),
        (None, Some(_), Some(_)) => Err(ApiError::unprocessable("start", "must not be after end")),
        _ => Err(ApiError::unprocessable(
            "period",
            "give either period (YYYY-MM) or both start and end (YYYY-MM-DD)",
        )),
    }
}

/// Generates the customer's invoice for the period: 201 with a new draft, or 200 with the
/// live invoice the period already has.
async fn create_invoice(
    State(state): State<AppState>,
    issuer: Issuer,
    ApiJson(body): ApiJson<GenerateInvoice>,
) -> Result<Generation, ApiError> {
    issuer.caller.require(Permission::ManageInvoices)?;
    let period = body.period()?;
    let unpriced = if body.bill_unpriced_at_zero {
        fleet_app::invoicing::Unpriced::BillAtZero
    } else {
        fleet_app::invoicing::Unpriced::Refuse
    };
    let generated =
        generate_invoice(&state, &issuer.meta, &body.customer_id, period, unpriced).await?;
    let id = generated.id.to_string();
    let view = read_invoice(&state, &issuer.caller, &id, None).await?;
    let location = format!("/v1/invoices/{id}");
    Ok(if generated.created {
        Generation::Created(Created::new(generated.position, view).at(location))
    } else {
        Generation::Existing(Reply::new(generated.position, view).at(location))
    })
}

async fn get_invoice(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<AsOf>,
) -> Result<Json<InvoiceView>, ApiError> {
    Ok(Json(read_invoice(&state, &caller, &id, query.as_of).await?))
}

/// Runs a lifecycle command and answers with the invoice as it now stands.
async fn transition(
    state: &AppState,
    issuer: &Issuer,
    id: &str,
    command: InvoiceCommand,
) -> Result<Reply<InvoiceAnswer>, ApiError> {
    let uuid = parse_id(Invoice::TYPE, id)?;
    let executed = run::<Invoice>(
        state,
        issuer,
        Permission::ManageInvoices,
        uuid,
        Target::Existing,
        command,
    )
    .await?;
    let position = executed.event.sequence;
    let id = uuid.to_string();
    if executed.state.status == InvoiceStatus::Deleted {
        let status = "deleted";
        return Ok(Reply::new(position, InvoiceAnswer::Deleted { id, status }));
    }
    let view = read_invoice(state, &issuer.caller, &id, None).await?;
    Ok(Reply::new(position, InvoiceAnswer::Invoice(Box::new(view))))
}

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct VoidInvoice {
    reason: Option<String>,
}

async fn void_invoice(
    State(state): State<AppState>,
    issuer: Issuer,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<VoidInvoice>,
) -> Result<Reply<InvoiceAnswer>, ApiError> {
    if body
        .reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > 1000)
    {
        return Err(ApiError::unprocessable(
            "reason",
            "must be at most 1000 characters",
        ));
    }
    let command = InvoiceCommand::Void {
        reason: body.reason,
    };
    transition(&state, &issuer, &id, command).await
}

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
struct ListQuery {
    /// Invoices whose period starts on or after this day. (000's invoice-api spells the
    /// filters in camel case; both spellings work.)
    #[serde(alias = "startDate")]
    start_date: Option<NaiveDate>,
    /// Invoices whose period starts on or before this day.
    #[serde(alias = "endDate")]
    end_date: Option<NaiveDate>,
    status: Option<String>,
    #[serde(alias = "customerId")]
    customer_id: Option<String>,
    #[serde(alias = "billingProvider")]
    billing_provider: Option<String>,
    page_size: Option<i64>,
    page_token: Option<String>,
}

impl ListQuery {
    fn filter(&self, customer_id: Option<String>) -> Result<InvoiceFilter, ApiError> {
        if let (Some(start), Some(end)) = (self.start_date, self.end_date) {
            if start > end {
                return Err(ApiError::bad_request(
                    "start_date",
                    "must not be after end_date",
                ));
            }
        }
        if let Some(status) = &self.status {
            if InvoiceStatus::parse(status).is_none_or(|s| s == InvoiceStatus::Deleted) {
                return Err(ApiError::bad_request(
                    "status",
                    "must be draft, open, paid, uncollectible or void",
                ));
            }
        }
        Ok(InvoiceFilter {
            start: self.start_date,
            end: self.end_date,
            status: self.status.clone(),
            customer_id: customer_id.or_else(|| self.customer_id.clone()),
            billing_provider: self.billing_provider.clone(),
        })
    }
}

async fn page(
    state: &AppState,
    caller: &Caller,
    position: Option<u64>,
    query: &ListQuery,
    customer_id: Option<String>,
) -> Result<Json<Page<InvoiceRow>>, ApiError> {
    let filter = query.filter(customer_id)?;
    let limit = pagination::page_size(query.page_size)?;
    let after = pagination::decode_token(query.page_token.as_deref())?;
    wait_for_position(state, NAME, position).await?;
    let rows = invoices::list(
        &state.pool,
        caller.tenant.as_str(),
        &filter,
        after,
        limit + 1,
    )
    .await?;
    Ok(Json(Page::from_rows(rows, limit, |r| r.id)))
}

async fn list_invoices(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Page<InvoiceRow>>, ApiError> {
    page(&state, &caller, position, &query, None).await
}

/// A customer of the caller, once the inventory has reached `position`.
async fn known_customer(
    state: &AppState,
    caller: &Caller,
    position: Option<u64>,
    id: &str,
) -> Result<String, ApiError> {
    wait_for_position(state, fleet_projections::inventory::NAME, position).await?;
    Ok(customers::known_customer(state, caller, id)
        .await?
        .to_string())
}

async fn list_customer_invoices(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Page<InvoiceRow>>, ApiError> {
    let customer = known_customer(&state, &caller, position, &id).await?;
    page(&state, &caller, position, &query, Some(customer)).await
}

async fn last_customer_invoice(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    Path(id): Path<String>,
) -> Result<Json<InvoiceView>, ApiError> {
    let customer = known_customer(&state, &caller, position, &id).await?;
    wait_for_position(&state, NAME, position).await?;
    let last = invoices::last_of_customer(&state.pool, caller.tenant.as_str(), &customer)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("customer {id} has no invoice yet")))?;
    Ok(Json(
        read_invoice(&state, &caller, &last.to_string(), None).await?,
    ))
}
