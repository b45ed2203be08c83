//! The audit log: one row per event of every aggregate, as it was at the time, with a hash
//! chained to the previous row of the same tenant.
//!
//! A row is built from its event alone (plus links learnt from earlier events: which customer
//! and subscription an aggregate belongs to), by [`AuditTrail`]. The projection persists the
//! trail's state (chain heads, links) with the rows; `fleetd verify audit` folds the stream
//! through the same code and compares every row, so an edited, deleted or inserted row is
//! named by its sequence.

use std::collections::HashMap;

use std::fmt::Write;
use std::sync::LazyLock;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use fleet_events::EventEnvelope;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::insert_once::{self, take_columns, Statement};
use crate::{ApplyError, Projection};

pub const NAME: &str = "audit";

const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS events (
    sequence        bigint PRIMARY KEY,
    tenant          text NOT NULL,
    event_id        uuid NOT NULL,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL,
    actor_id        text NOT NULL,
    actor_name      text,
    actor_role      text NOT NULL,
    auth_method     text NOT NULL,
    credential_id   text,
    ip              text,
    user_agent      text,
    action          text NOT NULL,
    aggregate_type  text NOT NULL,
    aggregate_id    text NOT NULL,
    instance_id     text,
    subscription_id text,
    customer_id     text,
    invoice_id      text,
    correlation_id  text NOT NULL,
    causation_id    text,
    message         text NOT NULL,
    payload         jsonb NOT NULL,
    prev_hash       text NOT NULL,
    hash            text NOT NULL
);
-- The last hash of each tenant's chain.
CREATE TABLE IF NOT EXISTS chain_heads (
    tenant   text PRIMARY KEY,
    hash     text NOT NULL
);
-- Which customer and subscription a tenant's aggregate belongs to, learnt from its creation.
-- Keyed by tenant too: an aggregate id derived from a name (a host cluster, a network space)
-- is the same in every tenant.
CREATE TABLE IF NOT EXISTS aggregate_links (
    tenant          text NOT NULL,
    aggregate_id    text NOT NULL,
    customer_id     text,
    subscription_id text,
    PRIMARY KEY (tenant, aggregate_id)
);
-- The links of an earlier version, keyed by aggregate id alone, move over with the tenant
-- their events name.
DO $$
BEGIN
    IF to_regclass(quote_ident(current_schema()) || '.links') IS NOT NULL THEN
        INSERT INTO aggregate_links (tenant, aggregate_id, customer_id, subscription_id)
        SELECT DISTINCT ON (e.tenant, l.aggregate_id) e.tenant, l.aggregate_id, l.customer_id,
               l.subscription_id
          FROM links l JOIN events e ON e.aggregate_id = l.aggregate_id
        ON CONFLICT DO NOTHING;
        DROP TABLE links;
    END IF;
END $$;
"#;

/// The audit log's queries: by tenant, time, correlation and aggregate.
const READER_INDEXES: &str = r#"
CREATE INDEX IF NOT EXISTS events_by_tenant ON events (tenant, sequence DESC);
CREATE INDEX IF NOT EXISTS events_by_time ON events (tenant, occurred_at DESC);
CREATE INDEX IF NOT EXISTS events_by_correlation ON events (tenant, correlation_id);
CREATE INDEX IF NOT EXISTS events_by_aggregate ON events (tenant, aggregate_id);
"#;

/// A row of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct AuditRow {
    pub sequence: i64,
    pub tenant: String,
    pub event_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub actor_id: String,
    pub actor_name: Option<String>,
    pub actor_role: String,
    pub auth_method: String,
    pub credential_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub action: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub instance_id: Option<String>,
    pub subscription_id: Option<String>,
    pub customer_id: Option<String>,
    pub invoice_id: Option<String>,
    pub correlation_id: String,
    pub causation_id: Option<String>,
    pub message: String,
    pub payload: Value,
    pub prev_hash: String,
    pub hash: String,
}

