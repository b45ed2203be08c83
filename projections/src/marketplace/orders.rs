//! Orders, with who reviewed them and when.

use chrono::{DateTime, Utc};
use fleet_events::order::OrderEvent;
use fleet_events::EventEnvelope;
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::expect_row;
use crate::{uuid_of, ApplyError};

pub(super) const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS orders (
    id                    uuid PRIMARY KEY,
    tenant                text NOT NULL,
    kind                  text NOT NULL,
    state                 text NOT NULL,
    resource_id           uuid NOT NULL,
    offering_id           uuid NOT NULL,
    project_id            uuid NOT NULL,
    customer_id           text NOT NULL,
    plan_id               text,
    attributes            jsonb NOT NULL,
    limits                jsonb,
    options               jsonb,
    request_comment       text,
    callback_url          text,
    resource_name         text,
    backend_id            text NOT NULL DEFAULT '',
    error_message         text NOT NULL DEFAULT '',
    error_traceback       text NOT NULL DEFAULT '',
    created_by            text NOT NULL,
    consumer_reviewed_by  text,
    consumer_reviewed_at  timestamptz,
    provider_reviewed_by  text,
    provider_reviewed_at  timestamptz,
    completed_at          timestamptz,
    created_at            timestamptz NOT NULL,
    modified_at           timestamptz NOT NULL,
    version               bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_created ON orders (tenant, created_at, id);
CREATE INDEX IF NOT EXISTS orders_by_resource ON orders (tenant, resource_id, created_at);
CREATE INDEX IF NOT EXISTS orders_by_state ON orders (tenant, state, created_at);
"#;

pub(super) async fn apply(
    tx: &mut sqlx::PgConnection,
    event: &EventEnvelope,
) -> Result<(), ApplyError> {
    use OrderEvent as E;
    let id = uuid_of(event)?;
    let (at, version) = (event.event.occurred_at, event.sequence as i64);
    let actor = event.event.actor.id.clone();
    let uuid = |value: &str| {
        Uuid::parse_str(value)
            .map_err(|_| ApplyError::Unapplicable(format!("{value:?} is not a UUID")))
    };
    let query = match event.decode::<OrderEvent>()? {
        E::OrderPlaced { request, state } => {
            sqlx::query(
                "INSERT INTO orders (id, tenant, kind, state, resource_id, offering_id, project_id,
                     customer_id, plan_id, attributes, limits, options, request_comment,
                     callback_url, resource_name, created_by, created_at, modified_at, version)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                     $17, $17, $18)
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(&event.event.tenant)
            .bind(&request.kind)
            .bind(state)
            .bind(uuid(&request.resource_id)?)
            .bind(uuid(&request.offering_id)?)
            .bind(uuid(&request.project_id)?)
            .bind(&request.customer_id)
            .bind(&request.plan_id)
            .bind(Json(&request.attributes))
            .bind(request.limits.as_ref().map(Json))
            .bind(request.options.as_ref().map(Json))
            .bind(&request.request_comment)
            .bind(&request.callback_url)
            .bind(&request.resource_name)
            .bind(&actor)
            .bind(at)
            .bind(version)
            .execute(&mut *tx)
            .await?;
            return Ok(());
        }
        E::OrderApprovedByConsumer {} => sqlx::query(
            "UPDATE orders SET state = 'pending-provider', consumer_reviewed_by = $2,
                 consumer_reviewed_at = $3, modified_at = $3, version = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(&actor)
        .bind(at)
        .bind(version),
        E::OrderApprovedByProvider {} => sqlx::query(
            "UPDATE orders SET state = 'executing', provider_reviewed_by = $2,
                 provider_reviewed_at = $3, modified_at = $3, version = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(&actor)
        .bind(at)
        .bind(version),
        E::OrderRejected { by } => sqlx::query(
            "UPDATE orders SET state = 'rejected',
                 consumer_reviewed_by = CASE WHEN $5 = 'consumer' THEN $2 ELSE consumer_reviewed_by END,
                 consumer_reviewed_at = CASE WHEN $5 = 'consumer' THEN $3 ELSE consumer_reviewed_at END,
                 provider_reviewed_by = CASE WHEN $5 = 'provider' THEN $2 ELSE provider_reviewed_by END,
                 provider_reviewed_at = CASE WHEN $5 = 'provider' THEN $3 ELSE provider_reviewed_at END,
                 completed_at = $3, modified_at = $3, version = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(&actor)
        .bind(at)
        .bind(version)
        .bind(by),
        E::OrderExecutionStarted {} => sqlx::query(
            "UPDATE orders SET state = 'executing', modified_at = $3, version = $4
             WHERE id = $1 AND $2::text IS NOT NULL",
        )
        .bind(id)
        .bind(&actor)
        .bind(at)
        .bind(version),
        E::OrderCompleted {} => sqlx::query(
            "UPDATE orders SET state = 'done', completed_at = $3, modified_at = $3, version = $4
             WHERE id = $1 AND $2::text IS NOT NULL",
        )
        .bind(id)
        .bind(&actor)
        .bind(at)
        .bind(version),
        E::OrderFailed {
            error_message,
            error_traceback,
        } => sqlx::query(
            "UPDATE orders SET state = 'erred', error_message = $5, error_traceback = $6,
                 completed_at = $3, modified_at = $3, version = $4
             WHERE id = $1 AND $2::text IS NOT NULL",
        )
        .bind(id)
        .bind(&actor)
        .bind(at)
        .bind(version)
        .bind(error_message)
        .bind(error_traceback),
        E::OrderCanceled {} => sqlx::query(
            "UPDATE orders SET state = 'canceled', completed_at = $3, modified_at = $3,
                 version = $4 WHERE id = $1 AND $2::text IS NOT NULL",
        )
        .bind(id)
        .bind(&actor)
        .bind(at)
        .bind(version),
        E::OrderBackendIdSet { backend_id } => sqlx::query(
            "UPDATE orders SET backend_id = $5, modified_at = $3, version = $4
             WHERE id = $1 AND $2::text IS NOT NULL",
        )
        .bind(id)
        .bind(&actor)
        .bind(at)
        .bind(version)
        .bind(backend_id),
    };
    let result = query.execute(&mut *tx).await?;
    expect_row(result, event)
}

/// An order as read, with the names of what it concerns.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct OrderView {
    pub id: Uuid,
    pub kind: String,
    pub state: String,
    pub resource_id: Uuid,
    pub resource_state: Option<String>,
    pub offering_id: Uuid,
    pub offering_name: String,
    pub offering_slug: String,
    pub offering_type: String,
    pub offering_description: String,
    pub offering_shared: bool,
    pub offering_billable: bool,
    pub project_id: Uuid,
    pub project_name: String,
    pub project_description: String,
    pub project_slug: String,
    pub customer_id: String,
    pub customer_name: String,
    pub plan_id: Option<String>,
    #[schemars(with = "serde_json::Value")]
    pub attributes: Json<serde_json::Value>,
    #[schemars(with = "Option<serde_json::Value>")]
    pub limits: Option<Json<serde_json::Value>>,
    #[schemars(with = "Option<serde_json::Value>")]
    pub options: Option<Json<serde_json::Value>>,
    pub request_comment: Option<String>,
    pub callback_url: Option<String>,
    pub resource_name: Option<String>,
    pub backend_id: String,
    pub error_message: String,
    pub error_traceback: String,
    pub created_by: String,
    pub consumer_reviewed_by: Option<String>,
    pub consumer_reviewed_at: Option<DateTime<Utc>>,
    pub provider_reviewed_by: Option<String>,
    pub provider_reviewed_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
    pub version: i64,
}

const SELECT: &str = "SELECT o.id, o.kind, o.state, o.resource_id, r.state AS resource_state,
        o.offering_id, f.name AS offering_name, f.slug AS offering_slug,
        f.offering_type, f.description AS offering_description, f.shared AS offering_shared,
        f.billable AS offering_billable, o.project_id, p.name AS project_name,
        p.description AS project_description, p.slug AS project_slug, o.customer_id,
        coalesce(c.name, '') AS customer_name, o.plan_id, o.attributes, o.limits, o.options,
        o.request_comment, o.callback_url, o.resource_name, o.backend_id, o.error_message,
        o.error_traceback, o.created_by, o.consumer_reviewed_by, o.consumer_reviewed_at,
        o.provider_reviewed_by, o.provider_reviewed_at, o.completed_at, o.created_at,
        o.modified_at, o.version
    FROM marketplace.orders o
    JOIN marketplace.offerings f ON f.id = o.offering_id
    JOIN marketplace.projects p ON p.id = o.project_id
    LEFT JOIN marketplace.resources r ON r.id = o.resource_id
    LEFT JOIN inventory.customers c ON c.id::text = o.customer_id";

#[derive(Debug, Default, Clone)]
pub struct OrderFilter {
    pub states: Vec<String>,
    pub kinds: Vec<String>,
    pub resource_id: Option<Uuid>,
    pub offering_ids: Vec<Uuid>,
    pub project_id: Option<Uuid>,
    pub customer_id: Option<String>,
    pub created_from: Option<DateTime<Utc>>,
    pub modified_from: Option<DateTime<Utc>>,
    /// Newest first when true (Waldur's default for orders).
    pub newest_first: bool,
}

fn push_filter(q: &mut QueryBuilder<'_, Postgres>, tenant: &str, f: &OrderFilter) {
    q.push(" WHERE o.tenant = ").push_bind(tenant.to_owned());
    if !f.states.is_empty() {
        q.push(" AND o.state = ANY(")
            .push_bind(f.states.clone())
            .push(")");
    }
    if !f.kinds.is_empty() {
        q.push(" AND o.kind = ANY(")
            .push_bind(f.kinds.clone())
            .push(")");
    }
    if let Some(id) = f.resource_id {
        q.push(" AND o.resource_id = ").push_bind(id);
    }
    if !f.offering_ids.is_empty() {
        q.push(" AND o.offering_id = ANY(")
            .push_bind(f.offering_ids.clone())
            .push(")");
    }
    if let Some(id) = f.project_id {
        q.push(" AND o.project_id = ").push_bind(id);
    }
    if let Some(id) = &f.customer_id {
        q.push(" AND o.customer_id = ").push_bind(id.clone());
    }
    if let Some(at) = f.created_from {
        q.push(" AND o.created_at >= ").push_bind(at);
    }
    if let Some(at) = f.modified_from {
        q.push(" AND o.modified_at >= ").push_bind(at);
    }
}

/// How many orders match.
pub async fn count(pool: &PgPool, tenant: &str, filter: &OrderFilter) -> Result<i64, sqlx::Error> {
    let mut q = QueryBuilder::new("SELECT count(*) FROM marketplace.orders o");
    push_filter(&mut q, tenant, filter);
    q.build_query_scalar().fetch_one(pool).await
}

/// One page of orders.
pub async fn list(
    pool: &PgPool,
    tenant: &str,
    filter: &OrderFilter,
    offset: i64,
    limit: i64,
) -> Result<Vec<OrderView>, sqlx::Error> {
    let mut q = QueryBuilder::new(SELECT);
    push_filter(&mut q, tenant, filter);
    q.push(if filter.newest_first {
        " ORDER BY o.created_at DESC, o.id DESC"
    } else {
        " ORDER BY o.created_at, o.id"
    });
    q.push(" LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    q.build_query_as().fetch_all(pool).await
}

pub async fn get(pool: &PgPool, tenant: &str, id: Uuid) -> Result<Option<OrderView>, sqlx::Error> {
    sqlx::query_as(&format!("{SELECT} WHERE o.tenant = $1 AND o.id = $2"))
        .bind(tenant)
        .bind(id)
        .fetch_optional(pool)
        .await
}
