//! Marketplace resources: their state, what their provider set, and what orders changed.

use chrono::{DateTime, NaiveDate, Utc};
use fleet_domain::resource::{ResourceEvent, ResourceState};
use fleet_events::EventEnvelope;
use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::usages;
use crate::expect_row;
use crate::{uuid_of, ApplyError};

pub(super) const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS resources (
    id                     uuid PRIMARY KEY,
    tenant                 text NOT NULL,
    state                  text NOT NULL,
    state_code             smallint NOT NULL,
    offering_id            uuid NOT NULL,
    plan_id                text,
    project_id             uuid NOT NULL,
    customer_id            text NOT NULL,
    name                   text NOT NULL,
    description            text NOT NULL,
    slug                   text NOT NULL DEFAULT '',
    backend_id             text NOT NULL DEFAULT '',
    backend_metadata       jsonb NOT NULL DEFAULT '{}',
    attributes             jsonb NOT NULL,
    limits                 jsonb NOT NULL,
    options                jsonb NOT NULL DEFAULT '{}',
    report                 jsonb NOT NULL DEFAULT '[]',
    end_date               date,
    end_date_requested_by  text,
    paused                 boolean NOT NULL DEFAULT false,
    downscaled             boolean NOT NULL DEFAULT false,
    restrict_member_access boolean NOT NULL DEFAULT false,
    error_message          text NOT NULL DEFAULT '',
    error_traceback        text NOT NULL DEFAULT '',
    last_sync              timestamptz,
    creation_order_id      uuid,
    order_in_progress_id   uuid,
    unlinked               boolean NOT NULL DEFAULT false,
    created_at             timestamptz NOT NULL,
    modified_at            timestamptz NOT NULL,
    version                bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS resources_by_created ON resources (tenant, created_at, id);
CREATE INDEX IF NOT EXISTS resources_by_project ON resources (tenant, project_id);
CREATE INDEX IF NOT EXISTS resources_by_offering ON resources (tenant, offering_id);
"#;

fn parse_uuid(value: &str) -> Result<Uuid, ApplyError> {
    Uuid::parse_str(value).map_err(|_| ApplyError::Unapplicable(format!("{value:?} is not a UUID")))
}

/// The state an event leads to, for the events that change it (order steps need the row).
async fn state_after(
    tx: &mut PgConnection,
    id: Uuid,
    event: &ResourceEvent,
) -> Result<Option<ResourceState>, ApplyError> {
    use ResourceEvent as E;
    use ResourceState as S;
    Ok(match event {
        E::ResourceErred { .. } => Some(S::Erred),
        E::ResourceMarkedOk {} => Some(S::Ok),
        E::ResourceOrderStarted { order_id }
        | E::ResourceOrderCompleted { order_id, .. }
        | E::ResourceOrderAbandoned { order_id, .. } => {
            let kind: Option<(Option<String>, String)> = sqlx::query_as(
                "SELECT o.kind, r.state FROM resources r
                 LEFT JOIN orders o ON o.id = r.order_in_progress_id AND o.id = $2::uuid
                 WHERE r.id = $1",
            )
            .bind(id)
            .bind(parse_uuid(order_id)?)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((kind, current)) = kind else {
                return Ok(None);
            };
            let current = ResourceState::parse(&current).unwrap_or_default();
            let kind = kind.unwrap_or_default();
            match event {
                E::ResourceOrderStarted { .. } => match kind.as_str() {
                    "Update" => Some(S::Updating),
                    "Terminate" => Some(S::Terminating),
                    _ => None,
                },
                E::ResourceOrderCompleted { .. } if kind == "Terminate" => Some(S::Terminated),
                E::ResourceOrderCompleted { .. } => Some(S::Ok),
                _ if kind == "Create" => Some(S::Terminated),
                _ if matches!(current, S::Updating | S::Terminating) => Some(S::Ok),
                _ => None,
            }
        }
        _ => None,
    })
}

pub(super) async fn apply(tx: &mut PgConnection, event: &EventEnvelope) -> Result<(), ApplyError> {
    use ResourceEvent as E;
    let id = uuid_of(event)?;
    let (at, version) = (event.event.occurred_at, event.sequence as i64);
    let decoded = event.decode::<ResourceEvent>()?;
    if let E::ResourceRequested {
        order_id,
        offering_id,
        plan_id,
        project_id,
        customer_id,
        name,
        description,
        attributes,
        limits,
    } = &decoded
    {
        let order = parse_uuid(order_id)?;
        sqlx::query(
            "INSERT INTO resources (id, tenant, state, state_code, offering_id, plan_id,
                 project_id, customer_id, name, description, attributes, limits,
                 creation_order_id, order_in_progress_id, created_at, modified_at, version)
             VALUES ($1, $2, 'Creating', 1, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $12, $13)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(&event.event.tenant)
        .bind(parse_uuid(offering_id)?)
        .bind(plan_id)
        .bind(parse_uuid(project_id)?)
        .bind(customer_id)
        .bind(name)
        .bind(description)
        .bind(Json(attributes))
        .bind(Json(limits))
        .bind(order)
        .bind(at)
        .bind(version)
        .execute(&mut *tx)
        .await?;
        return Ok(());
    }
    if let Some(state) = state_after(tx, id, &decoded).await? {
        sqlx::query("UPDATE resources SET state = $2, state_code = $3 WHERE id = $1")
            .bind(id)
            .bind(state.as_str())
            .bind(state.code())
            .execute(&mut *tx)
            .await?;
    }
    // Each event changes a few columns; every one bumps the version and the modified time.
    let mut q: QueryBuilder<'_, Postgres> = QueryBuilder::new("UPDATE resources SET ");
    match decoded {
        E::ResourceRequested { .. } => unreachable!("handled above"),
        E::ResourceOrderOpened { order_id, .. } => {
            q.push("order_in_progress_id = ")
                .push_bind(parse_uuid(&order_id)?);
        }
        E::ResourceOrderStarted { .. } => {
            q.push("unlinked = unlinked");
        }
        E::ResourceOrderCompleted {
            limits,
            options,
            plan_id,
            ..
        } => {
            q.push("order_in_progress_id = NULL, limits = coalesce(")
                .push_bind(limits.map(Json))
                .push(", limits), options = options || coalesce(")
                .push_bind(options.map(Json))
                .push(", '{}'::jsonb), plan_id = coalesce(")
                .push_bind(plan_id)
                .push(", plan_id)");
        }
        E::ResourceOrderAbandoned { .. } => {
            q.push("order_in_progress_id = NULL");
        }
        E::ResourceErred {
            error_message,
            error_traceback,
            order_id,
        } => {
            q.push("error_message = ")
                .push_bind(error_message)
                .push(", error_traceback = ")
                .push_bind(error_traceback);
            if order_id.is_some() {
                q.push(", order_in_progress_id = NULL");
            }
        }
        E::ResourceMarkedOk {} => {
            q.push("error_message = '', error_traceback = ''");
        }
        E::ResourceDetailsChanged {
            name,
            description,
            end_date,
        } => {
            q.push("name = coalesce(")
                .push_bind(name)
                .push(", name), description = coalesce(")
                .push_bind(description)
                .push(", description)");
            if let Some(end_date) = end_date {
                q.push(", end_date = ").push_bind(end_date);
            }
        }
        E::ResourceEndDateSet {
            end_date,
            requested_by,
            ..
        } => {
            q.push("end_date = ")
                .push_bind(end_date)
                .push(", end_date_requested_by = ")
                .push_bind(requested_by);
        }
        E::ResourceBackendIdSet { backend_id } => {
            q.push("backend_id = ").push_bind(backend_id);
        }
        E::ResourceBackendMetadataSet { backend_metadata } => {
            q.push("backend_metadata = ")
                .push_bind(Json(backend_metadata));
        }
        E::ResourceFlagSet { flag, value } => {
            let column = match flag.as_str() {
                "paused" => "paused",
                "downscaled" => "downscaled",
                "restrict_member_access" => "restrict_member_access",
                other => {
                    return Err(ApplyError::Unapplicable(format!("unknown flag {other}")));
                }
            };
            q.push(column).push(" = ").push_bind(value);
        }
        E::ResourceSlugSet { slug } => {
            q.push("slug = ").push_bind(slug);
        }
        E::ResourceReportSubmitted { report } => {
            q.push("report = ").push_bind(Json(report));
        }
        E::ResourceLimitsSet { limits } => {
            q.push("limits = ").push_bind(Json(limits));
        }
        E::ResourceOptionsSet { options } => {
            q.push("options = options || ").push_bind(Json(options));
        }
        E::ResourceSynced { at } => {
            q.push("last_sync = ").push_bind(at);
        }
        E::ResourcePullRequested {} => {
            q.push("unlinked = unlinked");
        }
        E::ResourceMoved {
            project_id,
            customer_id,
            ..
        } => {
            q.push("project_id = ")
                .push_bind(parse_uuid(&project_id)?)
                .push(", customer_id = ")
                .push_bind(customer_id);
        }
        E::ResourceUnlinked { .. } => {
            q.push("unlinked = true");
        }
        E::ResourceUsageReported {
            period,
            occurred_at,
            usages,
            ..
        } => {
            usages::apply_report(tx, event, id, period, occurred_at, &usages).await?;
            q.push("unlinked = unlinked");
        }
    }
    q.push(", modified_at = ")
        .push_bind(at)
        .push(", version = ")
        .push_bind(version)
        .push(" WHERE id = ")
        .push_bind(id);
    let result = q.build().execute(&mut *tx).await?;
    expect_row(result, event)
}

// ---- queries ----

/// A resource as read, with what its offering, project and customer say about it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct ResourceView {
    pub id: Uuid,
    pub state: String,
    pub offering_id: Uuid,
    pub offering_name: String,
    pub offering_slug: String,
    pub offering_description: String,
    pub offering_type: String,
    pub offering_shared: bool,
    pub offering_billable: bool,
    #[schemars(with = "Value")]
    pub offering_plugin_options: Json<Value>,
    #[schemars(with = "Value")]
    pub offering_components: Json<Value>,
    #[schemars(with = "Value")]
    pub offering_plans: Json<Value>,
    pub plan_id: Option<String>,
    pub project_id: Uuid,
    pub project_name: String,
    pub project_description: String,
    pub project_slug: String,
    pub project_end_date: Option<NaiveDate>,
    pub customer_id: String,
    pub customer_name: String,
    pub name: String,
    pub description: String,
    pub slug: String,
    pub backend_id: String,
    #[schemars(with = "Value")]
    pub backend_metadata: Json<Value>,
    #[schemars(with = "Value")]
    pub attributes: Json<Value>,
    #[schemars(with = "Value")]
    pub limits: Json<Value>,
    #[schemars(with = "Value")]
    pub options: Json<Value>,
    #[schemars(with = "Value")]
    pub report: Json<Value>,
    pub end_date: Option<NaiveDate>,
    pub end_date_requested_by: Option<String>,
    pub paused: bool,
    pub downscaled: bool,
    pub restrict_member_access: bool,
    pub error_message: String,
    pub error_traceback: String,
    pub last_sync: Option<DateTime<Utc>>,
    pub creation_order_id: Option<Uuid>,
    pub order_in_progress_id: Option<Uuid>,
    /// Component type -> usage reported for the current month.
    #[schemars(with = "Value")]
    pub current_usages: Json<Value>,
    pub created_at: DateTime<Utc>,
    pub modified_at: DateTime<Utc>,
    pub version: i64,
}

