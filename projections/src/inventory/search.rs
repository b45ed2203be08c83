//! Search across the inventory with PostgreSQL full-text search: instances, deployment cells,
//! subscriptions, users, snapshots, workflows and upgrade paths, each matched on its words
//! (ids, names, services, plans, regions, providers, states). Every word of the query must
//! match, as a prefix: `post east` finds a postgres instance in us-east-1.

use serde::Serialize;
use sqlx::PgPool;

/// Every kind of thing searched, as the `kind` of a [`Hit`].
pub const KINDS: &[&str] = &[
    "resourceinstance",
    "deploymentcell",
    "subscription",
    "user",
    "snapshot",
    "workflow",
    "upgradepath",
];

#[derive(Debug, Clone, Serialize, sqlx::FromRow, schemars::JsonSchema)]
pub struct Hit {
    pub kind: String,
    pub id: String,
    pub name: String,
    pub status: String,
    pub service_id: Option<String>,
    pub plan_id: Option<String>,
    pub cloud_provider: Option<String>,
    pub region: Option<String>,
    pub rank: f32,
}

/// A `to_tsquery` of the words, each a prefix; `None` when no word is left once
/// punctuation is set aside (nothing can match).
pub fn query_of(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(16)
        .map(|w| format!("{}:*", w.to_lowercase()))
        .collect();
    (!words.is_empty()).then(|| words.join(" & "))
}

/// The document of a row: its words, with the separators of ids and regions turned to spaces
/// so that `us-east-1` and `east` meet.
fn doc(columns: &[&str]) -> String {
    format!(
        "to_tsvector('simple', regexp_replace(concat_ws(' ', {}), '[^[:alnum:]]+', ' ', 'g'))",
        columns.join(", ")
    )
}

/// The hits of the query among `kinds` (all for `None`), best first, at most `limit` per kind;
/// `service_id` narrows to one service.
pub async fn search(
    pool: &PgPool,
    tenant: &str,
    text: &str,
    kinds: Option<&[&str]>,
    service_id: Option<&str>,
    limit: i64,
) -> Result<Vec<Hit>, sqlx::Error> {
    let Some(query) = query_of(text) else {
        return Ok(Vec::new());
    };
    let kinds: Vec<String> = kinds
        .unwrap_or(KINDS)
        .iter()
        .map(|k| (*k).to_owned())
        .collect();
    let sql = format!(
        "WITH q AS (SELECT to_tsquery('simple', $2) AS q),
         hits AS (
           SELECT 'resourceinstance' AS kind, i.id::text AS id, coalesce(i.name, i.instance_type) AS name,
                  i.status, i.service_id, i.plan_id, i.cloud_provider, i.region,
                  {instance} AS doc
             FROM inventory.instances i WHERE i.tenant = $1 AND 'resourceinstance' = ANY($3)
           UNION ALL
           SELECT 'deploymentcell', h.id, h.description, h.status, NULL, NULL, h.cloud_provider,
                  h.region, {cell}
             FROM inventory.host_clusters h WHERE h.tenant = $1 AND 'deploymentcell' = ANY($3)
           UNION ALL
           SELECT 'subscription', s.id::text, s.plan_id, s.status, s.service_id, s.plan_id, NULL,
                  NULL, {subscription}
             FROM inventory.subscriptions s WHERE s.tenant = $1 AND 'subscription' = ANY($3)
           UNION ALL
           SELECT 'user', u.id::text, u.name, u.status, NULL, NULL, NULL, NULL, {user}
             FROM inventory.users u WHERE u.tenant = $1 AND 'user' = ANY($3)
           UNION ALL
           SELECT 'snapshot', n.id::text, n.kind, n.status, n.service_id, n.plan_id, NULL,
                  n.region, {snapshot}
             FROM inventory.snapshots n WHERE n.tenant = $1 AND 'snapshot' = ANY($3)
           UNION ALL
           SELECT 'workflow', w.id::text, w.kind, w.status, w.service_id, w.plan_id,
                  w.cloud_provider, w.region, {workflow}
             FROM inventory.workflows w WHERE w.tenant = $1 AND 'workflow' = ANY($3)
           UNION ALL
           SELECT 'upgradepath', p.id::text, p.source_version || ' to ' || p.target_version,
                  p.status, p.service_id, p.plan_id, NULL, NULL, {path}
             FROM inventory.upgrade_paths p WHERE p.tenant = $1 AND 'upgradepath' = ANY($3)
         ),
         ranked AS (
           SELECT hits.*, ts_rank(doc, q.q) AS rank,
                  row_number() OVER (PARTITION BY kind ORDER BY ts_rank(doc, q.q) DESC, id) AS n
             FROM hits, q
            WHERE doc @@ q.q AND ($4::text IS NULL OR service_id = $4 OR kind IN ('user', 'deploymentcell'))
         )
         SELECT kind, id, name, status, service_id, plan_id, cloud_provider, region, rank
           FROM ranked WHERE n <= $5 ORDER BY kind, rank DESC, id",
        instance = doc(&["i.id::text", "i.name", "i.service_id", "i.plan_id", "i.cloud_provider", "i.region",
            "i.deployment_cell", "i.instance_type", "i.environment_type", "i.status"]),
        cell = doc(&["h.id", "h.description", "h.cloud_provider", "h.region", "h.status"]),
        subscription = doc(&["s.id::text", "s.service_id", "s.plan_id", "s.customer_id", "s.status"]),
        user = doc(&["u.id::text", "u.name", "u.email", "u.status"]),
        snapshot = doc(&["n.id::text", "n.source_instance_id", "n.service_id", "n.region", "n.kind", "n.status"]),
        workflow = doc(&["w.id::text", "w.kind", "w.instance_id", "w.service_id", "w.region", "w.status"]),
        path = doc(&["p.id::text", "p.service_id", "p.plan_id", "p.source_version", "p.target_version",
            "p.status"]),
    );
    sqlx::query_as(&sql)
        .bind(tenant)
        .bind(query)
        .bind(&kinds)
        .bind(service_id)
        .bind(limit)
        .fetch_all(pool)
        .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn queries_are_prefixes_of_every_word() {
        assert_eq!(
            super::query_of("Post  east-1").as_deref(),
            Some("post:* & east:* & 1:*")
        );
        assert_eq!(super::query_of("'&|!"), None);
    }
}
