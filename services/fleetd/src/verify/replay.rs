//! `fleetd verify replay`: every read model rebuilt from its stream, beside the live tables,
//! and compared with them table by table. The live projections must have caught up with their
//! stream (nothing is being written), or the comparison could only fail.

use std::time::Duration;

use fleet_events::EventLog;
use fleet_projections::rebuild::{Rebuild, RebuildReport};
use fleet_projections::{checkpoint, Projection, ProjectionMetrics, Source};
use prometheus_client::registry::Registry;
use sqlx::PgPool;

use crate::config::Config;

/// How long the live projections may take to reach the end of their streams.
const CATCH_UP: Duration = Duration::from_secs(60);

pub async fn run(config: &Config) -> Result<(), Box<dyn std::error::Error>> {
    let pool = config.migrated_database().await?;
    let streams = config.streams(config.nats().await?).await?;
    let rebuild = Rebuild {
        pool: pool.clone(),
        streams,
        metrics: ProjectionMetrics::register(&mut Registry::default()),
    };
    let mut tables = 0;
    let mut differing = Vec::new();
    for source in [Source::Domain, Source::Usage] {
        let group: Vec<_> = fleet_projections::all()
            .into_iter()
            .filter(|p| p.source() == source)
            .collect();
        let last = rebuild.streams.of(source).last_sequence().await?;
        wait_for_live(&pool, &group, last).await?;
        let names: Vec<&'static str> = group.iter().map(|p| p.name()).collect();
        // Up to the stream's end, so the rebuilt tables are kept aside, not swapped in.
        let reports = rebuild
            .run_together(group, Some(last), true, |_, _| {})
            .await?;
        let compared = compare_and_discard(&pool, &names, &reports).await?;
        tables += compared.tables;
        differing.extend(compared.differing);
        println!(
            "{}: {} read models rebuilt up to position {last}",
            source.as_str(),
            names.len()
        );
    }
    if differing.is_empty() {
        println!("replay: all {tables} tables identical to the live ones");
        Ok(())
    } else {
        Err(format!(
            "replay: {} of {tables} tables differ from a fresh replay: {}",
            differing.len(),
            differing.join(", ")
        )
        .into())
    }
}

async fn wait_for_live(
    pool: &PgPool,
    group: &[std::sync::Arc<dyn Projection>],
    last: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    for projection in group {
        if !checkpoint::wait_for(pool, projection.name(), last, CATCH_UP).await? {
            return Err(format!(
                "{} has not reached position {last}: stop writing and let it catch up first",
                projection.name()
            )
            .into());
        }
    }
    Ok(())
}

/// What a comparison of rebuilt read models with the live ones found.
pub(crate) struct Compared {
    pub tables: usize,
    /// `schema.table` of each table whose rows differ.
    pub differing: Vec<String>,
}

/// Compares each rebuilt read model (kept aside by a rebuild up to a position) with its live
/// one, table by table, then drops the rebuilt schema.
pub(crate) async fn compare_and_discard(
    pool: &PgPool,
    names: &[&'static str],
    reports: &[RebuildReport],
) -> Result<Compared, sqlx::Error> {
    let mut compared = Compared {
        tables: 0,
        differing: Vec::new(),
    };
    for (name, report) in names.iter().zip(reports) {
        for table in tables_of(pool, name).await? {
            compared.tables += 1;
            if !same_rows(pool, name, &report.schema, &table).await? {
                compared.differing.push(format!("{name}.{table}"));
            }
        }
        // A rebuild up to a position leaves the live schema alone; never drop that one.
        if report.schema != *name {
            sqlx::query(&format!("DROP SCHEMA {} CASCADE", report.schema))
                .execute(pool)
                .await?;
        }
    }
    Ok(compared)
}

async fn tables_of(pool: &PgPool, schema: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = $1 ORDER BY tablename",
    )
    .bind(schema)
    .fetch_all(pool)
    .await
}

/// Whether a table holds the same rows in both schemas: a digest of its rows in order.
async fn same_rows(
    pool: &PgPool,
    live: &str,
    rebuilt: &str,
    table: &str,
) -> Result<bool, sqlx::Error> {
    let digest = |schema: &str| {
        format!(
            "SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), ''))
             FROM {schema}.{table} t"
        )
    };
    let live: String = sqlx::query_scalar(&digest(live)).fetch_one(pool).await?;
    let rebuilt: String = sqlx::query_scalar(&digest(rebuilt)).fetch_one(pool).await?;
    Ok(live == rebuilt)
}