pub const COLUMNS: &str = "sequence, tenant, event_id, occurred_at, recorded_at, actor_id, \
    actor_name, actor_role, auth_method, credential_id, ip, user_agent, action, aggregate_type, \
    aggregate_id, instance_id, subscription_id, customer_id, invoice_id, correlation_id, \
    causation_id, message, payload, prev_hash, hash";

/// PostgreSQL keeps microseconds: the hash must not depend on more.
fn micros(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl AuditRow {
    /// Everything but the hash, in a fixed form. `serde_json` sorts object keys, so the payload
    /// text is the same whether it comes from the event or back from a jsonb column.
    fn canonical(&self) -> String {
        let fields: [&dyn std::fmt::Debug; 23] = [
            &self.sequence,
            &self.tenant,
            &self.event_id,
            &micros(&self.occurred_at),
            &micros(&self.recorded_at),
            &self.actor_id,
            &self.actor_name,
            &self.actor_role,
            &self.auth_method,
            &self.credential_id,
            &self.ip,
            &self.user_agent,
            &self.action,
            &self.aggregate_type,
            &self.aggregate_id,
            &self.instance_id,
            &self.subscription_id,
            &self.customer_id,
            &self.invoice_id,
            &self.correlation_id,
            &self.causation_id,
            &self.message,
            &self.prev_hash,
        ];
        let mut text = String::new();
        for field in fields {
            let _ = write!(text, "{field:?}\u{1f}");
        }
        text.push_str(&self.payload.to_string());
        text
    }

    pub fn computed_hash(&self) -> String {
        hex::encode(Sha256::digest(self.canonical().as_bytes()))
    }

    /// The first column in which two rows differ, comparing times to the microsecond.
    pub fn first_difference(&self, other: &AuditRow) -> Option<&'static str> {
        let a = self.canonical();
        let b = other.canonical();
        if a == b {
            return (self.hash != other.hash).then_some("hash");
        }
        let names = COLUMNS.split(", ").map(str::trim).collect::<Vec<_>>();
        let fields_a: Vec<&str> = a.split('\u{1f}').collect();
        let fields_b: Vec<&str> = b.split('\u{1f}').collect();
        // The canonical form lists the columns in order, the payload last.
        for (i, (x, y)) in fields_a.iter().zip(&fields_b).enumerate() {
            if x != y {
                return Some(match i {
                    22 => "prev_hash",
                    23 => "payload",
                    i => names.get(i).copied().unwrap_or("row"),
                });
            }
        }
        Some("row")
    }
}

#[derive(Debug, Clone, Default)]
struct Link {
    customer_id: Option<String>,
    subscription_id: Option<String>,
}

/// Turns events into audit rows, carrying the chain heads and links between them.
#[derive(Debug, Default)]
pub struct AuditTrail {
    heads: HashMap<String, String>,
    /// By (tenant, aggregate id).
    links: HashMap<(String, String), Link>,
}