const SELECT: &str = "SELECT r.id, r.state, r.offering_id, f.name AS offering_name,
        f.slug AS offering_slug, f.description AS offering_description, f.offering_type,
        f.shared AS offering_shared, f.billable AS offering_billable,
        f.plugin_options AS offering_plugin_options, f.components AS offering_components,
        f.plans AS offering_plans, r.plan_id, r.project_id, p.name AS project_name,
        p.description AS project_description, p.slug AS project_slug,
        p.end_date AS project_end_date, r.customer_id, coalesce(c.name, '') AS customer_name,
        r.name, r.description, r.slug, r.backend_id, r.backend_metadata, r.attributes,
        r.limits, r.options, r.report, r.end_date, r.end_date_requested_by, r.paused,
        r.downscaled, r.restrict_member_access, r.error_message, r.error_traceback,
        r.last_sync, r.creation_order_id, r.order_in_progress_id,
        coalesce((SELECT jsonb_object_agg(u.component, u.usage::text)
                  FROM marketplace.component_usages u
                  WHERE u.tenant = r.tenant AND u.resource_id = r.id
                    AND u.period = date_trunc('month', now() AT TIME ZONE 'UTC')::date),
                 '{}'::jsonb) AS current_usages,
        r.created_at, r.modified_at, r.version
    FROM marketplace.resources r
    JOIN marketplace.offerings f ON f.id = r.offering_id
    JOIN marketplace.projects p ON p.id = r.project_id
    LEFT JOIN inventory.customers c ON c.id::text = r.customer_id";

