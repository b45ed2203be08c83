//! Usage: `POST /v1/usage` takes batches of metered records; queries answer a subscription's
//! usage over a window or per day, and a customer's rated usage per provider and project.

use std::collections::{HashMap, HashSet};

use aide::axum::routing::{get_with, post_with};
use aide::axum::ApiRouter;
use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use fleet_events::usage::{UsageRecord, INSTANCE_HOURS};
use fleet_projections::usage::{self, DailyTotal, Total};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::{Caller, Permission};
use crate::docs::summary;
use crate::extract::{ApiJson, ApiQuery, ReadPosition};
use crate::pagination::Items;
use crate::routes::commands::{Accepted, Reply};
use crate::routes::{parse_id, wait_for_latest, wait_for_position_in, Issuer};
use crate::{ApiError, AppState};

pub const MAX_BATCH: usize = 10_000;
/// The most one record may count: a trillion units, so that a window's sum priced at the
/// highest unit price still fits a decimal.
pub const MAX_QUANTITY: Decimal = Decimal::from_parts(3_567_587_328, 232, 0, false, 0);

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/usage",
            post_with(
                record_usage,
                summary("Record a batch of up to 10,000 usage records; each id counts once, ever"),
            ),
        )
        .api_route(
            "/subscriptions/{id}/usage",
            get_with(
                subscription_usage,
                summary("Usage totals per product over a window of days (open uptime included)"),
            ),
        )
        .api_route(
            "/subscriptions/{id}/usage/daily",
            get_with(
                subscription_daily_usage,
                summary("Usage per day per product"),
            ),
        )
        .api_route(
            "/customers/{id}/usage",
            get_with(
                customer_usage,
                summary("A customer's usage per provider, project and product, rated"),
            ),
        )
        .with_path_items(|item| item.tag("usage"))
}
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Batch {
    /// Kept as text until each record is read on its own: building a JSON tree of every
    /// record first cost more than the rest of the ingest.
    #[schemars(with = "Vec<Value>")]
    records: Vec<Box<serde_json::value::RawValue>>,
}

/// The id of a record that failed to read, to name it in the rejection.
#[derive(Deserialize)]
struct IdHint {
    id: Option<String>,
}

