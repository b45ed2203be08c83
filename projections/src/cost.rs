//! The cost of operating the fleet: one fact per instance (or imported resource) per day, and
//! reports grouped by cloud provider, region, deployment cell or customer, daily or monthly,
//! with include/exclude filters and the most expensive instances of each group.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use async_trait::async_trait;
use chrono::{Datelike, NaiveDate};
use fleet_events::cost::{CostEvent, AGGREGATE_TYPE};
use fleet_events::EventEnvelope;
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::insert_once::{self, take_columns, Statement};
use crate::{ApplyError, Projection, Source};

pub const NAME: &str = "cost";

const DDL: &str = r#"
CREATE TABLE IF NOT EXISTS facts (
    tenant           text NOT NULL,
    id               text NOT NULL,
    day              date NOT NULL,
    instance_id      text,
    resource_id      text NOT NULL,
    cloud_provider   text NOT NULL,
    region           text NOT NULL,
    deployment_cell  text NOT NULL,
    environment_type text NOT NULL,
    instance_type    text NOT NULL,
    customer_id      text NOT NULL,
    hours            numeric NOT NULL,
    cost             numeric NOT NULL,
    currency         text NOT NULL,
    source           text NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX IF NOT EXISTS facts_by_day ON facts (tenant, day);
-- The facts summed for the reports that need less detail: per cell and day (provider,
-- region and cell views), per customer and day (the user view), and per instance and month
-- (top instances over whole months). A year of a large fleet is then thousands of rows.
CREATE TABLE IF NOT EXISTS cells_daily (
    tenant           text NOT NULL,
    day              date NOT NULL,
    environment_type text NOT NULL,
    cloud_provider   text NOT NULL,
    region           text NOT NULL,
    deployment_cell  text NOT NULL,
    cost             numeric NOT NULL,
    PRIMARY KEY (tenant, day, environment_type, cloud_provider, region, deployment_cell)
);
CREATE TABLE IF NOT EXISTS customers_daily (
    tenant           text NOT NULL,
    day              date NOT NULL,
    environment_type text NOT NULL,
    customer_id      text NOT NULL,
    cost             numeric NOT NULL,
    PRIMARY KEY (tenant, day, environment_type, customer_id)
);
-- Per cell and month: monthly provider, region and cell reports read whole months here and
-- the days of their partial months from `cells_daily`.
CREATE TABLE IF NOT EXISTS cells_monthly (
    tenant           text NOT NULL,
    month            date NOT NULL,
    environment_type text NOT NULL,
    cloud_provider   text NOT NULL,
    region           text NOT NULL,
    deployment_cell  text NOT NULL,
    cost             numeric NOT NULL,
    PRIMARY KEY (tenant, month, environment_type, cloud_provider, region, deployment_cell)
);
-- Read models made before this table existed get it filled once from the daily sums.
INSERT INTO cells_monthly
SELECT tenant, date_trunc('month', day::timestamp)::date, environment_type, cloud_provider,
    region, deployment_cell, sum(cost)
FROM cells_daily WHERE NOT EXISTS (SELECT 1 FROM cells_monthly)
GROUP BY 1, 2, 3, 4, 5, 6;
-- Per customer and month: the top customers of a long window are chosen from whole months
-- here and the days of its partial months from `customers_daily`.
CREATE TABLE IF NOT EXISTS customers_monthly (
    tenant           text NOT NULL,
    month            date NOT NULL,
    environment_type text NOT NULL,
    customer_id      text NOT NULL,
    cost             numeric NOT NULL,
    PRIMARY KEY (tenant, month, environment_type, customer_id)
);
-- Read models made before this table existed get it filled once from the daily sums.
INSERT INTO customers_monthly
SELECT tenant, date_trunc('month', day::timestamp)::date, environment_type, customer_id, sum(cost)
FROM customers_daily WHERE NOT EXISTS (SELECT 1 FROM customers_monthly)
GROUP BY 1, 2, 3, 4;
CREATE TABLE IF NOT EXISTS instances_monthly (
    tenant           text NOT NULL,
    month            date NOT NULL,
    environment_type text NOT NULL,
    cloud_provider   text NOT NULL,
    region           text NOT NULL,
    deployment_cell  text NOT NULL,
    customer_id      text NOT NULL,
    instance_id      text NOT NULL,
    cost             numeric NOT NULL,
    PRIMARY KEY (tenant, month, instance_id, environment_type, cloud_provider, region,
                 deployment_cell, customer_id)
);
"#;

/// Only the reports read by these, so a rebuild makes them once it has caught up.
const READER_INDEXES: &str = r#"
CREATE INDEX IF NOT EXISTS customers_daily_by_customer ON customers_daily (tenant, customer_id, day);
CREATE INDEX IF NOT EXISTS facts_by_instance ON facts (tenant, instance_id, day);
"#;

/// The facts of a batch, and what they add to each roll-up: only the rows inserted, so a fact
/// already counted adds nothing.
static INSERT_FACTS: LazyLock<Statement> = LazyLock::new(|| {
    Statement::new(
        "WITH counted AS (
             INSERT INTO facts (tenant, id, day, instance_id, resource_id, cloud_provider,
                 region, deployment_cell, environment_type, instance_type, customer_id, hours,
                 cost, currency, source)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::date[], $4::text[], $5::text[],
                 $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
                 $12::numeric[], $13::numeric[], $14::text[], $15::text[])
             {on_conflict}
             RETURNING tenant, day, environment_type, cloud_provider, region, deployment_cell,
                 customer_id, instance_id, cost),
         cells AS (
             INSERT INTO cells_daily
             SELECT tenant, day, environment_type, cloud_provider, region, deployment_cell, sum(cost)
             FROM counted GROUP BY 1, 2, 3, 4, 5, 6
             ON CONFLICT (tenant, day, environment_type, cloud_provider, region, deployment_cell)
             DO UPDATE SET cost = cells_daily.cost + EXCLUDED.cost),
         cell_months AS (
             INSERT INTO cells_monthly
             SELECT tenant, date_trunc('month', day::timestamp)::date, environment_type,
                 cloud_provider, region, deployment_cell, sum(cost)
             FROM counted GROUP BY 1, 2, 3, 4, 5, 6
             ON CONFLICT (tenant, month, environment_type, cloud_provider, region, deployment_cell)
             DO UPDATE SET cost = cells_monthly.cost + EXCLUDED.cost),
         customers AS (
             INSERT INTO customers_daily
             SELECT tenant, day, environment_type, customer_id, sum(cost)
             FROM counted GROUP BY 1, 2, 3, 4
             ON CONFLICT (tenant, day, environment_type, customer_id)
             DO UPDATE SET cost = customers_daily.cost + EXCLUDED.cost),
         customer_months AS (
             INSERT INTO customers_monthly
             SELECT tenant, date_trunc('month', day::timestamp)::date, environment_type, customer_id, sum(cost)
             FROM counted GROUP BY 1, 2, 3, 4
             ON CONFLICT (tenant, month, environment_type, customer_id)
             DO UPDATE SET cost = customers_monthly.cost + EXCLUDED.cost)
         INSERT INTO instances_monthly
         SELECT tenant, date_trunc('month', day::timestamp)::date, environment_type, cloud_provider, region,
             deployment_cell, customer_id, instance_id, sum(cost)
         FROM counted WHERE instance_id IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
         ON CONFLICT (tenant, month, instance_id, environment_type, cloud_provider, region,
             deployment_cell, customer_id)
         DO UPDATE SET cost = instances_monthly.cost + EXCLUDED.cost",
        "ON CONFLICT (tenant, id) DO NOTHING",
    )
});

