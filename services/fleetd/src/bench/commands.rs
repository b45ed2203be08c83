//! `fleetd bench commands`: instances through their lifecycle over HTTP, against `fleetd serve`
//! in a process of its own with every read model and process manager running; beside the raw
//! JetStream and PostgreSQL ceilings and, given `--peer`, the cqrs-es peer, all in one run.

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleet_projections::rebuild::Rebuild;
use fleet_projections::ProjectionMetrics;
use prometheus_client::registry::Registry;
use serde_json::json;

use super::peer::{self, PeerFigure};
use super::server::BenchServer;
use super::{ms, percentiles, raw_insert, raw_publish, BenchResult, Table, LIFECYCLE};
use crate::config::Config;

/// Instances driven one command at a time, for the latency of a command alone.
const SEQUENTIAL_INSTANCES: usize = 100;

pub async fn run(
    config: &Config,
    instances: usize,
    levels: &[usize],
    peer_binary: Option<&Path>,
) -> BenchResult<()> {
    let total = (instances * LIFECYCLE) as u64;
    println!(
        "fleetd bench commands: {instances} instances x {LIFECYCLE} commands = {total} commands at each of {levels:?} concurrent clients, and {} one at a time",
        SEQUENTIAL_INSTANCES * LIFECYCLE
    );
    let pool = config.database().await?;
    let nats = config.nats().await?;
    let mut table = Table::default();

    // The peer first, while nothing else runs: it has PostgreSQL to itself.
    let mut peers: Vec<(usize, Option<PeerFigure>)> = Vec::new();
    let mut peer_alone = None;
    if let Some(binary) = peer_binary {
        peer_alone = Some(peer::run(binary, SEQUENTIAL_INSTANCES, 1)?);
        for &c in levels {
            peers.push((c, Some(peer::run(binary, instances, c)?)));
        }
    }

    let server = BenchServer::start(config).await?;
    let subscription_id = bench_subscription(&server.base, &server.key).await?;

    let (alone, _) = drive_lifecycles(
        &server.base,
        &server.key,
        &subscription_id,
        SEQUENTIAL_INSTANCES,
        1,
    )
    .await?;
    let (alone_p50, alone_p99) = percentiles(alone);
    let raw_alone = raw_publish(&nats, &config.namespace, SEQUENTIAL_INSTANCES, 1).await?;
    table.row(
        "one command alone, p50 (ms)",
        format!("{:.2}", ms(alone_p50)),
        "raw publish alone",
        format!("{:.2}", 1e3 / raw_alone),
        Some(ms(alone_p50) / (1e3 / raw_alone)),
    );
    if let Some(peer) = &peer_alone {
        table.row(
            "one command alone, p50 (ms)",
            format!("{:.2}", ms(alone_p50)),
            "cqrs-es alone",
            format!("{:.2}", peer.p50_us / 1e3),
            Some(ms(alone_p50) / (peer.p50_us / 1e3)),
        );
    }
    table.row(
        "one command alone, p99 (ms)",
        format!("{:.2}", ms(alone_p99)),
        "",
        String::new(),
        None,
    );

    let mut last_position = 0;
    for &concurrency in levels {
        let publish_ceiling = raw_publish(&nats, &config.namespace, instances, concurrency).await?;
        let started = Instant::now();
        let (latencies, position) = drive_lifecycles(
            &server.base,
            &server.key,
            &subscription_id,
            instances,
            concurrency,
        )
        .await?;
        let rate = latencies.len() as f64 / started.elapsed().as_secs_f64();
        last_position = last_position.max(position);
        let (p50, p99) = percentiles(latencies);
        let figure = format!("commands/s, {concurrency} clients");
        table.row(
            &figure,
            format!("{rate:.0}"),
            "raw publish, expected seq",
            format!("{publish_ceiling:.0}"),
            Some(rate / publish_ceiling),
        );
        if let Some((_, Some(peer))) = peers.iter().find(|(c, _)| *c == concurrency) {
            table.row(
                &figure,
                format!("{rate:.0}"),
                "cqrs-es, in-process",
                format!("{:.0}", peer.rate),
                Some(rate / peer.rate),
            );
            table.row(
                &format!("  p99 (ms), {concurrency} clients"),
                format!("{:.2}", ms(p99)),
                "cqrs-es p99",
                format!("{:.2}", peer.p99_us / 1e3),
                Some(ms(p99) / (peer.p99_us / 1e3)),
            );
        } else {
            table.row(
                &format!("  p99 (ms), {concurrency} clients"),
                format!("{:.2}", ms(p99)),
                "",
                String::new(),
                None,
            );
        }
        table.row(
            &format!("  p50 (ms), {concurrency} clients"),
            format!("{:.2}", ms(p50)),
            "",
            String::new(),
            None,
        );
    }
    let done = Instant::now();
    fleet_projections::checkpoint::wait_for(
        &pool,
        fleet_projections::inventory::NAME,
        last_position,
        Duration::from_secs(120),
    )
    .await?;
    let projector_tail = done.elapsed();
    let memory = server.stop().await;
    table.row(
        "inventory behind the last command (ms)",
        format!("{:.0}", ms(projector_tail)),
        "",
        String::new(),
        None,
    );
    table.peak_memory(memory);

    // Projector throughput: rebuild the inventory from 0 with the same engine.
    let events = count_events(config).await?;
    let insert_ceiling = raw_insert(&pool, events.clamp(10_000, 200_000) as usize).await?;
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
    table.row(
        "inventory catch-up (events/s)",
        format!("{projector_rate:.0}"),
        "raw UNNEST insert (rows/s)",
        format!("{insert_ceiling:.0}"),
        Some(projector_rate / insert_ceiling),
    );
    println!();
    table.print();
    Ok(())
}

/// Events in the domain stream.
async fn count_events(config: &Config) -> BenchResult<u64> {
    let context = async_nats::jetstream::new(config.nats().await?);
    let mut stream = context.get_stream(config.namespace.domain_stream()).await?;
    Ok(stream.info().await?.state.messages)
}

/// A customer with an uncapped subscription to create the instances under.
pub(super) async fn bench_subscription(base: &str, key: &str) -> BenchResult<String> {
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
