//! `fleetd bench usage`: usage batches over HTTP, beside the raw ceilings of JetStream async
//! publishing (records in messages of 1,000, as the ingest sends them) and of batched
//! PostgreSQL inserts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use fleet_projections::rebuild::Rebuild;
use fleet_projections::ProjectionMetrics;
use prometheus_client::registry::Registry;
use serde_json::{json, Value};

use super::commands::bench_subscription;
use super::server::BenchServer;
use super::{ms, percentiles, raw_insert, raw_stream, BenchResult, Table};
use crate::config::Config;

/// What `fleetd bench usage` sends: a burst of `batches`, then a paced phase.
pub struct Load {
    pub batches: usize,
    pub size: usize,
    pub concurrency: usize,
    /// Records/s offered in the paced phase.
    pub sustained_rate: usize,
    pub sustained_seconds: usize,
}

pub async fn run(config: &Config, load: &Load) -> BenchResult<()> {
    let Load {
        batches,
        size,
        concurrency,
        sustained_rate,
        sustained_seconds,
    } = *load;
    let total = batches * size;
    println!("fleetd bench usage: {batches} batches x {size} records = {total} records, {concurrency} concurrent clients; then {sustained_rate} records/s for {sustained_seconds}s");
    let server = BenchServer::start(config).await?;
    let (base, key) = (server.base.clone(), server.key.clone());
    let pool = config.database().await?;
    let nats = config.nats().await?;
    let subscription_id = bench_subscription(&base, &key).await?;
    // A batch of `size` records whose ids start with `name`.
    let batch = |name: String| {
        let records: Vec<Value> = (0..size)
            .map(|i| json!({"id": format!("{name}-r{i}"), "subscription_id": subscription_id,
                "product": "instance_hours", "quantity": "1.5", "occurred_at": "2026-11-10T12:00:00Z",
                "project_id": "p-1", "provider_id": "aws"}))
            .collect();
        json!({ "records": records })
    };
    let serialize = |body: &Value| Ok(Bytes::from(serde_json::to_vec(body)?));
    let bodies: Vec<Value> = (0..batches).map(|b| batch(format!("b{b}"))).collect();

    let publish_ceiling = raw_async_publish(&nats, config, &bodies, concurrency).await?;
    let insert_ceiling = raw_insert(&pool, total.min(200_000)).await?;

    let client = Client {
        http: reqwest::Client::new(),
        base: base.clone(),
        key: key.clone(),
        pool: pool.clone(),
        concurrency,
        size,
    };
    let serialized = bodies
        .iter()
        .map(serialize)
        .collect::<BenchResult<Vec<_>>>()?;
    drop(bodies);
    let burst = client.ingest(serialized, None).await?;

    // The paced phase: one batch every `size / rate` seconds, each serialized beforehand.
    let paced_batches = (sustained_rate * sustained_seconds).div_ceil(size);
    let paced = (0..paced_batches)
        .map(|b| serialize(&batch(format!("s{b}"))))
        .collect::<BenchResult<Vec<_>>>()?;
    let interval = Duration::from_secs_f64(size as f64 / sustained_rate as f64);
    let sustained = client.ingest(paced, Some(interval)).await?;
    let memory = server.stop().await;

    let streams = config.streams(nats.clone()).await?;
    let rebuild = Rebuild {
        pool: pool.clone(),
        streams,
        metrics: ProjectionMetrics::register(&mut Registry::default()),
    };
    let rebuild_started = Instant::now();
    let projection =
        fleet_projections::by_name(fleet_projections::usage::NAME).ok_or("no usage projection")?;
    rebuild.run(projection, None, true, |_, _| {}).await?;
    let counted = total + paced_batches * size;
    let projector = counted as f64 / rebuild_started.elapsed().as_secs_f64();
    pool.close().await;

    let mut table = Table::default();
    table.row(
        "ingest over HTTP to durable ack (records/s)",
        format!("{:.0}", burst.rate),
        "raw async publish, 1,000 a message",
        format!("{publish_ceiling:.0}"),
        Some(burst.rate / publish_ceiling),
    );
    table.row(
        "ingest over HTTP to durable ack (records/s)",
        format!("{:.0}", burst.rate),
        "goal",
        "200000".into(),
        Some(burst.rate / 200_000.0),
    );
    table.row(
        "usage projector catch-up (records/s)",
        format!("{projector:.0}"),
        "raw UNNEST insert (rows/s)",
        format!("{insert_ceiling:.0}"),
        Some(projector / insert_ceiling),
    );
    let (lag_p50, lag_p99) = percentiles(burst.lags);
    table.row(
        "burst: acknowledged to counted, p99 (ms)",
        format!("{:.1}", ms(lag_p99)),
        "p50 (ms)",
        format!("{:.1}", ms(lag_p50)),
        None,
    );
    table.row(
        "paced: records/s reached",
        format!("{:.0}", sustained.rate),
        "offered",
        format!("{sustained_rate}"),
        Some(sustained.rate / sustained_rate as f64),
    );
    let (lag_p50, lag_p99) = percentiles(sustained.lags);
    table.row(
        "paced: acknowledged to counted, p99 (ms)",
        format!("{:.1}", ms(lag_p99)),
        "goal",
        "1000".into(),
        Some(ms(lag_p99) / 1000.0),
    );
    table.row(
        "paced: acknowledged to counted, p50 (ms)",
        format!("{:.1}", ms(lag_p50)),
        "",
        String::new(),
        None,
    );
    table.peak_memory(memory);
    println!();
    table.print();
    Ok(())
}