fn text(payload: &Value, key: &str) -> Option<String> {
    payload.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// "delta=3 from=2 to=5": the event's simple fields, for a line a person can read.
fn summary(payload: &Value) -> String {
    let Value::Object(map) = payload else {
        return String::new();
    };
    map.iter()
        .filter_map(|(k, v)| match v {
            Value::String(s) if s.len() <= 64 => Some(format!("{k}={s}")),
            Value::Number(n) => Some(format!("{k}={n}")),
            Value::Bool(b) => Some(format!("{k}={b}")),
            _ => None,
        })
        .take(6)
        .collect::<Vec<_>>()
        .join(" ")
}

impl AuditTrail {
    pub fn row(&mut self, event: &EventEnvelope) -> AuditRow {
        let e = &event.event;
        let payload = &e.payload;
        // An event of another aggregate about an instance (its admission under a
        // subscription) names it in its payload.
        let (instance_id, invoice_id) = (
            match e.aggregate_type.as_str() {
                "instance" => Some(e.aggregate_id.clone()),
                _ => text(payload, "instance_id"),
            },
            (e.aggregate_type == "invoice").then(|| e.aggregate_id.clone()),
        );
        let link = self
            .links
            .entry((e.tenant.clone(), e.aggregate_id.clone()))
            .or_default();
        if let Some(customer) = text(payload, "customer_id") {
            link.customer_id = Some(customer);
        }
        if let Some(subscription) = text(payload, "subscription_id") {
            link.subscription_id.get_or_insert(subscription);
        }
        let customer_id = match e.aggregate_type.as_str() {
            "customer" => Some(e.aggregate_id.clone()),
            _ => link.customer_id.clone(),
        };
        let subscription_id = match e.aggregate_type.as_str() {
            "subscription" => Some(e.aggregate_id.clone()),
            _ => link.subscription_id.clone(),
        };
        let who = e.actor.name.as_deref().unwrap_or(&e.actor.id);
        let details = summary(payload);
        let message = format!(
            "{who} ({}) {} on {} {}{}{}",
            e.actor.role,
            e.event_type,
            e.aggregate_type.replace('_', " "),
            e.aggregate_id,
            if details.is_empty() { "" } else { ": " },
            details
        );
        let prev_hash = self.heads.get(&e.tenant).cloned().unwrap_or_default();
        let mut row = AuditRow {
            sequence: event.sequence as i64,
            tenant: e.tenant.clone(),
            event_id: e.event_id,
            occurred_at: e.occurred_at,
            recorded_at: event.recorded_at,
            actor_id: e.actor.id.clone(),
            actor_name: e.actor.name.clone(),
            actor_role: e.actor.role.clone(),
            auth_method: e.actor.auth_method.clone(),
            credential_id: e.actor.credential_id.clone(),
            ip: e.actor.ip.clone(),
            user_agent: e.actor.user_agent.clone(),
            action: e.event_type.clone(),
            aggregate_type: e.aggregate_type.clone(),
            aggregate_id: e.aggregate_id.clone(),
            instance_id,
            subscription_id,
            customer_id,
            invoice_id,
            correlation_id: e.correlation_id.clone(),
            causation_id: e.causation_id.clone(),
            message,
            payload: payload.clone(),
            prev_hash,
            hash: String::new(),
        };
        row.hash = row.computed_hash();
        self.heads.insert(row.tenant.clone(), row.hash.clone());
        row
    }
}

pub struct Audit;

#[async_trait]
impl Projection for Audit {
    fn name(&self) -> &'static str {
        NAME
    }

    fn ddl(&self) -> Vec<&'static str> {
        vec![DDL]
    }

    fn reader_indexes(&self) -> Vec<&'static str> {
        vec![READER_INDEXES]
    }

    fn handles(&self, _aggregate_type: &str) -> bool {
        true
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        events: &[EventEnvelope],
    ) -> Result<(), ApplyError> {
        let tenants: Vec<String> = events.iter().map(|e| e.event.tenant.clone()).collect();
        let ids: Vec<String> = events
            .iter()
            .map(|e| e.event.aggregate_id.clone())
            .collect();
        let mut trail = AuditTrail::default();
        let heads: Vec<(String, String)> =
            sqlx::query_as("SELECT tenant, hash FROM chain_heads WHERE tenant = ANY($1)")
                .bind(&tenants)
                .fetch_all(&mut *tx)
                .await?;
        trail.heads.extend(heads);
        let links: Vec<(String, String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT l.tenant, l.aggregate_id, l.customer_id, l.subscription_id
               FROM aggregate_links l
               JOIN UNNEST($1::text[], $2::text[]) AS k(tenant, aggregate_id)
                 ON l.tenant = k.tenant AND l.aggregate_id = k.aggregate_id",
        )
        .bind(&tenants)
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        for (tenant, id, customer_id, subscription_id) in links {
            trail.links.insert(
                (tenant, id),
                Link {
                    customer_id,
                    subscription_id,
                },
            );
        }
        let rows: Vec<AuditRow> = events.iter().map(|e| trail.row(e)).collect();
        insert_rows(tx, rows).await?;
        let (head_tenants, head_hashes): (Vec<String>, Vec<String>) =
            trail.heads.into_iter().unzip();
        sqlx::query(
            "INSERT INTO chain_heads (tenant, hash) SELECT * FROM UNNEST($1::text[], $2::text[])
             ON CONFLICT (tenant) DO UPDATE SET hash = EXCLUDED.hash",
        )
        .bind(&head_tenants)
        .bind(&head_hashes)
        .execute(&mut *tx)
        .await?;
        let mut link_tenants = Vec::new();
        let mut link_ids = Vec::new();
        let mut link_customers = Vec::new();
        let mut link_subscriptions = Vec::new();
        for ((tenant, id), link) in trail.links {
            if link.customer_id.is_some() || link.subscription_id.is_some() {
                link_tenants.push(tenant);
                link_ids.push(id);
                link_customers.push(link.customer_id);
                link_subscriptions.push(link.subscription_id);
            }
        }
        sqlx::query(
            "INSERT INTO aggregate_links (tenant, aggregate_id, customer_id, subscription_id)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[])
             ON CONFLICT (tenant, aggregate_id) DO UPDATE SET customer_id = EXCLUDED.customer_id,
                 subscription_id = EXCLUDED.subscription_id",
        )
        .bind(&link_tenants)
        .bind(&link_ids)
        .bind(&link_customers)
        .bind(&link_subscriptions)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

/// The rows of a batch, after those already there. A row is there already only when a batch
/// is applied again, so the plain insert goes first (see [`crate::insert_once`]).
static INSERT_EVENTS: LazyLock<Statement> = LazyLock::new(|| {
    Statement::new(
        &format!(
            "INSERT INTO events ({COLUMNS})
             SELECT * FROM UNNEST($1::int8[], $2::text[], $3::uuid[], $4::timestamptz[],
                 $5::timestamptz[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                 $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[],
                 $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], $22::text[],
                 $23::jsonb[], $24::text[], $25::text[])
             {{on_conflict}}"
        ),
        "ON CONFLICT (sequence) DO NOTHING",
    )
});

async fn insert_rows(tx: &mut PgConnection, mut rows: Vec<AuditRow>) -> Result<(), sqlx::Error> {
    take_columns!(rows, row => row;
        sequence,
        tenant,
        event_id,
        occurred_at,
        recorded_at,
        actor_id,
        actor_name,
        actor_role,
        auth_method,
        credential_id,
        ip,
        user_agent,
        action,
        aggregate_type,
        aggregate_id,
        instance_id,
        subscription_id,
        customer_id,
        invoice_id,
        correlation_id,
        causation_id,
        message,
        payload,
        prev_hash,
        hash
    );
    insert_once::insert(tx, &INSERT_EVENTS, sequence.len(), |query| {
        query
            .bind(&sequence)
            .bind(&tenant)
            .bind(&event_id)
            .bind(&occurred_at)
            .bind(&recorded_at)
            .bind(&actor_id)
            .bind(&actor_name)
            .bind(&actor_role)
            .bind(&auth_method)
            .bind(&credential_id)
            .bind(&ip)
            .bind(&user_agent)
            .bind(&action)
            .bind(&aggregate_type)
            .bind(&aggregate_id)
            .bind(&instance_id)
            .bind(&subscription_id)
            .bind(&customer_id)
            .bind(&invoice_id)
            .bind(&correlation_id)
            .bind(&causation_id)
            .bind(&message)
            .bind(&payload)
            .bind(&prev_hash)
            .bind(&hash)
    })
    .await?;
    Ok(())
}

// ---- queries ----

#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub event_types: Option<Vec<String>>,
    pub instance_id: Option<String>,
    pub subscription_id: Option<String>,
    pub customer_id: Option<String>,
    pub actor_id: Option<String>,
    pub correlation_id: Option<String>,
    pub aggregate_type: Option<String>,
    pub aggregate_id: Option<String>,
    /// Leaves out the events of these aggregate types.
    pub excluded_aggregate_types: Option<Vec<String>>,
}

