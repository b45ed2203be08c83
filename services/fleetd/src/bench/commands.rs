//! `fleetd bench commands`: instances through their lifecycle over HTTP.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleet_projections::rebuild::Rebuild;
use fleet_projections::ProjectionMetrics;
use prometheus_client::registry::Registry;
use serde_json::json;

use super::{ms, percentiles, raw_insert, raw_publish, server, BenchResult, LIFECYCLE};
use crate::config::Config;

pub async fn run(config: &Config, instances: usize, concurrency: usize) -> BenchResult<()> {
    let total = (instances * LIFECYCLE) as u64;
    println!(
        "fleetd bench commands: {instances} instances x {LIFECYCLE} commands = {total} commands, {concurrency} concurrent clients"
    );
    let (running, base, key) = server(config).await?;
    let pool = config.database().await?;
    let nats = config.nats().await?;

    let publish_ceiling = raw_publish(&nats, &config.namespace, instances, concurrency).await?;
    let insert_ceiling = raw_insert(&pool, total as usize).await?;

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
        ms(p50),
        ms(p99)
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