/// The keys a list may be ordered by.
pub const ORDER_KEYS: [&str; 5] = ["created", "end_date", "name", "project_name", "state"];

#[derive(Debug, Default, Clone)]
pub struct ResourceFilter {
    pub backend_id: Option<String>,
    pub customer_id: Option<String>,
    pub created_from: Option<DateTime<Utc>>,
    pub modified_from: Option<DateTime<Utc>>,
    pub downscaled: Option<bool>,
    pub paused: Option<bool>,
    pub restrict_member_access: Option<bool>,
    pub has_end_date: Option<bool>,
    pub name_contains: Option<String>,
    pub name_exact: Option<String>,
    pub offering_ids: Vec<Uuid>,
    pub offering_slugs: Vec<String>,
    pub offering_type: Option<String>,
    pub offering_shared: Option<bool>,
    pub offering_billable: Option<bool>,
    pub offering_types: Vec<String>,
    pub plan_id: Option<String>,
    pub project_name: Option<String>,
    pub project_id: Option<Uuid>,
    /// A resource id, or text found in the name, slug or backend id.
    pub query: Option<String>,
    pub runtime_state: Option<String>,
    pub states: Vec<String>,
    pub usage_based: Option<bool>,
    pub limit_based: Option<bool>,
    pub only_usage_based: Option<bool>,
    pub only_limit_based: Option<bool>,
    pub component_count: Option<i64>,
    pub limit_component_count: Option<i64>,
    pub lexis_links_supported: Option<bool>,
    /// A filter named something no resource can have (an unknown provider): empty result.
    pub nothing: bool,
    /// (key of [`ORDER_KEYS`], descending)
    pub order: Vec<(String, bool)>,
}