pub struct Cost;

#[async_trait]
impl Projection for Cost {
    fn name(&self) -> &'static str {
        NAME
    }

    fn source(&self) -> Source {
        Source::Usage
    }

    fn ddl(&self) -> Vec<&'static str> {
        vec![DDL]
    }

    fn reader_indexes(&self) -> Vec<&'static str> {
        vec![READER_INDEXES]
    }

    fn handles(&self, aggregate_type: &str) -> bool {
        aggregate_type == AGGREGATE_TYPE
    }

    async fn apply(
        &self,
        tx: &mut PgConnection,
        events: &[EventEnvelope],
    ) -> Result<(), ApplyError> {
        let mut rows: Vec<(String, fleet_events::cost::CostFact)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for event in events {
            let CostEvent::CostRecorded { facts } = event.decode::<CostEvent>()?;
            for fact in facts {
                if seen.insert((event.event.tenant.clone(), fact.id.clone())) {
                    rows.push((event.event.tenant.clone(), fact));
                }
            }
        }
        if rows.is_empty() {
            return Ok(());
        }
        let tenants: Vec<String> = rows.iter_mut().map(|(t, _)| std::mem::take(t)).collect();
        take_columns!(rows, row => row.1;
            id, day, instance_id, resource_id, cloud_provider, region, deployment_cell,
            environment_type, instance_type, customer_id, hours, cost, currency, source);
        insert_once::insert(tx, &INSERT_FACTS, id.len(), |query| {
            query
                .bind(&tenants)
                .bind(&id)
                .bind(&day)
                .bind(&instance_id)
                .bind(&resource_id)
                .bind(&cloud_provider)
                .bind(&region)
                .bind(&deployment_cell)
                .bind(&environment_type)
                .bind(&instance_type)
                .bind(&customer_id)
                .bind(&hours)
                .bind(&cost)
                .bind(&currency)
                .bind(&source)
        })
        .await?;
        Ok(())
    }
}

