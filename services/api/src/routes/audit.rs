//! `/v1/audit-events`: who did what, when, from where; newest first, and exports of a range.

use aide::axum::routing::get_with;
use aide::axum::ApiRouter;
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use fleet_projections::audit::{self, AuditFilter, AuditRow};
use serde::{Deserialize, Serialize};

use crate::auth::{Caller, Permission};
use crate::docs::{summary, CsvOrJsonLines, Served};
use crate::extract::{ApiQuery, ReadPosition};
use crate::pagination;
use crate::routes::wait_for_position;
use crate::streaming::{body_channel, csv_text, send_rows};
use crate::{ApiError, AppState};

pub fn router() -> ApiRouter<AppState> {
    ApiRouter::new()
        .api_route(
            "/audit-events",
            get_with(
                list_audit_events,
                summary("The audit log, newest first (admin, auditor)"),
            ),
        )
        .api_route(
            "/audit-events/export",
            get_with(
                export_audit_events,
                summary("Stream a range of the audit log, oldest first"),
            ),
        )
        .api_route(
            "/audit-events/verification",
            get_with(
                verify_audit_events,
                summary("Check the audit log's hash chain and rows against the event stream"),
            ),
        )
        .with_path_items(|item| item.tag("audit"))
}

#[derive(Serialize, schemars::JsonSchema)]
struct Verification {
    /// Every row up to `position` is its event's, and every hash matches its row.
    intact: bool,
    /// How far the audit log reaches in the stream.
    position: u64,
    /// The first row that differs, when one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    sequence: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// What `fleetd verify audit` does, for the console's badge. The chain spans every tenant, so
/// only the verdict and the first differing position are told, never other tenants' rows.
async fn verify_audit_events(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Verification>, ApiError> {
    use fleet_projections::audit_verification::{verify, Finding};
    caller.require(Permission::ReadAudit)?;
    let finding = verify(&state.pool, &state.log)
        .await
        .map_err(|e| ApiError::Unavailable(format!("verifying the audit log: {e}")))?;
    Ok(Json(match finding {
        Finding::Intact { position, .. } => Verification {
            intact: true,
            position,
            sequence: None,
            reason: None,
        },
        Finding::Differs { sequence, reason } => Verification {
            intact: false,
            position: sequence.max(0) as u64,
            sequence: Some(sequence),
            reason: Some(reason),
        },
    }))
}
#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    /// Comma-separated event types.
    event_types: Option<String>,
    instance_id: Option<String>,
    subscription_id: Option<String>,
    customer_id: Option<String>,
    actor: Option<String>,
    correlation_id: Option<String>,
    aggregate_type: Option<String>,
    aggregate_id: Option<String>,
    page_size: Option<i64>,
    page_token: Option<String>,
    format: Option<String>,
}

impl AuditQuery {
    fn filter(&self) -> Result<AuditFilter, ApiError> {
        if let (Some(start), Some(end)) = (self.start, self.end) {
            if start > end {
                return Err(ApiError::bad_request("start", "must not be after end"));
            }
        }
        Ok(AuditFilter {
            start: self.start,
            end: self.end,
            event_types: self.event_types.as_ref().map(|types| {
                types
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect()
            }),
            instance_id: self.instance_id.clone(),
            subscription_id: self.subscription_id.clone(),
            customer_id: self.customer_id.clone(),
            actor_id: self.actor.clone(),
            correlation_id: self.correlation_id.clone(),
            aggregate_type: self.aggregate_type.clone(),
            aggregate_id: self.aggregate_id.clone(),
            excluded_aggregate_types: None,
        })
    }
}

#[derive(Serialize, schemars::JsonSchema)]
struct AuditPage {
    items: Vec<AuditRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

async fn list_audit_events(
    State(state): State<AppState>,
    caller: Caller,
    ReadPosition(position): ReadPosition,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    caller.require(Permission::ReadAudit)?;
    let filter = query.filter()?;
    let limit = pagination::page_size(query.page_size)?;
    let before = match query.page_token.as_deref().filter(|t| !t.is_empty()) {
        None => None,
        Some(token) => Some(token.parse::<i64>().map_err(|_| {
            ApiError::bad_request("page_token", "is not a token this API returned")
        })?),
    };
    wait_for_position(&state, audit::NAME, position).await?;
    let mut items = audit::list(
        &state.pool,
        caller.tenant.as_str(),
        &filter,
        before,
        limit + 1,
    )
    .await?;
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next_page_token = more
        .then(|| items.last().map(|row| row.sequence.to_string()))
        .flatten();
    Ok(Json(AuditPage {
        items,
        next_page_token,
    }))
}

const CSV_HEADER: &str = "sequence,occurred_at,recorded_at,tenant,actor_id,actor_name,actor_role,\
auth_method,credential_id,ip,user_agent,action,aggregate_type,aggregate_id,instance_id,\
subscription_id,customer_id,invoice_id,correlation_id,causation_id,message,payload,prev_hash,hash\n";

/// Every text field is defused as the billing report's are: an actor's name, a user agent or
/// a message can come from a caller, and the export is opened in spreadsheets.
fn csv_line(row: &AuditRow) -> String {
    let opt = |v: &Option<String>| csv_text(v.as_deref().unwrap_or(""));
    let fields = [
        row.sequence.to_string(),
        row.occurred_at.to_rfc3339(),
        row.recorded_at.to_rfc3339(),
        csv_text(&row.tenant),
        csv_text(&row.actor_id),
        opt(&row.actor_name),
        csv_text(&row.actor_role),
        csv_text(&row.auth_method),
        opt(&row.credential_id),
        opt(&row.ip),
        opt(&row.user_agent),
        csv_text(&row.action),
        csv_text(&row.aggregate_type),
        csv_text(&row.aggregate_id),
        opt(&row.instance_id),
        opt(&row.subscription_id),
        opt(&row.customer_id),
        opt(&row.invoice_id),
        csv_text(&row.correlation_id),
        opt(&row.causation_id),
        csv_text(&row.message),
        csv_text(&row.payload.to_string()),
        csv_text(&row.prev_hash),
        csv_text(&row.hash),
    ];
    let mut line = fields.join(",");
    line.push('\n');
    line
}

/// Streams every matching row, oldest first, as JSON lines or CSV: a range of any size is
/// sent as it is read, never held in memory.
async fn export_audit_events(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Served<CsvOrJsonLines>, ApiError> {
    caller.require(Permission::ReadAudit)?;
    let csv = match query.format.as_deref().unwrap_or("jsonl") {
        "jsonl" => false,
        "csv" => true,
        _ => return Err(ApiError::bad_request("format", "must be jsonl or csv")),
    };
    let filter = query.filter()?;
    let tenant = caller.tenant.to_string();
    let pool = state.pool.clone();
    let lines = async_stream(pool, tenant, filter, csv);
    let content_type = if csv {
        "text/csv; charset=utf-8"
    } else {
        "application/x-ndjson"
    };
    Ok(Served::new(
        (
            [
                (header::CONTENT_TYPE, content_type),
                (
                    header::CONTENT_DISPOSITION,
                    if csv {
                        "attachment; filename=\"audit-events.csv\""
                    } else {
                        "attachment; filename=\"audit-events.jsonl\""
                    },
                ),
            ],
            Body::from_stream(lines),
        )
            .into_response(),
    ))
}

/// The export as a stream of text chunks, owning what it reads from.
fn async_stream(
    pool: sqlx::PgPool,
    tenant: String,
    filter: AuditFilter,
    csv: bool,
) -> impl futures::Stream<Item = Result<String, std::io::Error>> + Send + 'static {
    let (sender, body) = body_channel();
    tokio::spawn(async move {
        let header = if csv { CSV_HEADER } else { "" };
        let sql = audit::export_sql();
        let rows = audit::export(&pool, &sql, &tenant, &filter);
        send_rows(sender, header.to_owned(), rows, |row, out| {
            if csv {
                out.push_str(&csv_line(row));
            } else {
                out.push_str(&serde_json::to_string(row).map_err(std::io::Error::other)?);
                out.push('\n');
            }
            Ok(())
        })
        .await;
    });
    body
}