fn count_of(billing_type: Option<&str>) -> String {
    match billing_type {
        Some(t) => format!(
            "(SELECT count(*) FROM jsonb_array_elements(f.components) x WHERE x->>'billing_type' = '{t}')"
        ),
        None => "jsonb_array_length(f.components)".to_owned(),
    }
}

fn push_filter(q: &mut QueryBuilder<'_, Postgres>, tenant: &str, f: &ResourceFilter) {
    q.push(" WHERE r.tenant = ")
        .push_bind(tenant.to_owned())
        .push(" AND NOT r.unlinked");
    if f.nothing {
        q.push(" AND false");
    }
    let text = |q: &mut QueryBuilder<'_, Postgres>, column: &str, value: &Option<String>| {
        if let Some(value) = value {
            q.push(format!(" AND {column} = ")).push_bind(value.clone());
        }
    };
    text(q, "r.backend_id", &f.backend_id);
    text(q, "r.customer_id", &f.customer_id);
    text(q, "r.name", &f.name_exact);
    text(q, "f.offering_type", &f.offering_type);
    text(q, "r.plan_id", &f.plan_id);
    text(q, "p.name", &f.project_name);
    text(q, "r.backend_metadata->>'runtime_state'", &f.runtime_state);
    let flag = |q: &mut QueryBuilder<'_, Postgres>, column: &str, value: Option<bool>| {
        if let Some(value) = value {
            q.push(format!(" AND {column} = ")).push_bind(value);
        }
    };
    flag(q, "r.downscaled", f.downscaled);
    flag(q, "r.paused", f.paused);
    flag(q, "r.restrict_member_access", f.restrict_member_access);
    flag(q, "f.shared", f.offering_shared);
    flag(q, "f.billable", f.offering_billable);
    flag(q, "(r.end_date IS NOT NULL)", f.has_end_date);
    flag(
        q,
        "(f.plugin_options ? 'heappe_url')",
        f.lexis_links_supported,
    );
    let usage = count_of(Some("usage"));
    let limit = count_of(Some("limit"));
    let all = count_of(None);
    flag(q, &format!("({usage} > 0)"), f.usage_based);
    flag(q, &format!("({limit} > 0)"), f.limit_based);
    flag(
        q,
        &format!("({all} > 0 AND {usage} = {all})"),
        f.only_usage_based,
    );
    flag(
        q,
        &format!("({all} > 0 AND {limit} = {all})"),
        f.only_limit_based,
    );
    if let Some(n) = f.component_count {
        q.push(format!(" AND {all} = ")).push_bind(n);
    }
    if let Some(n) = f.limit_component_count {
        q.push(format!(" AND {limit} = ")).push_bind(n);
    }
    if let Some(at) = f.created_from {
        q.push(" AND r.created_at >= ").push_bind(at);
    }
    if let Some(at) = f.modified_from {
        q.push(" AND r.modified_at >= ").push_bind(at);
    }
    if let Some(name) = &f.name_contains {
        q.push(" AND r.name ILIKE ")
            .push_bind(format!("%{}%", escape_like(name)));
    }
    if !f.offering_ids.is_empty() {
        q.push(" AND r.offering_id = ANY(")
            .push_bind(f.offering_ids.clone())
            .push(")");
    }
    if !f.offering_slugs.is_empty() {
        q.push(" AND f.slug = ANY(")
            .push_bind(f.offering_slugs.clone())
            .push(")");
    }
    if !f.offering_types.is_empty() {
        q.push(" AND f.offering_type = ANY(")
            .push_bind(f.offering_types.clone())
            .push(")");
    }
    if let Some(id) = f.project_id {
        q.push(" AND r.project_id = ").push_bind(id);
    }
    if !f.states.is_empty() {
        q.push(" AND r.state = ANY(")
            .push_bind(f.states.clone())
            .push(")");
    }
    if let Some(query) = &f.query {
        match Uuid::parse_str(query.trim()) {
            Ok(id) => {
                q.push(" AND r.id = ").push_bind(id);
            }
            Err(_) => {
                q.push(" AND (r.name ILIKE ")
                    .push_bind(format!("%{}%", escape_like(query)))
                    .push(" OR lower(r.backend_id) = lower(")
                    .push_bind(query.clone())
                    .push(") OR lower(r.slug) = lower(")
                    .push_bind(query.clone())
                    .push("))");
            }
        }
    }
}