const FILTER: &str = "tenant = $1
    AND ($2::timestamptz IS NULL OR occurred_at >= $2)
    AND ($3::timestamptz IS NULL OR occurred_at < $3)
    AND ($4::text[] IS NULL OR action = ANY($4))
    AND ($5::text IS NULL OR instance_id = $5)
    AND ($6::text IS NULL OR subscription_id = $6)
    AND ($7::text IS NULL OR customer_id = $7)
    AND ($8::text IS NULL OR actor_id = $8)
    AND ($9::text IS NULL OR correlation_id = $9)
    AND ($10::text IS NULL OR aggregate_type = $10)
    AND ($11::text IS NULL OR aggregate_id = $11)
    AND ($12::text[] IS NULL OR aggregate_type <> ALL($12))";

fn filtered<'q>(
    sql: &'q str,
    tenant: &'q str,
    filter: &'q AuditFilter,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, AuditRow, sqlx::postgres::PgArguments> {
    sqlx::query_as(sql)
        .bind(tenant)
        .bind(filter.start)
        .bind(filter.end)
        .bind(&filter.event_types)
        .bind(&filter.instance_id)
        .bind(&filter.subscription_id)
        .bind(&filter.customer_id)
        .bind(&filter.actor_id)
        .bind(&filter.correlation_id)
        .bind(&filter.aggregate_type)
        .bind(&filter.aggregate_id)
        .bind(&filter.excluded_aggregate_types)
}