// ---- reports ----

/// The dimension a report groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    CloudProvider,
    Region,
    DeploymentCell,
    /// The customer an instance belongs to (cost-api's "user").
    Customer,
}

impl View {
    fn key(self) -> &'static str {
        match self {
            View::CloudProvider => "cloud_provider",
            View::Region => "cloud_provider || '/' || region",
            View::DeploymentCell => "cloud_provider || '/' || region || '/' || deployment_cell",
            View::Customer => "customer_id",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct IdFilter {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ReportQuery {
    pub start: NaiveDate,
    /// Exclusive.
    pub end: NaiveDate,
    pub environment_type: Option<String>,
    pub monthly: bool,
    pub cloud_providers: IdFilter,
    pub regions: IdFilter,
    pub deployment_cells: IdFilter,
    pub instances: IdFilter,
    pub customers: IdFilter,
    pub top_instances: Option<i64>,
    pub top_groups: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Point {
    pub date: NaiveDate,
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    pub cost: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct InstanceCost {
    pub instance_id: String,
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    pub total_cost: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Group {
    pub key: String,
    #[schemars(with = "fleet_events::schemas::DecimalString")]
    pub total_cost: Decimal,
    pub series: Vec<Point>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instances: Option<Vec<InstanceCost>>,
}

/// The conditions every report applies, with the same parameters ($1..$14) whichever table it
/// reads; a table without a column neutralises that column's conditions (they must then be
/// empty, which the caller checks when it picks the table).
fn filters(day: &str, cells: bool, customers: bool, instances: bool) -> String {
    filters_within(
        &format!("{day} >= $2 AND {day} < $3"),
        cells,
        customers,
        instances,
    )
}

/// [`filters`] with the date condition given whole (`range`).
fn filters_within(range: &str, cells: bool, customers: bool, instances: bool) -> String {
    let unused =
        |a: u8, b: u8| format!("cardinality(${a}::text[]) >= 0 AND cardinality(${b}::text[]) >= 0");
    let cell_filters = if cells {
        "(cardinality($5::text[]) = 0 OR cloud_provider = ANY($5)) AND NOT (cloud_provider = ANY($6))
         AND (cardinality($7::text[]) = 0 OR region = ANY($7)) AND NOT (region = ANY($8))
         AND (cardinality($9::text[]) = 0 OR deployment_cell = ANY($9)) AND NOT (deployment_cell = ANY($10))"
            .to_owned()
    } else {
        format!(
            "{} AND {} AND {}",
            unused(5, 6),
            unused(7, 8),
            unused(9, 10)
        )
    };
    let instance_filters = if instances {
        "(cardinality($11::text[]) = 0 OR instance_id = ANY($11))
         AND NOT (coalesce(instance_id, '') = ANY($12))"
            .to_owned()
    } else {
        unused(11, 12)
    };
    let customer_filters = if customers {
        "(cardinality($13::text[]) = 0 OR customer_id = ANY($13)) AND NOT (customer_id = ANY($14))"
            .to_owned()
    } else {
        unused(13, 14)
    };
    format!(
        "tenant = $1 AND {range} AND ($4::text IS NULL OR environment_type = $4)
         AND {cell_filters} AND {instance_filters} AND {customer_filters}"
    )
}

fn is_empty(filter: &IdFilter) -> bool {
    filter.include.is_empty() && filter.exclude.is_empty()
}

macro_rules! bind_filters {
    ($query:expr, $tenant:expr, $q:expr) => {
        $query
            .bind($tenant)
            .bind($q.start)
            .bind($q.end)
            .bind(&$q.environment_type)
            .bind(&$q.cloud_providers.include)
            .bind(&$q.cloud_providers.exclude)
            .bind(&$q.regions.include)
            .bind(&$q.regions.exclude)
            .bind(&$q.deployment_cells.include)
            .bind(&$q.deployment_cells.exclude)
            .bind(&$q.instances.include)
            .bind(&$q.instances.exclude)
            .bind(&$q.customers.include)
            .bind(&$q.customers.exclude)
    };
}

pub async fn report(
    pool: &PgPool,
    tenant: &str,
    view: View,
    query: &ReportQuery,
) -> Result<Vec<Group>, sqlx::Error> {
    let bucket = if query.monthly {
        "date_trunc('month', day::timestamp)::date"
    } else {
        "day"
    };
    let key = view.key();
    // Top customers: pick them first, then fetch only their series.
    let mut narrowed;
    let query = match (view, query.top_groups) {
        (View::Customer, Some(n)) if is_empty(&query.instances) => {
            // Monthly sums, corrected by the fewest days (see `Split`).
            let split = Split::fewest_days(query.start, query.end);
            let monthly = filters_within("month >= $16 AND month < $17", false, true, false);
            let daily = filters_within(
                "((day >= $18 AND day < $19) OR (day >= $20 AND day < $21))",
                false,
                true,
                false,
            );
            let top: Vec<String> = bind_filters!(
                sqlx::query_scalar(&format!(
                    "SELECT customer_id FROM (
                         SELECT customer_id, cost FROM cost.customers_monthly WHERE {monthly}
                         UNION ALL
                         SELECT customer_id,
                                CASE WHEN day >= $2 AND day < $3 THEN cost ELSE -cost END
                         FROM cost.customers_daily WHERE {daily}) sums
                     GROUP BY 1 ORDER BY sum(cost) DESC, 1 LIMIT $15"
                )),
                tenant,
                query
            )
            .bind(n as i64)
            .bind(split.months.0)
            .bind(split.months.1)
            .bind(split.days[0].0)
            .bind(split.days[0].1)
            .bind(split.days[1].0)
            .bind(split.days[1].1)
            .fetch_all(pool)
            .await?;
            narrowed = query.clone();
            narrowed.customers.include = top;
            if narrowed.customers.include.is_empty() {
                return Ok(Vec::new());
            }
            &narrowed
        }
        _ => query,
    };
    let cell_filters = !(is_empty(&query.cloud_providers)
        && is_empty(&query.regions)
        && is_empty(&query.deployment_cells));
    let instance_filters = !is_empty(&query.instances);
    let customer_filters = !is_empty(&query.customers);
    // The smallest table that answers the question, with the columns it has (cells,
    // customers, instances) and, where one is kept, its monthly sums.
    let (daily, months, (cells, customers, instances)) = match view {
        _ if instance_filters => ("cost.facts", None, (true, true, true)),
        View::Customer if !cell_filters => (
            "cost.customers_daily",
            Some("cost.customers_monthly"),
            (false, true, false),
        ),
        View::Customer => ("cost.facts", None, (true, true, true)),
        _ if !customer_filters => (
            "cost.cells_daily",
            Some("cost.cells_monthly"),
            (true, false, false),
        ),
        _ => ("cost.facts", None, (true, true, true)),
    };
    let months = months.filter(|_| query.monthly);
    let sql = match months {
        // Whole months from the monthly sums, the days of partial months from the daily.
        Some(months) => {
            let (whole, partial) = whole_months_and_partial_days(cells, customers, instances);
            format!(
                "SELECT key, bucket, sum(cost) FROM (
                     SELECT {key} AS key, month AS bucket, cost FROM {months} WHERE {whole}
                     UNION ALL
                     SELECT {key}, {bucket}, cost FROM {daily} WHERE {partial}) sums
                 GROUP BY 1, 2 ORDER BY 1, 2"
            )
        }
        None => format!(
            "SELECT {key} AS key, {bucket} AS bucket, sum(cost) FROM {daily}
             WHERE {} GROUP BY 1, 2 ORDER BY 1, 2",
            filters("day", cells, customers, instances)
        ),
    };
    let mut series_query = bind_filters!(sqlx::query_as(&sql), tenant, query);
    if months.is_some() {
        let (first_month, last_month) = whole_months(query.start, query.end);
        series_query = series_query.bind(first_month).bind(last_month);
    }
    // The top instances are fetched beside the series, on a connection of their own.
    let top = async {
        match query.top_instances {
            Some(n) => top_instances(pool, tenant, key, query, n).await.map(Some),
            None => Ok(None),
        }
    };
    let (series, top): (Vec<(String, NaiveDate, Decimal)>, _) =
        tokio::try_join!(series_query.fetch_all(pool), top)?;
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for (key, date, cost) in series {
        let group = groups.entry(key.clone()).or_insert_with(|| Group {
            key,
            total_cost: Decimal::ZERO,
            series: Vec::new(),
            instances: None,
        });
        group.total_cost += cost;
        group.series.push(Point { date, cost });
    }
    if let Some(rows) = top {
        for group in groups.values_mut() {
            group.instances = Some(Vec::new());
        }
        for (key, instance_id, total_cost) in rows {
            if let Some(Some(instances)) = groups.get_mut(&key).map(|g| g.instances.as_mut()) {
                instances.push(InstanceCost {
                    instance_id,
                    total_cost,
                });
            }
        }
    }
    let mut groups: Vec<Group> = groups.into_values().collect();
    if let Some(n) = query.top_groups {
        groups.sort_by(|a, b| b.total_cost.cmp(&a.total_cost).then(a.key.cmp(&b.key)));
        groups.truncate(n);
    }
    Ok(groups)
}

/// The `n` most expensive instances of each group, by group key.
async fn top_instances(
    pool: &PgPool,
    tenant: &str,
    key: &str,
    query: &ReportQuery,
    n: i64,
) -> Result<Vec<(String, String, Decimal)>, sqlx::Error> {
    // Each instance's sum: whole months from the monthly per-instance sums, the days of
    // partial months from the facts.
    let (first_month, last_month) = whole_months(query.start, query.end);
    let (whole, partial) = whole_months_and_partial_days(true, true, true);
    let mut rows: Vec<(String, String, Decimal)> = bind_filters!(
        sqlx::query_as(&format!(
            "SELECT {key} AS key, instance_id, sum(cost) FROM (
                 SELECT cloud_provider, region, deployment_cell, customer_id, instance_id, cost
                 FROM cost.instances_monthly WHERE {whole}
                 UNION ALL
                 SELECT cloud_provider, region, deployment_cell, customer_id, instance_id, cost
                 FROM cost.facts WHERE {partial} AND instance_id IS NOT NULL) sums
             GROUP BY 1, 2"
        )),
        tenant,
        query
    )
    .bind(first_month)
    .bind(last_month)
    .fetch_all(pool)
    .await?;
    // The most expensive of each group are picked here rather than by a window in SQL:
    // PostgreSQL's sorts of every instance by its text key took most of the query's time.
    rows.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.2.cmp(&a.2)).then(a.1.cmp(&b.1)));
    let mut taken = 0;
    let mut previous: Option<String> = None;
    rows.retain(|(key, _, _)| {
        if previous.as_deref() != Some(key.as_str()) {
            previous = Some(key.clone());
            taken = 0;
        }
        taken += 1;
        taken <= n
    });
    Ok(rows)
}

/// The first day of a month on or after `day`.
fn month_on_or_after(day: NaiveDate) -> NaiveDate {
    if day.day() == 1 {
        day
    } else {
        day.with_day(1)
            .and_then(|first| first.checked_add_months(chrono::Months::new(1)))
            .unwrap_or(day)
    }
}

/// A window's sums read as monthly sums corrected by days: the months `[from, to)` of
/// `months`, plus each day of `days` inside the window, minus each one outside it. At each end
/// of the window a partial month is either left out of `months` and its days inside added, or
/// taken whole and its days outside subtracted, whichever reads fewer days: a year from the
/// 24th of a month to the 23rd a year later reads 15 days instead of 29.
#[derive(Debug, PartialEq)]
struct Split {
    months: (NaiveDate, NaiveDate),
    days: [(NaiveDate, NaiveDate); 2],
}

impl Split {
    fn fewest_days(start: NaiveDate, end: NaiveDate) -> Split {
        let first_of = |day: NaiveDate| day.with_day(1).unwrap_or(day);
        let next_month = |day: NaiveDate| {
            first_of(day)
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(day)
        };
        let days = |(from, to): (NaiveDate, NaiveDate)| (to - from).num_days();
        let (first_whole, last_whole) = whole_months(start, end);
        // The whole months around the window: from the first of `start`'s month to the first
        // of the month after the window's last day.
        let outer = (
            first_of(start),
            if end.day() == 1 { end } else { next_month(end) },
        );
        if first_whole >= last_whole
            && end > start
            && first_of(start) == first_of(end - chrono::Days::new(1))
        {
            // One partial month: its days inside, or the month less the days around them.
            let inside = (start, end);
            let around = [(outer.0, start), (end, outer.1)];
            return if days(around[0]) + days(around[1]) < days(inside) {
                Split {
                    months: outer,
                    days: around,
                }
            } else {
                Split {
                    months: (end, end),
                    days: [inside, (end, end)],
                }
            };
        }
        let (from, left) = if days((outer.0, start)) < days((start, first_whole)) {
            (outer.0, (outer.0, start))
        } else {
            (first_whole, (start, first_whole))
        };
        let (to, right) = if days((end, outer.1)) < days((last_whole, end)) {
            (outer.1, (end, outer.1))
        } else {
            (last_whole, (last_whole, end))
        };
        Split {
            months: (from, to),
            days: [left, right],
        }
    }
}

/// The conditions of a window read as its whole months (from a monthly table) and the days of
/// its partial months (from a daily one), with the months of [`whole_months`] bound as $15
/// and $16.
fn whole_months_and_partial_days(
    cells: bool,
    customers: bool,
    instances: bool,
) -> (String, String) {
    (
        filters_within("month >= $15 AND month < $16", cells, customers, instances),
        filters_within(
            "((day >= $2 AND day < $15) OR (day >= $16 AND day < $3))",
            cells,
            customers,
            instances,
        ),
    )
}

/// The months wholly inside `[start, end)`, as `[first, last)` (both `end` when there are none).
fn whole_months(start: NaiveDate, end: NaiveDate) -> (NaiveDate, NaiveDate) {
    let first = month_on_or_after(start);
    let last = end.with_day(1).unwrap_or(end).max(first);
    (first.min(end), last.min(end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_months_are_the_months_inside_the_window() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let cases = [
            (("2025-11-24", "2026-11-23"), ("2025-12-01", "2026-11-01")),
            (("2026-10-01", "2026-11-01"), ("2026-10-01", "2026-11-01")),
            (("2026-10-05", "2026-10-20"), ("2026-10-20", "2026-10-20")),
            (("2026-10-05", "2026-11-01"), ("2026-11-01", "2026-11-01")),
            (("2026-10-01", "2026-10-15"), ("2026-10-01", "2026-10-01")),
        ];
        for ((start, end), (first, last)) in cases {
            assert_eq!(
                whole_months(d(start), d(end)),
                (d(first), d(last)),
                "{start}..{end}"
            );
        }
    }

    /// Every day counts once if it is inside the window and not at all otherwise, and no
    /// more days are read than the window's partial months have inside it.
    #[test]
    fn a_split_counts_each_day_of_the_window_once() {
        let first = NaiveDate::from_ymd_opt(2025, 12, 20).unwrap();
        let day = |n: u64| first + chrono::Days::new(n);
        let month = |d: NaiveDate| d.with_day(1).unwrap();
        let within = |d: NaiveDate, (from, to): (NaiveDate, NaiveDate)| d >= from && d < to;
        for a in 0..100 {
            for b in a + 1..101 {
                let (start, end) = (day(a), day(b));
                let split = Split::fewest_days(start, end);
                for n in 0..160 {
                    let d = day(n).checked_sub_days(chrono::Days::new(20)).unwrap();
                    let inside = within(d, (start, end));
                    let mut count = i32::from(within(month(d), split.months));
                    for range in split.days {
                        if within(d, range) {
                            count += if inside { 1 } else { -1 };
                        }
                    }
                    assert_eq!(count, i32::from(inside), "{d} in {start}..{end}: {split:?}");
                }
                let (first_whole, last_whole) = whole_months(start, end);
                let inside_only = if first_whole >= last_whole {
                    (end - start).num_days()
                } else {
                    (first_whole - start).num_days() + (end - last_whole).num_days()
                };
                let read: i64 = split.days.iter().map(|(f, t)| (*t - *f).num_days()).sum();
                assert!(
                    read <= inside_only,
                    "{start}..{end} reads {read} > {inside_only}"
                );
            }
        }
    }
}