fn escape_like(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// How many resources match.
pub async fn count(
    pool: &PgPool,
    tenant: &str,
    filter: &ResourceFilter,
) -> Result<i64, sqlx::Error> {
    let mut q = QueryBuilder::new(
        "SELECT count(*) FROM marketplace.resources r
         JOIN marketplace.offerings f ON f.id = r.offering_id
         JOIN marketplace.projects p ON p.id = r.project_id",
    );
    push_filter(&mut q, tenant, filter);
    q.build_query_scalar().fetch_one(pool).await
}

/// One page of resources, in the filter's order (oldest first by default).
pub async fn list(
    pool: &PgPool,
    tenant: &str,
    filter: &ResourceFilter,
    offset: i64,
    limit: i64,
) -> Result<Vec<ResourceView>, sqlx::Error> {
    let mut q = QueryBuilder::new(SELECT);
    push_filter(&mut q, tenant, filter);
    q.push(" ORDER BY ");
    for (key, descending) in &filter.order {
        let column = match key.as_str() {
            "created" => "r.created_at",
            "end_date" => "r.end_date",
            "name" => "r.name",
            "project_name" => "p.name",
            "state" => "r.state_code",
            _ => continue,
        };
        q.push(column)
            .push(if *descending { " DESC, " } else { " ASC, " });
    }
    q.push("r.created_at, r.id LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    q.build_query_as().fetch_all(pool).await
}

pub async fn get(
    pool: &PgPool,
    tenant: &str,
    id: Uuid,
) -> Result<Option<ResourceView>, sqlx::Error> {
    sqlx::query_as(&format!(
        "{SELECT} WHERE r.tenant = $1 AND r.id = $2 AND NOT r.unlinked"
    ))
    .bind(tenant)
    .bind(id)
    .fetch_optional(pool)
    .await
}