/// Newest first, before the cursor (a sequence).
pub async fn list(
    pool: &PgPool,
    tenant: &str,
    filter: &AuditFilter,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM audit.events WHERE {FILTER}
           AND ($13::int8 IS NULL OR sequence < $13)
         ORDER BY sequence DESC LIMIT $14"
    );
    filtered(&sql, tenant, filter)
        .bind(before)
        .bind(limit)
        .fetch_all(pool)
        .await
}

/// Newest first: the events of these types that no acknowledgement names.
pub async fn unacknowledged(
    pool: &PgPool,
    tenant: &str,
    event_types: &[String],
    limit: i64,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM audit.events e WHERE tenant = $1 AND action = ANY($2)
           AND NOT EXISTS (SELECT 1 FROM audit.events a
                            WHERE a.tenant = e.tenant AND a.aggregate_id = e.event_id::text
                              AND a.aggregate_type = 'acknowledgement')
         ORDER BY sequence DESC LIMIT $3"
    ))
    .bind(tenant)
    .bind(event_types)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// The tenant's event with this id.
pub async fn get(
    pool: &PgPool,
    tenant: &str,
    event_id: uuid::Uuid,
) -> Result<Option<AuditRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM audit.events WHERE tenant = $1 AND event_id = $2"
    ))
    .bind(tenant)
    .bind(event_id)
    .fetch_optional(pool)
    .await
}

/// Every matching row, oldest first, as a stream: exports do not hold a range in memory.
pub fn export<'a>(
    pool: &'a PgPool,
    sql: &'a str,
    tenant: &'a str,
    filter: &'a AuditFilter,
) -> futures::stream::BoxStream<'a, Result<AuditRow, sqlx::Error>> {
    filtered(sql, tenant, filter).fetch(pool)
}

pub fn export_sql() -> String {
    format!("SELECT {COLUMNS} FROM audit.events WHERE {FILTER} ORDER BY sequence")
}
