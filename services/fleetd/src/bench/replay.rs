//! `fleetd bench replay`: a large stream of instance lifecycles, projected live by `fleetd
//! serve`, then every read model rebuilt from 0 (one pass over each stream, as `fleetd replay
//! all` does) beside the ceiling of reading the stream in order; and the rebuilt tables
//! compared with the live ones, table by table.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, message::PublishMessage};
use bytes::Bytes;
use fleet_app::command_bus::{new_event, CommandMeta};
use fleet_domain::instance::{Instance, InstanceCommand, InstanceSpec};
use fleet_domain::Aggregate;
use fleet_events::jetstream::{HEADER_AGGREGATE_TYPE, HEADER_EVENT_TYPE, HEADER_TENANT};
use fleet_events::{Actor, DomainEvent, Tenant};
use fleet_projections::rebuild::Rebuild;
use fleet_projections::{ProjectionMetrics, Source};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use prometheus_client::registry::Registry;

use super::server::BenchServer;
use super::{BenchResult, Table, LIFECYCLE};
use crate::config::Config;
use crate::verify::replay::compare_and_discard;

/// Publishes in flight at once while the stream is written.
const IN_FLIGHT: usize = 4096;
/// The goal for a million events.
const GOAL_SECONDS_PER_MILLION: f64 = 30.0;

pub async fn run(config: &Config, events: usize) -> BenchResult<()> {
    let instances = events.div_ceil(LIFECYCLE).max(1);
    let total = instances * LIFECYCLE;
    println!("fleetd bench replay: {instances} instances x {LIFECYCLE} events = {total} events, projected live, then every read model rebuilt");
    let pool = config.database().await?;
    let nats = config.nats().await?;
    // Projections only: process managers would add their own facts and commands.
    let server = BenchServer::start_without_process_managers(config).await?;

    let written = Instant::now();
    let last = write_lifecycles(&nats, config, instances).await?;
    let write_rate = total as f64 / written.elapsed().as_secs_f64();
    let domain: Vec<_> = fleet_projections::all()
        .into_iter()
        .filter(|p| p.source() == Source::Domain)
        .collect();
    for projection in &domain {
        let caught_up = fleet_projections::checkpoint::wait_for(
            &pool,
            projection.name(),
            last,
            Duration::from_secs(600),
        )
        .await?;
        if !caught_up {
            return Err(format!("the live {} did not catch up", projection.name()).into());
        }
    }
    let live_took = written.elapsed();
    let memory = server.stop().await;

    let read_ceiling = ordered_read(&nats, config, last).await?;

    let streams = config.streams(nats.clone()).await?;
    let rebuild = Rebuild {
        pool: pool.clone(),
        streams,
        metrics: ProjectionMetrics::register(&mut Registry::default()),
    };
    let bar = ProgressBar::new(last).with_style(
        ProgressStyle::with_template(
            "{msg:>8} [{bar:40}] {pos}/{len} events ({per_sec}, eta {eta})",
        )?
        .progress_chars("=> "),
    );
    bar.set_message("replay");
    let names: Vec<&'static str> = domain.iter().map(|p| p.name()).collect();
    let started = Instant::now();
    // Up to the last position, so the rebuilt tables stay beside the live ones to compare.
    let reports = rebuild
        .run_together(domain, Some(last), true, |position, _| {
            bar.set_position(position)
        })
        .await?;
    let replay_took = started.elapsed();
    bar.finish_and_clear();
    let replay_rate = last as f64 / replay_took.as_secs_f64();

    let compared = compare_and_discard(&pool, &names, &reports).await?;
    pool.close().await;

    let mut figures = Table::default();
    figures.row(
        "events written, pipelined (events/s)",
        format!("{write_rate:.0}"),
        "",
        String::new(),
        None,
    );
    figures.row(
        "live projections caught up after (s)",
        format!("{:.1}", live_took.as_secs_f64()),
        "",
        String::new(),
        None,
    );
    figures.row(
        "replay of every read model (events/s)",
        format!("{replay_rate:.0}"),
        "ordered read of the stream",
        format!("{read_ceiling:.0}"),
        Some(replay_rate / read_ceiling),
    );
    let seconds_per_million = replay_took.as_secs_f64() * 1e6 / last as f64;
    figures.row(
        "replay, seconds per million events",
        format!("{seconds_per_million:.1}"),
        "goal",
        format!("{GOAL_SECONDS_PER_MILLION:.0}"),
        Some(seconds_per_million / GOAL_SECONDS_PER_MILLION),
    );
    figures.peak_memory(memory);
    println!();
    figures.print();
    println!();
    if compared.differing.is_empty() {
        println!(
            "rebuilt tables: all {} identical to the live ones ({})",
            compared.tables,
            names.join(", ")
        );
        Ok(())
    } else {
        Err(format!(
            "rebuilt tables differ from the live ones: {}",
            compared.differing.join(", ")
        )
        .into())
    }
}

