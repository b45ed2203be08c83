//! `fleetd bench …`: throughput and latency programs. Each prints its figures beside the raw
//! ceilings of this machine measured in the same run: JetStream publish with per-subject
//! expected sequence at the same concurrency, and batched PostgreSQL inserts.
//!
//! A bench runs against its own namespace and database, on an in-process server, and removes
//! both when done.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, context::PublishErrorKind, message::PublishMessage, stream};
use bytes::Bytes;
use clap::Subcommand;
use fleet_api::auth::{create_api_key, Role};
use fleet_events::{Namespace, Tenant};
use fleet_projections::rebuild::Rebuild;
use fleet_projections::ProjectionMetrics;
use prometheus_client::registry::Registry;
use serde_json::json;
use sqlx::migrate::MigrateDatabase;
use sqlx::{PgPool, Postgres};

use crate::config::Config;
use crate::serve::{self, ServeOptions};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Drive instances through their lifecycle (7 commands each) over HTTP.
    Commands {
        #[arg(long, default_value_t = 2000)]
        instances: usize,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
    },
}

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

const LIFECYCLE: usize = 7;

pub async fn run(config: &Config, command: BenchCommand) -> BenchResult<()> {
    match command {
        BenchCommand::Commands {
            instances,
            concurrency,
        } => {
            let scratch = Scratch::new(config)?;
            let result = commands(&scratch.config, instances, concurrency.max(1)).await;
            scratch.remove().await;
            result
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

async fn commands(config: &Config, instances: usize, concurrency: usize) -> BenchResult<()> {
    let total = (instances * LIFECYCLE) as u64;
    println!(
        "fleetd bench commands: {instances} instances x {LIFECYCLE} commands = {total} commands, {concurrency} concurrent clients"
    );
    let running = serve::start(
        config,
        ServeOptions {
            listen: "127.0.0.1:0".into(),
            projectors: true,
            process_managers: true,
            read_wait: Duration::from_secs(30),
            scheduler_interval: Duration::from_secs(5),
            webhooks: Default::default(),
        },
    )
    .await?;
    let pool = config.database().await?;
    let nats = config.nats().await?;

    let publish_ceiling = raw_publish(&nats, &config.namespace, instances, concurrency).await?;
    let insert_ceiling = raw_insert(&pool, total as usize).await?;

    let (_, key) = create_api_key(&pool, &Tenant::parse("bench")?, Role::Admin, None).await?;
    let base = format!("http://{}", running.addr);
    let subscription_id = bench_subscription(&base, &key).await?;
    let started = Instant::now();
    let (latencies, last_position) =
        drive_lifecycles(&base, &key, &subscription_id, instances, concurrency).await?;
    let elapsed = started.elapsed();
    let done = Instant::now();
    fleet_projections::checkpoint::wait_for(
        &pool,
        fleet_projections::inventory::NAME,
        last_position,
        Duration::from_secs(120),
    )
    .await?;
    let projector_tail = done.elapsed();
    running.stop().await;

    // Projector throughput: rebuild the inventory from 0 with the same engine.
    let streams = config.streams(nats.clone()).await?;
    let rebuild = Rebuild {
        pool: pool.clone(),
        streams,
        metrics: ProjectionMetrics::register(&mut Registry::default()),
    };
    let rebuild_started = Instant::now();
    let report = rebuild
        .run(
            fleet_projections::by_name(fleet_projections::inventory::NAME)
                .ok_or("no inventory projection")?,
            None,
            true,
            |_, _| {},
        )
        .await?;
    let projector_rate = report.position as f64 / rebuild_started.elapsed().as_secs_f64();
    pool.close().await;

    let command_rate = latencies.len() as f64 / elapsed.as_secs_f64();
    let (p50, p99) = percentiles(latencies);
    println!();
    println!(
        "raw ceiling  JetStream publish, expected subject seq, {concurrency} concurrent: {publish_ceiling:>9.0} msg/s"
    );
    println!(
        "raw ceiling  PostgreSQL batched insert (UNNEST, 1000 rows/tx):        {insert_ceiling:>9.0} rows/s"
    );
    println!(
        "end to end   commands over HTTP:                                   {command_rate:>9.0} cmd/s  ({:.0}% of raw publish)  p50 {:.2} ms  p99 {:.2} ms",
        100.0 * command_rate / publish_ceiling,
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
    println!(
        "projector    inventory catch-up (rebuild from 0):                  {projector_rate:>9.0} events/s  ({:.0}% of raw insert)",
        100.0 * projector_rate / insert_ceiling
    );
    println!(
        "projector    behind the last command by {:.0} ms when the load stopped",
        projector_tail.as_secs_f64() * 1e3
    );
    Ok(())
}

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

/// A customer with an uncapped subscription to create the instances under.
async fn bench_subscription(base: &str, key: &str) -> BenchResult<String> {
    let client = reqwest::Client::new();
    let customer: serde_json::Value = client
        .post(format!("{base}/v1/customers"))
        .bearer_auth(key)
        .json(&json!({"name": "Bench", "country": "PT", "email": "bench@example.com"}))
        .send()
        .await?
        .json()
        .await?;
    let subscription: serde_json::Value = client
        .post(format!("{base}/v1/subscriptions"))
        .bearer_auth(key)
        .json(
            &json!({"customer_id": customer["id"], "service_id": "s-bench",
                      "plan_id": "p-standard", "terms": "paid", "marketplace": "aws"}),
        )
        .send()
        .await?
        .json()
        .await?;
    subscription["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no subscription: {subscription}").into())
}

/// Runs each instance through create, ready, stop, start, restart, capacity, delete.
async fn drive_lifecycles(
    base: &str,
    key: &str,
    subscription_id: &str,
    instances: usize,
    concurrency: usize,
) -> BenchResult<(Vec<Duration>, u64)> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let last_position = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, next, last_position) = (client.clone(), next.clone(), last_position.clone());
        let (base, auth) = (base.to_owned(), format!("Bearer {key}"));
        let subscription_id = subscription_id.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < instances {
                let mut id = String::new();
                for step in 0..LIFECYCLE {
                    let request = match step {
                        0 => client.post(format!("{base}/v1/instances")).json(&json!({
                            "service_id": "s-bench", "plan_id": "p-standard", "cloud_provider": "aws",
                            "region": "us-east-1", "deployment_cell": "hc-1", "instance_type": "m5.large",
                            "capacity": 1, "environment_type": "PROD",
                            "subscription_id": subscription_id})),
                        1 => client.post(format!("{base}/v1/instances/{id}/ready")),
                        2 => client.post(format!("{base}/v1/instances/{id}/stop")),
                        3 => client.post(format!("{base}/v1/instances/{id}/start")),
                        4 => client.post(format!("{base}/v1/instances/{id}/restart")),
                        5 => client
                            .post(format!("{base}/v1/instances/{id}/capacity"))
                            .json(&json!({"delta": 1})),
                        _ => client.delete(format!("{base}/v1/instances/{id}")),
                    };
                    let started = Instant::now();
                    let response = request.header("authorization", &auth).send().await?;
                    let status = response.status();
                    let body: serde_json::Value = response.json().await?;
                    latencies.push(started.elapsed());
                    if !status.is_success() {
                        return Err(format!("step {step}: {status} {body}").into());
                    }
                    if step == 0 {
                        id = body["id"].as_str().unwrap_or_default().to_owned();
                    }
                    let position = body["position"].as_u64().unwrap_or(0);
                    last_position.fetch_max(position, Ordering::Relaxed);
                }
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await?.map_err(|e| e.to_string())?);
    }
    Ok((latencies, last_position.load(Ordering::Relaxed)))
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