/// One record as sent; checked field by field so that one bad record fails alone.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Incoming {
    id: String,
    subscription_id: String,
    product: Option<String>,
    dimension: Option<String>,
    #[serde(deserialize_with = "fleet_domain::money::decimal_str")]
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    quantity: Decimal,
    occurred_at: DateTime<Utc>,
    instance_id: Option<String>,
    project_id: Option<String>,
    provider_id: Option<String>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Rejected {
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    field: String,
    reason: String,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct Recorded {
    accepted: usize,
    /// Ids counted before (by an earlier batch) or repeated in this one: they add nothing.
    duplicates: Vec<String>,
    rejected: Vec<Rejected>,
    /// The usage stream's position of the last record: send it as `X-Fleet-Position` to the
    /// usage queries.
    position: u64,
}

/// A batch's records read one by one: the well-formed ones (with their index and product),
/// the rejected ones, and the ids repeated within the batch.
pub struct Read {
    parsed: Vec<(usize, String, Incoming)>,
    rejected: Vec<Rejected>,
    duplicates: Vec<String>,
}

impl Read {
    /// The indexes of the records kept, and of those rejected.
    pub fn indexes(&self) -> (Vec<usize>, Vec<usize>) {
        (
            self.parsed.iter().map(|(i, _, _)| *i).collect(),
            self.rejected.iter().map(|r| r.index).collect(),
        )
    }

    /// Every kept record's id, product and quantity.
    pub fn kept(&self) -> impl Iterator<Item = (&str, &str, Decimal)> {
        self.parsed
            .iter()
            .map(|(_, product, r)| (r.id.as_str(), product.as_str(), r.quantity))
    }

    pub fn duplicates(&self) -> &[String] {
        &self.duplicates
    }
}

/// A batch body's records, still as text; what the extractor would refuse is an error.
pub fn parse_batch(body: &[u8]) -> Result<Vec<Box<serde_json::value::RawValue>>, String> {
    serde_json::from_slice::<Batch>(body)
        .map(|b| b.records)
        .map_err(|e| e.to_string())
}

/// Reads each record on its own, so that one bad record fails alone, naming its field.
pub fn read_records(records: &[Box<serde_json::value::RawValue>], now: DateTime<Utc>) -> Read {
    let mut rejected = Vec::new();
    let mut duplicates = Vec::new();
    let mut seen = HashSet::new();
    let mut parsed = Vec::with_capacity(records.len());
    for (index, raw) in records.iter().enumerate() {
        let mut reader = serde_json::Deserializer::from_str(raw.get());
        let record: Incoming = match serde_path_to_error::deserialize(&mut reader) {
            Ok(record) => record,
            Err(e) => {
                let id_hint = serde_json::from_str::<IdHint>(raw.get())
                    .ok()
                    .and_then(|hint| hint.id);
                let mut message = e.inner().to_string();
                // The position is within the record alone: it would mislead.
                if let Some(at) = message.rfind(" at line ") {
                    message.truncate(at);
                }
                let path = e.path().to_string();
                let field = if path == "." {
                    message.split('`').nth(1).unwrap_or("record").to_owned()
                } else {
                    path
                };
                rejected.push(reject(index, id_hint.as_deref(), &field, message));
                continue;
            }
        };
        let id = record.id.as_str();
        let product = record.product.clone().or(record.dimension.clone());
        let problem = if id.is_empty() || id.len() > 128 || id.contains(char::is_whitespace) {
            Some((
                "id",
                "must be 1 to 128 characters without spaces".to_owned(),
            ))
        } else if record.quantity.is_sign_negative() {
            Some(("quantity", "must not be negative".to_owned()))
        } else if record.quantity > MAX_QUANTITY {
            Some((
                "quantity",
                format!("must be at most {MAX_QUANTITY} in one record"),
            ))
        } else if record.occurred_at > now + Duration::minutes(5) {
            Some(("occurred_at", "must not be in the future".to_owned()))
        } else if product.as_deref().is_none_or(str::is_empty) {
            Some(("product", "is required (or dimension)".to_owned()))
        } else {
            None
        };
        if let Some((field, reason)) = problem {
            rejected.push(reject(index, Some(id), field, reason));
            continue;
        }
        if !seen.insert(record.id.clone()) {
            duplicates.push(record.id.clone());
            continue;
        }
        parsed.push((index, product.unwrap_or_default(), record));
    }
    Read {
        parsed,
        rejected,
        duplicates,
    }
}

fn reject(index: usize, id: Option<&str>, field: &str, reason: impl Into<String>) -> Rejected {
    Rejected {
        index,
        id: id.map(str::to_owned),
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// Validates each record; keeps the valid ones, counts each id once, publishes the rest.
async fn record_usage(
    State(state): State<AppState>,
    issuer: Issuer,
    ApiJson(batch): ApiJson<Batch>,
) -> Result<Accepted<Recorded>, ApiError> {
    issuer.caller.require(Permission::OperateFleet)?;
    if batch.records.is_empty() || batch.records.len() > MAX_BATCH {
        return Err(ApiError::unprocessable(
            "records",
            format!("must hold 1 to {MAX_BATCH} records"),
        ));
    }
    let tenant = issuer.caller.tenant.as_str();
    let Read {
        parsed,
        mut rejected,
        mut duplicates,
    } = read_records(&batch.records, Utc::now());

    // What the records name must be the tenant's: subscriptions and products, as of
    // everything recorded so far (a subscription created a moment ago counts).
    let caller = &issuer.caller.tenant;
    wait_for_latest(
        &state,
        caller,
        fleet_events::subscription::AGGREGATE_TYPE,
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
    // A batch names few subscriptions, however many records it holds.
    let subscription_ids: Vec<String> = parsed
        .iter()
        .map(|(_, _, r)| r.subscription_id.to_lowercase())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let customers: HashMap<String, String> = sqlx::query_as(
        "SELECT id::text, customer_id FROM inventory.subscriptions
         WHERE tenant = $1 AND id::text = ANY($2)",
    )
    .bind(tenant)
    .bind(&subscription_ids)
    .fetch_all(&state.pool)
    .await?
    .into_iter()
    .collect();
    let products: HashSet<String> =
        sqlx::query_scalar("SELECT code FROM pricing.products WHERE tenant = $1")
            .bind(tenant)
            .fetch_all(&state.pool)
            .await?
            .into_iter()
            .collect();
    let ids: Vec<String> = parsed.iter().map(|(_, _, r)| r.id.clone()).collect();
    let known: HashSet<String> = usage::known_ids(&state.pool, tenant, &ids)
        .await?
        .into_iter()
        .collect();

    let mut accepted = Vec::with_capacity(parsed.len());
    for (index, product, record) in parsed {
        let Some(customer_id) = customers.get(&record.subscription_id.to_lowercase()) else {
            rejected.push(reject(
                index,
                Some(&record.id),
                "subscription_id",
                "is not a subscription of this tenant",
            ));
            continue;
        };
        if product != INSTANCE_HOURS && !products.contains(&product) {
            rejected.push(reject(
                index,
                Some(&record.id),
                "product",
                format!("{product} is not a product of the price book"),
            ));
            continue;
        }
        if known.contains(&record.id) {
            duplicates.push(record.id);
            continue;
        }
        accepted.push(UsageRecord {
            id: record.id,
            subscription_id: record.subscription_id.to_lowercase(),
            customer_id: customer_id.clone(),
            product,
            quantity: record.quantity.normalize(),
            occurred_at: record.occurred_at,
            instance_id: record.instance_id,
            project_id: record.project_id,
            provider_id: record.provider_id,
        });
    }
    rejected.sort_by_key(|r| r.index);

    let count = accepted.len();
    let position = if accepted.is_empty() {
        0
    } else {
        publish(&state, &issuer, accepted).await?
    };
    let body = Recorded {
        accepted: count,
        duplicates,
        rejected,
        position,
    };
    Ok(Reply::new(position, body))
}

async fn publish(
    state: &AppState,
    issuer: &Issuer,
    records: Vec<UsageRecord>,
) -> Result<u64, ApiError> {
    let position = fleet_app::facts::record_usage(
        &state.usage_log,
        state.bus.namespace(),
        &issuer.meta,
        records,
    )
    .await
    .map_err(fleet_app::AppError::from)?;
    Ok(position)
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Window {
    /// First day (YYYY-MM-DD), inclusive; the first of this month by default.
    start: Option<NaiveDate>,
    /// Last day (YYYY-MM-DD), inclusive; today by default.
    end: Option<NaiveDate>,
}

impl Window {
    /// [start, end + 1 day) as dates.
    fn bounds(&self) -> Result<(NaiveDate, NaiveDate), ApiError> {
        let today = Utc::now().date_naive();
        let start = self
            .start
            .unwrap_or_else(|| today.with_day(1).unwrap_or(today));
        let end = self.end.unwrap_or(today);
        if start > end {
            return Err(ApiError::bad_request("start", "must not be after end"));
        }
        if (end - start).num_days() > 3660 {
            return Err(ApiError::bad_request(
                "end",
                "a window spans at most ten years",
            ));
        }
        Ok((start, end + Duration::days(1)))
    }
}

async fn known_subscription(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<String, ApiError> {
    let uuid = parse_id("subscription", id)?;
    fleet_projections::inventory::subscriptions::get(&state.pool, caller.tenant.as_str(), uuid)
        .await?
        .map(|s| s.id.to_string())
        .ok_or_else(|| ApiError::NotFound(format!("subscription {id} not found")))
}

#[derive(Serialize, schemars::JsonSchema)]
struct SubscriptionUsage {
    subscription_id: String,
    start: NaiveDate,
    end: NaiveDate,
    totals: Vec<Total>,
}

async fn subscription_usage(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    Path(id): Path<String>,
    ApiQuery(window): ApiQuery<Window>,
) -> Result<Json<SubscriptionUsage>, ApiError> {
    let (start, end) = window.bounds()?;
    wait_for_position_in(&state, &state.usage_log, usage::NAME, position).await?;
    let id = known_subscription(&state, &caller, &id).await?;
    let mut totals =
        usage::subscription_totals(&state.pool, caller.tenant.as_str(), &id, start, end).await?;
    // Instances running now have an interval not yet recorded: it counts up to now.
    let open = open_instance_hours(&state, caller.tenant.as_str(), &id, start, end).await?;
    if open > Decimal::ZERO {
        match totals.iter_mut().find(|t| t.product == INSTANCE_HOURS) {
            Some(total) => total.quantity += open,
            None => totals.push(Total {
                product: INSTANCE_HOURS.into(),
                quantity: open,
            }),
        }
        totals.sort_by(|a, b| a.product.cmp(&b.product));
    }
    Ok(Json(SubscriptionUsage {
        subscription_id: id,
        start,
        end: end - Duration::days(1),
        totals,
    }))
}

/// Hours x capacity of the subscription's instances running now, within the window.
async fn open_instance_hours(
    state: &AppState,
    tenant: &str,
    subscription_id: &str,
    start: NaiveDate,
    end: NaiveDate,
) -> Result<Decimal, ApiError> {
    let running: Vec<(DateTime<Utc>, i64)> = sqlx::query_as(
        "SELECT running_since, capacity FROM uptime.instances
         WHERE tenant = $1 AND subscription_id = $2 AND running_since IS NOT NULL",
    )
    .bind(tenant)
    .bind(subscription_id)
    .fetch_all(&state.pool)
    .await?;
    let window_start = start.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    let window_end = end.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    let (Some(window_start), Some(window_end)) = (window_start, window_end) else {
        return Ok(Decimal::ZERO);
    };
    let until = Utc::now().min(window_end);
    Ok(running
        .into_iter()
        .filter(|(since, _)| *since < until)
        .map(|(since, capacity)| {
            fleet_app::process_managers::uptime::hours_between(since.max(window_start), until)
                * Decimal::from(capacity)
        })
        .sum())
}

async fn subscription_daily_usage(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    Path(id): Path<String>,
    ApiQuery(window): ApiQuery<Window>,
) -> Result<Json<Items<DailyTotal>>, ApiError> {
    let (start, end) = window.bounds()?;
    wait_for_position_in(&state, &state.usage_log, usage::NAME, position).await?;
    let id = known_subscription(&state, &caller, &id).await?;
    let items =
        usage::subscription_daily(&state.pool, caller.tenant.as_str(), &id, start, end).await?;
    Ok(Json(Items { items }))
}

#[derive(Serialize, schemars::JsonSchema)]
struct RatedLine {
    provider_id: String,
    project_id: String,
    product: String,
    description: String,
    category: String,
    unit: Option<String>,
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    quantity: Decimal,
    /// `DD:HH:MM:SS`, for hourly units.
    uptime: Option<String>,
    rate_system: Option<String>,
    /// The price, as the price book states it (a flat unit price, or the tiers).
    rate: Option<Value>,
    /// No price of the product was in force at the window's end: `total` is 0 until one is,
    /// and an invoice of the window is refused until then (or billed at zero on request).
    unpriced: bool,
    /// In the statement's currency, rounded to its minor unit.
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    total: Decimal,
}

#[derive(Serialize, schemars::JsonSchema)]
struct CustomerUsage {
    customer_id: String,
    start: NaiveDate,
    end: NaiveDate,
    currency: String,
    lines: Vec<RatedLine>,
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    subtotal: Decimal,
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    discount_percentage: Decimal,
    /// The percentage's value and the flat discount together.
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    discount: Decimal,
    taxes: Vec<fleet_events::invoice::AppliedTax>,
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    tax_total: Decimal,
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    total: Decimal,
    /// How the amounts were reached.
    rating: &'static str,
}

/// A customer's usage over the window per provider, project and product, rated with the
/// price book in force at the end of the window, with the customer's discount and taxes.
async fn customer_usage(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    Path(id): Path<String>,
    ApiQuery(window): ApiQuery<Window>,
) -> Result<Json<CustomerUsage>, ApiError> {
    let (start, end) = window.bounds()?;
    wait_for_position_in(&state, &state.usage_log, usage::NAME, position).await?;
    let uuid = crate::routes::customers::known_customer(&state, &caller, &id).await?;
    let statement = fleet_app::statements::usage_statement(
        &state,
        &caller.tenant,
        uuid,
        start,
        end,
        &Default::default(),
    )
    .await?;
    let totals = statement.totals;
    Ok(Json(CustomerUsage {
        customer_id: uuid.to_string(),
        start,
        end: end - Duration::days(1),
        currency: statement.currency.to_string(),
        lines: statement
            .lines
            .into_iter()
            .map(|l| RatedLine {
                provider_id: l.provider_id,
                project_id: l.project_id,
                product: l.product,
                description: l.description,
                category: l.category,
                unit: l.unit,
                quantity: l.quantity,
                uptime: l.uptime,
                unpriced: l.rate_system.is_none(),
                rate_system: l.rate_system,
                rate: l.rate,
                total: l.total,
            })
            .collect(),
        subtotal: totals.subtotal,
        discount_percentage: totals.discount_percentage,
        discount: totals.discount_total,
        taxes: totals.taxes,
        tax_total: totals.tax_total,
        total: totals.total,
        rating: fleet_app::statements::RATING,
    }))
}