/// The bench's HTTP clients of `/v1/usage`.
struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
    pool: sqlx::PgPool,
    concurrency: usize,
    /// Records in each batch.
    size: usize,
}

/// What one phase of ingest reached.
struct Ingested {
    /// Records acknowledged per second, from the first send to the last acknowledgement.
    rate: f64,
    /// For each batch, how long after its acknowledgement the usage projection counted it.
    lags: Vec<Duration>,
}

impl Client {
    /// Posts each batch from `concurrency` clients; with `interval`, batch `n` is
    /// sent no earlier than `n × interval` after the start, so the load is offered at a rate
    /// rather than as fast as the server answers.
    async fn ingest(
        &self,
        bodies: Vec<Bytes>,
        interval: Option<Duration>,
    ) -> BenchResult<Ingested> {
        let batches = bodies.len();
        let (size, records) = (self.size, batches * self.size);
        // Each acknowledged batch's position and when it was acknowledged, until it is counted.
        let acknowledged: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
        let watcher = {
            let (pool, acknowledged) = (self.pool.clone(), acknowledged.clone());
            tokio::spawn(async move {
                let mut lags = Vec::new();
                while lags.len() < batches {
                    let position =
                        fleet_projections::checkpoint::read(&pool, fleet_projections::usage::NAME)
                            .await
                            .unwrap_or(0);
                    let now = Instant::now();
                    acknowledged
                        .lock()
                        .expect("poisoned")
                        .retain(|(batch_position, at)| {
                            let counted = *batch_position <= position;
                            if counted {
                                lags.push(now - *at);
                            }
                            !counted
                        });
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                lags
            })
        };
        let next = Arc::new(AtomicUsize::new(0));
        let bodies = Arc::new(bodies);
        let started = tokio::time::Instant::now();
        let mut clients = Vec::new();
        for _ in 0..self.concurrency {
            let (http, next, bodies, acknowledged) = (
                self.http.clone(),
                next.clone(),
                bodies.clone(),
                acknowledged.clone(),
            );
            let url = format!("{}/v1/usage", self.base);
            let key = self.key.clone();
            clients.push(tokio::spawn(async move {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(index) else {
                        return Ok::<_, String>(());
                    };
                    if let Some(interval) = interval {
                        tokio::time::sleep_until(started + interval * index as u32).await;
                    }
                    let response = http
                        .post(&url)
                        .bearer_auth(&key)
                        .header(reqwest::header::CONTENT_TYPE, "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .map_err(|e| e.to_string())?;
                    let at = Instant::now();
                    let reply: Value = response.json().await.map_err(|e| e.to_string())?;
                    if reply["accepted"].as_u64() != Some(size as u64) {
                        return Err(format!("not all accepted: {reply}"));
                    }
                    let position = reply["position"].as_u64().unwrap_or(0);
                    acknowledged.lock().expect("poisoned").push((position, at));
                }
            }));
        }
        for client in clients {
            client.await??;
        }
        let rate = records as f64 / started.elapsed().as_secs_f64();
        let lags = watcher.await?;
        Ok(Ingested { rate, lags })
    }
}

/// JetStream's ceiling for the ingest: the same records, in messages of 1,000, published
/// asynchronously by `concurrency` publishers.
async fn raw_async_publish(
    nats: &async_nats::Client,
    config: &Config,
    bodies: &[Value],
    concurrency: usize,
) -> BenchResult<f64> {
    let context = jetstream::new(nats.clone());
    let name = raw_stream(&config.namespace);
    context
        .create_stream(stream::Config {
            name: name.clone(),
            subjects: vec![format!("{}-raw.>", config.namespace)],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await?;
    let mut messages = Vec::new();
    for body in bodies {
        for chunk in body["records"].as_array().ok_or("records")?.chunks(1000) {
            messages.push((chunk.len(), Bytes::from(serde_json::to_vec(chunk)?)));
        }
    }
    let records: usize = messages.iter().map(|(n, _)| n).sum();
    let messages = Arc::new(messages);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (context, next, messages) = (context.clone(), next.clone(), messages.clone());
        let subject = format!("{}-raw.usage", config.namespace);
        tasks.push(tokio::spawn(async move {
            let mut acks = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some((_, payload)) = messages.get(index) else {
                    break;
                };
                let ack = context
                    .publish(subject.clone(), payload.clone())
                    .await
                    .map_err(|e| e.to_string())?;
                acks.push(ack);
            }
            for ack in acks {
                ack.await.map_err(|e| e.to_string())?;
            }
            Ok::<_, String>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let rate = records as f64 / started.elapsed().as_secs_f64();
    context.delete_stream(&name).await?;
    Ok(rate)
}
