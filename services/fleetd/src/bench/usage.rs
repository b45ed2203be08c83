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

pub async fn run(
    config: &Config,
    batches: usize,
    size: usize,
    concurrency: usize,
) -> BenchResult<()> {
    let total = batches * size;
    println!("fleetd bench usage: {batches} batches x {size} records = {total} records, {concurrency} concurrent clients");
    let server = BenchServer::start(config).await?;
    let (base, key) = (server.base.clone(), server.key.clone());
    let pool = config.database().await?;
    let nats = config.nats().await?;
    let http = reqwest::Client::new();
    let subscription_id = bench_subscription(&base, &key).await?;
    let record = |b: usize, i: usize| {
        json!({"id": format!("b{b}-r{i}"), "subscription_id": subscription_id, "product": "instance_hours",
               "quantity": "1.5", "occurred_at": "2026-11-10T12:00:00Z", "project_id": "p-1", "provider_id": "aws"})
    };
    let bodies: Vec<Value> = (0..batches)
        .map(|b| json!({"records": (0..size).map(|i| record(b, i)).collect::<Vec<_>>()}))
        .collect();

    let publish_ceiling = raw_async_publish(&nats, config, &bodies, concurrency).await?;
    let insert_ceiling = raw_insert(&pool, total.min(200_000)).await?;

    // Acknowledged batches, and when each one's records were counted.
    let acknowledged: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    let watcher = {
        let (pool, acknowledged) = (pool.clone(), acknowledged.clone());
        tokio::spawn(async move {
            let mut lags = Vec::new();
            let mut done = 0;
            while done < batches {
                let position =
                    fleet_projections::checkpoint::read(&pool, fleet_projections::usage::NAME)
                        .await
                        .unwrap_or(0);
                let now = Instant::now();
                let acked = acknowledged.lock().expect("poisoned").clone();
                for (batch_position, at) in acked.iter().skip(done) {
                    if *batch_position > position {
                        break;
                    }
                    lags.push(now - *at);
                    done += 1;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            lags
        })
    };
    let next = Arc::new(AtomicUsize::new(0));
    let bodies = Arc::new(bodies);
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..concurrency {
        let (http, base, key, next, bodies, acknowledged) = (
            http.clone(),
            base.clone(),
            key.clone(),
            next.clone(),
            bodies.clone(),
            acknowledged.clone(),
        );
        clients.push(tokio::spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(index) else {
                    return Ok::<_, String>(());
                };
                let response = http
                    .post(format!("{base}/v1/usage"))
                    .bearer_auth(&key)
                    .json(body)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let at = Instant::now();
                let reply: Value = response.json().await.map_err(|e| e.to_string())?;
                if reply["accepted"].as_u64()
                    != Some(body["records"].as_array().map_or(0, |r| r.len()) as u64)
                {
                    return Err(format!("not all accepted: {reply}"));
                }
                let position = reply["position"].as_u64().unwrap_or(0);
                let mut acked = acknowledged.lock().expect("poisoned");
                acked.push((position, at));
                acked.sort_by_key(|(p, _)| *p);
            }
        }));
    }
    for client in clients {
        client.await??;
    }
    let ingest = total as f64 / started.elapsed().as_secs_f64();
    let lags = watcher.await?;
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
    let projector = total as f64 / rebuild_started.elapsed().as_secs_f64();
    pool.close().await;

    let (lag_p50, lag_p99) = percentiles(lags);
    let mut table = Table::default();
    table.row(
        "ingest over HTTP to durable ack (records/s)",
        format!("{ingest:.0}"),
        "raw async publish, 1,000 a message",
        format!("{publish_ceiling:.0}"),
        Some(ingest / publish_ceiling),
    );
    table.row(
        "ingest over HTTP to durable ack (records/s)",
        format!("{ingest:.0}"),
        "goal",
        "200000".into(),
        Some(ingest / 200_000.0),
    );
    table.row(
        "usage projector catch-up (records/s)",
        format!("{projector:.0}"),
        "raw UNNEST insert (rows/s)",
        format!("{insert_ceiling:.0}"),
        Some(projector / insert_ceiling),
    );
    table.row(
        "acknowledged to counted, p99 (ms)",
        format!("{:.1}", ms(lag_p99)),
        "goal",
        "1000".into(),
        Some(ms(lag_p99) / 1000.0),
    );
    table.row(
        "acknowledged to counted, p50 (ms)",
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
