//! `fleetd bench cost-queries`: a year of daily cost (one fact per instance per day) and
//! usage for a fleet, loaded straight into the read models, then every report timed over HTTP.

use std::time::{Duration, Instant};

use super::server::BenchServer;
use super::{ms, percentiles, BenchResult, Table};

/// Every view's p99 should stay under this.
const GOAL_MS: f64 = 50.0;
use crate::config::Config;

pub async fn run(config: &Config, instances: usize, days: usize, runs: usize) -> BenchResult<()> {
    println!("fleetd bench cost-queries: {instances} instances x {days} days of cost ({} facts), usage of {} subscriptions, {runs} runs a query, the first one cold", instances * days, instances / 10);
    let server = BenchServer::start(config).await?;
    let (base, key) = (server.base.clone(), server.key.clone());
    let pool = config.database().await?;
    let loading = Instant::now();
    // Generated inside PostgreSQL: the bench measures the queries, not the loading. Day by
    // day, as the projection writes them (the lateral reference makes the days the outer loop).
    sqlx::query(
        "INSERT INTO cost.facts
         SELECT 'bench', 'f' || i || '-' || d, date '2026-11-24' - $2::int + d, 'i-' || i, 'i-' || i,
                (array['aws', 'gcp', 'azure'])[1 + i % 3], 'r-' || (i % 12), 'hc-' || (i % 40),
                (array['PROD', 'DEV'])[1 + i % 2], 'm5.large', 'c-' || (i % 1000),
                24, 1 + (i % 100) * 0.01, 'EUR', 'runtime'
         FROM generate_series(0, $2::int - 1) d, LATERAL generate_series(0, $1 - 1 + 0 * d) i",
    )
    .bind(instances as i64)
    .bind(days as i64)
    .execute(&pool)
    .await?;
    // The roll-ups the projection keeps as it applies facts, in the order it writes them:
    // a day's facts arrive together, so the rows of a day sit together on disk.
    for rollup in [
        "INSERT INTO cost.cells_daily SELECT tenant, day, environment_type, cloud_provider, region,
             deployment_cell, sum(cost) FROM cost.facts GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 2",
        "INSERT INTO cost.cells_monthly SELECT tenant, date_trunc('month', day::timestamp)::date,
             environment_type, cloud_provider, region, deployment_cell, sum(cost)
             FROM cost.facts GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 2",
        "INSERT INTO cost.customers_daily SELECT tenant, day, environment_type, customer_id, sum(cost)
             FROM cost.facts GROUP BY 1, 2, 3, 4 ORDER BY 2",
        "INSERT INTO cost.customers_monthly SELECT tenant, date_trunc('month', day::timestamp)::date,
             environment_type, customer_id, sum(cost) FROM cost.facts GROUP BY 1, 2, 3, 4 ORDER BY 2",
        "INSERT INTO cost.instances_monthly SELECT tenant, date_trunc('month', day::timestamp)::date,
             environment_type, cloud_provider, region, deployment_cell, customer_id, instance_id, sum(cost)
             FROM cost.facts GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 2",
    ] {
        sqlx::query(rollup).execute(&pool).await?;
    }
    sqlx::query(
        "INSERT INTO usage.daily
         SELECT 'bench', 's-' || s, 'c-' || (s % 1000), p, 'aws', 'proj-' || (s % 7),
                date '2025-11-24' + d, 10 + s % 5
         FROM generate_series(0, $1 - 1) s, generate_series(0, 364) d,
              unnest(array['instance_hours', 'egress-gb']) p",
    )
    .bind((instances / 10).max(1) as i64)
    .execute(&pool)
    .await?;
    // What autovacuum does shortly after a bulk load: the visibility map and hint bits set,
    // the statistics gathered. Without it the first report to read a roll-up paid for setting
    // the hint bits of every row it touched.
    sqlx::query("VACUUM ANALYZE").execute(&pool).await?;
    println!("loaded in {:.1}s", loading.elapsed().as_secs_f64());

    // The usage queries need a subscription the inventory knows.
    sqlx::query(
        "INSERT INTO inventory.subscriptions (id, tenant, customer_id, service_id, plan_id, terms,
             marketplace, max_instances, status, created_at, updated_at, version)
         VALUES ('00000000-0000-7000-8000-000000000001', 'bench', 'c-1', 's', 'p', 'paid', 'aws', -1,
             'active', now(), now(), 0)",
    )
    .execute(&pool)
    .await?;
    sqlx::query("UPDATE usage.daily SET subscription_id = '00000000-0000-7000-8000-000000000001' WHERE subscription_id = 's-1'")
        .execute(&pool)
        .await?;
    pool.close().await;

    let window = "start=2025-11-24&end=2026-11-23";
    let subscription = "00000000-0000-7000-8000-000000000001";
    let queries = [
        (
            "cost by cloud provider, a year, daily",
            format!("/v1/cost/cloud-provider?{window}&environment_type=PROD"),
        ),
        (
            "cost by region, a year, monthly",
            format!("/v1/cost/region?{window}&frequency=monthly"),
        ),
        (
            "cost by deployment cell, a year, monthly",
            format!("/v1/cost/deployment-cell?{window}&frequency=monthly&environment_type=PROD"),
        ),
        (
            "cost by cell, top 10 instances, a month",
            "/v1/cost/deployment-cell?start=2026-10-01&end=2026-10-31&top_instances=10".to_owned(),
        ),
        (
            "cost by user, top 10 users, a year",
            format!("/v1/cost/user?{window}&top_users=10"),
        ),
        (
            "cost of 3 instances, a year, daily",
            format!("/v1/cost/deployment-cell?{window}&include_instances=i-1,i-2,i-3"),
        ),
        (
            "usage of a subscription, a month",
            format!("/v1/subscriptions/{subscription}/usage?start=2026-10-01&end=2026-10-31"),
        ),
        (
            "usage per day of a subscription, a year",
            format!("/v1/subscriptions/{subscription}/usage/daily?{window}"),
        ),
    ];
    let http = reqwest::Client::new();
    let mut table = Table::default();
    for (name, path) in queries {
        let mut latencies: Vec<Duration> = Vec::with_capacity(runs);
        for _ in 0..runs {
            let started = Instant::now();
            let response = http
                .get(format!("{base}{path}"))
                .bearer_auth(&key)
                .send()
                .await?;
            let status = response.status();
            let _ = response.bytes().await?;
            latencies.push(started.elapsed());
            if !status.is_success() {
                return Err(format!("{path}: {status}").into());
            }
        }
        let cold = latencies[0];
        let (p50, p99) = percentiles(latencies);
        table.row(
            &format!("{name}, p99 (ms)"),
            format!("{:.1}", ms(p99)),
            "goal",
            format!("{GOAL_MS:.0}"),
            Some(ms(p99) / GOAL_MS),
        );
        table.row(
            "  p50, and the first run cold (ms)",
            format!("{:.1}", ms(p50)),
            "cold",
            format!("{:.1}", ms(cold)),
            None,
        );
    }
    let memory = server.stop().await;
    table.peak_memory(memory);
    println!();
    table.print();
    Ok(())
}
