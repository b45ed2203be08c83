//! `fleetd bench …`: throughput and latency programs. Each prints its figures beside the raw
//! ceilings of this machine measured in the same run: JetStream publish with per-subject
//! expected sequence at the same concurrency, and batched PostgreSQL inserts.
//!
//! A bench runs against its own namespace and database, with `fleetd serve` in a process of its
//! own, and removes both when done.

mod billing;
mod commands;
mod cost_queries;
mod peer;
mod replay;
mod server;
mod usage;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, context::PublishErrorKind, message::PublishMessage, stream};
use bytes::Bytes;
use clap::Subcommand;
use fleet_events::Namespace;
use sqlx::migrate::MigrateDatabase;
use sqlx::{PgPool, Postgres};

use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Drive instances through their lifecycle (7 commands each) over HTTP.
    Commands {
        #[arg(long, default_value_t = 2000)]
        instances: usize,
        /// Concurrent clients: one run at each level.
        #[arg(long, value_delimiter = ',', default_value = "8,32")]
        concurrency: Vec<usize>,
        /// The peer's binary (`target/peer-cqrs-es/release/peer-cqrs-es`), run at the same
        /// levels in the same sitting.
        #[arg(long)]
        peer: Option<std::path::PathBuf>,
    },
    /// Send usage batches over HTTP: records/s to acknowledgement, projector records/s, lag.
    Usage {
        #[arg(long, default_value_t = 40)]
        batches: usize,
        #[arg(long, default_value_t = 5000)]
        batch_size: usize,
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// Then hold this many records/s, paced, to time acknowledgement to counted.
        #[arg(long, default_value_t = 100_000)]
        sustained_rate: usize,
        #[arg(long, default_value_t = 10)]
        sustained_seconds: usize,
    },
    /// Generate invoices for customers with usage over HTTP, then stream a large billing report.
    Billing {
        #[arg(long, default_value_t = 200)]
        customers: usize,
        #[arg(long, default_value_t = 100_000)]
        report_invoices: usize,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// Write a large stream of instance lifecycles, project it live, then rebuild every read
    /// model from 0 and compare the rebuilt tables with the live ones.
    Replay {
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
    },
    /// Load years of daily cost and a year of usage for a fleet, then time each report.
    CostQueries {
        #[arg(long, default_value_t = 10_000)]
        instances: usize,
        /// Days of cost per instance: three years make 10M facts for 10k instances.
        #[arg(long, default_value_t = 1095)]
        days: usize,
        #[arg(long, default_value_t = 30)]
        runs: usize,
    },
}

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

const LIFECYCLE: usize = 7;

pub async fn run(config: &Config, command: BenchCommand) -> BenchResult<()> {
    let scratch = Scratch::new(config)?;
    let config = &scratch.config;
    let result = match command {
        BenchCommand::Commands {
            instances,
            concurrency,
            peer,
        } => {
            let levels: Vec<usize> = concurrency.into_iter().map(|c| c.max(1)).collect();
            commands::run(config, instances.max(1), &levels, peer.as_deref()).await
        }
        BenchCommand::Usage {
            batches,
            batch_size,
            concurrency,
            sustained_rate,
            sustained_seconds,
        } => {
            let load = usage::Load {
                batches,
                size: batch_size.clamp(1, 10_000),
                concurrency: concurrency.max(1),
                sustained_rate: sustained_rate.max(1),
                sustained_seconds,
            };
            usage::run(config, &load).await
        }
        BenchCommand::Billing {
            customers,
            report_invoices,
            concurrency,
        } => {
            billing::run(
                config,
                customers.max(1),
                report_invoices,
                concurrency.max(1),
            )
            .await
        }
        BenchCommand::Replay { events } => replay::run(config, events.max(1)).await,
        BenchCommand::CostQueries {
            instances,
            days,
            runs,
        } => cost_queries::run(config, instances.max(1), days.max(1), runs.max(1)).await,
    };
    scratch.remove().await;
    result
}