/// Writes each instance's lifecycle (create, ready, stop, start, restart, capacity, delete) as
/// the command path would record it, many publishes in flight; returns the last position.
async fn write_lifecycles(
    nats: &async_nats::Client,
    config: &Config,
    instances: usize,
) -> BenchResult<u64> {
    // The stream as the server created it.
    let context = jetstream::new(nats.clone());
    let tenant = Tenant::parse("bench")?;
    let meta = CommandMeta {
        tenant: tenant.clone(),
        actor: Actor::system("bench"),
        correlation_id: "bench-replay".into(),
        causation_id: None,
        idempotency_key: None,
    };
    let commands = |step: usize| match step {
        0 => InstanceCommand::Create {
            spec: Box::new(InstanceSpec {
                name: None,
                service_id: "s-bench".into(),
                plan_id: "p-standard".into(),
                cloud_provider: "aws".into(),
                region: "us-east-1".into(),
                deployment_cell: "hc-1".into(),
                instance_type: "m5.large".into(),
                environment_type: "PROD".into(),
                customer_id: None,
                subscription_id: None,
                restored_from: None,
                adopted: false,
                tier_version: None,
            }),
            capacity: 1,
        },
        1 => InstanceCommand::MarkReady,
        2 => InstanceCommand::Stop,
        3 => InstanceCommand::Start,
        4 => InstanceCommand::Restart,
        5 => InstanceCommand::ChangeCapacity { delta: 1 },
        _ => InstanceCommand::Delete,
    };
    let bar = ProgressBar::new((instances * LIFECYCLE) as u64).with_style(
        ProgressStyle::with_template("{msg:>8} [{bar:40}] {pos}/{len} events ({per_sec})")?
            .progress_chars("=> "),
    );
    bar.set_message("write");
    let mut acks = VecDeque::with_capacity(IN_FLIGHT);
    let mut last = 0;
    // Instances are interleaved a thousand at a time, as concurrent clients would write them.
    for chunk in (0..instances).collect::<Vec<_>>().chunks(1000) {
        let mut states: Vec<(String, Instance)> = chunk
            .iter()
            .map(|_| (uuid::Uuid::now_v7().to_string(), Instance::default()))
            .collect();
        for step in 0..LIFECYCLE {
            for (id, state) in &mut states {
                let event = state.decide(&commands(step))?;
                state.evolve(&event);
                let recorded = new_event(
                    &meta,
                    Instance::TYPE,
                    id,
                    event.to_parts(),
                    <Instance as Aggregate>::Event::SCHEMA_VERSION,
                );
                let message = PublishMessage::build()
                    .payload(Bytes::from(serde_json::to_vec(&recorded)?))
                    .message_id(recorded.event_id.to_string())
                    .header(HEADER_EVENT_TYPE, recorded.event_type.as_str())
                    .header(HEADER_TENANT, recorded.tenant.as_str())
                    .header(HEADER_AGGREGATE_TYPE, recorded.aggregate_type.as_str());
                let subject = config
                    .namespace
                    .aggregate_subject(&tenant, Instance::TYPE, id);
                if acks.len() == IN_FLIGHT {
                    let ack: jetstream::context::PublishAckFuture =
                        acks.pop_front().ok_or("no ack in flight")?;
                    last = last.max(ack.await?.sequence);
                    bar.inc(1);
                }
                acks.push_back(context.send_publish(subject, message).await?);
            }
        }
    }
    for ack in acks {
        last = last.max(ack.await?.sequence);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(last)
}

/// The ceiling of a replay: every message of the domain stream read in order by an ordered
/// consumer, without decoding.
async fn ordered_read(nats: &async_nats::Client, config: &Config, last: u64) -> BenchResult<f64> {
    use jetstream::consumer::{pull::OrderedConfig, DeliverPolicy};
    let stream = jetstream::new(nats.clone())
        .get_stream(config.namespace.domain_stream())
        .await?;
    let started = Instant::now();
    let mut messages = stream
        .create_consumer(OrderedConfig {
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await?
        .messages()
        .await?;
    let mut read = 0u64;
    while let Some(message) = messages.next().await {
        let message = message?;
        read += 1;
        if message.info().map_err(|e| e.to_string())?.stream_sequence >= last {
            break;
        }
    }
    Ok(read as f64 / started.elapsed().as_secs_f64())
}