/// p50 and p99.
fn percentiles(mut latencies: Vec<Duration>) -> (Duration, Duration) {
    latencies.sort_unstable();
    let at = |q: usize| {
        latencies
            .get((latencies.len() * q / 100).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    (at(50), at(99))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The figures of a bench beside their ceilings or peer, with fleetd's figure divided by the
/// reference's (for a rate higher is better, for a latency or memory lower is).
#[derive(Default)]
struct Table {
    rows: Vec<[String; 5]>,
}

impl Table {
    fn row(
        &mut self,
        figure: &str,
        fleetd: String,
        reference: &str,
        reference_value: String,
        ratio: Option<f64>,
    ) {
        self.rows.push([
            figure.to_owned(),
            fleetd,
            reference.to_owned(),
            reference_value,
            ratio.map(|r| format!("{r:.2}x")).unwrap_or_default(),
        ]);
    }

    /// fleetd's peak resident memory beside the goal every bench keeps it under.
    fn peak_memory(&mut self, memory: server::Memory) {
        const GOAL_MIB: f64 = 200.0;
        self.row(
            "fleetd peak resident memory (MiB)",
            format!("{:.0}", memory.peak_mib),
            "goal",
            format!("{GOAL_MIB:.0}"),
            Some(memory.peak_mib / GOAL_MIB),
        );
    }

    fn print(&self) {
        let header = ["figure", "fleetd", "beside", "", "fleetd / beside"].map(str::to_owned);
        let rows: Vec<&[String; 5]> = std::iter::once(&header).chain(&self.rows).collect();
        let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
        let widths = [width(0), width(1), width(2), width(3)];
        for row in rows {
            println!(
                "{:<w0$}  {:>w1$}  {:<w2$}  {:>w3$}  {}",
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3],
            );
        }
    }
}

/// A namespace and database of the bench's own.
struct Scratch {
    config: Config,
}

impl Scratch {
    fn new(base: &Config) -> BenchResult<Self> {
        let suffix = format!("{:08x}", rand::random::<u32>());
        let mut config = base.clone();
        config.namespace = Namespace::parse(&format!("bench-{suffix}"))?;
        let (prefix, _) = base
            .database_url
            .rsplit_once('/')
            .ok_or("DATABASE_URL has no database name")?;
        config.database_url = format!("{prefix}/fleet_bench_{suffix}");
        Ok(Self { config })
    }

    async fn remove(self) {
        if let Ok(client) = self.config.nats().await {
            let context = jetstream::new(client);
            for stream in [
                self.config.namespace.domain_stream(),
                self.config.namespace.usage_stream(),
                raw_stream(&self.config.namespace),
            ] {
                let _ = context.delete_stream(stream).await;
            }
        }
        let _ = Postgres::force_drop_database(&self.config.database_url).await;
    }
}

fn raw_stream(namespace: &Namespace) -> String {
    format!("{}_RAW", namespace.domain_stream())
}

/// JetStream's ceiling for what a command does: publish with an expected subject sequence,
/// `concurrency` publishers, each owning its subjects, events of a realistic size.
async fn raw_publish(
    nats: &async_nats::Client,
    namespace: &Namespace,
    subjects: usize,
    concurrency: usize,
) -> BenchResult<f64> {
    let context = jetstream::new(nats.clone());
    let name = raw_stream(namespace);
    context
        .create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![format!("{namespace}-raw.>")],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await?;
    let payload = Bytes::from(vec![b'x'; 600]);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (context, next, payload) = (context.clone(), next.clone(), payload.clone());
        let prefix = format!("{namespace}-raw");
        tasks.push(tokio::spawn(async move {
            loop {
                let subject_index = next.fetch_add(1, Ordering::Relaxed);
                if subject_index >= subjects {
                    return Ok::<_, String>(());
                }
                let subject = format!("{prefix}.s.{subject_index}");
                let mut last = 0;
                for _ in 0..LIFECYCLE {
                    let message = PublishMessage::build()
                        .payload(payload.clone())
                        .message_id(uuid::Uuid::now_v7().to_string())
                        .expected_last_subject_sequence(last);
                    let ack = context
                        .send_publish(subject.clone(), message)
                        .await
                        .map_err(|e| e.to_string())?
                        .await;
                    match ack {
                        Ok(ack) => last = ack.sequence,
                        Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                            return Err("unexpected conflict".into())
                        }
                        Err(e) => return Err(e.to_string()),
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    let rate = (subjects * LIFECYCLE) as f64 / started.elapsed().as_secs_f64();
    context.delete_stream(&name).await?;
    Ok(rate)
}

/// PostgreSQL's ceiling for what a projector does: rows of similar width inserted with UNNEST
/// in batches of 1000, one transaction each, on one connection.
async fn raw_insert(pool: &PgPool, rows: usize) -> BenchResult<f64> {
    sqlx::query(
        "CREATE TABLE bench_raw_insert (id uuid PRIMARY KEY, tenant text, a text, b text, c text,
            d text, n bigint, at timestamptz, version bigint)",
    )
    .execute(pool)
    .await?;
    let mut conn = pool.acquire().await?;
    let started = Instant::now();
    let mut done = 0;
    while done < rows {
        let batch = (rows - done).min(1000);
        let ids: Vec<uuid::Uuid> = (0..batch).map(|_| uuid::Uuid::now_v7()).collect();
        let text: Vec<String> = (0..batch).map(|i| format!("value-{i}")).collect();
        let numbers: Vec<i64> = (0..batch as i64).collect();
        let times: Vec<chrono::DateTime<chrono::Utc>> = vec![chrono::Utc::now(); batch];
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::query(
            "INSERT INTO bench_raw_insert SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[],
                $4::text[], $5::text[], $6::text[], $7::int8[], $8::timestamptz[], $9::int8[])",
        )
        .bind(&ids)
        .bind(&text)
        .bind(&text)
        .bind(&text)
        .bind(&text)
        .bind(&text)
        .bind(&numbers)
        .bind(&times)
        .bind(&numbers)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        done += batch;
    }
    let rate = rows as f64 / started.elapsed().as_secs_f64();
    sqlx::query("DROP TABLE bench_raw_insert")
        .execute(pool)
        .await?;
    Ok(rate)
}
