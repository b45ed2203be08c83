//! What a fault left: acknowledged writes against the stream, the read models and a fresh
//! replay, and the table the suite prints.

use std::sync::atomic::Ordering;

use fleet_tests::TestApp;
use futures::StreamExt;

use crate::load::Load;

/// One kind of write after a fault, totals since its load began.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub acknowledged: u64,
    /// In the stream (an unacknowledged write may be there too: its answer was lost).
    pub stored: u64,
    /// Applied by the read model.
    pub counted: u64,
    /// Acknowledged but not in the stream.
    pub lost: u64,
    /// Requests (commands, or usage batches) refused with a 503 or left unanswered, and sent
    /// again.
    pub refused: u64,
}

pub struct Check {
    commands: Counts,
    usage: Counts,
    /// Read models whose counts differ from their stream (not exactly once).
    miscounted: Vec<String>,
    /// `fleetd verify replay`: Ok, or why not.
    replay: Result<(), String>,
    findings: Vec<String>,
}

impl Check {
    pub async fn take(app: &TestApp, load: &Load) -> Self {
        // The process managers first: what they append (instance hours, workflow steps) must be
        // in the streams before the replay reads to their ends.
        app.all_caught_up().await;
        let (ok, stdout, stderr) = app.fleetd_result(&["verify", "replay"]).await;
        let replay = if ok {
            Ok(())
        } else {
            Err(format!("{stdout}{stderr}").trim().to_owned())
        };
        let mut miscounted = Vec::new();
        let commands = command_counts(app, load, &mut miscounted).await;
        let usage = usage_counts(app, load, &mut miscounted).await;
        let findings = std::mem::take(&mut *load.tally.findings.lock().expect("findings"));
        Self {
            commands,
            usage,
            miscounted,
            replay,
            findings,
        }
    }
}

/// Capacity changes: each instance's events in the stream, against its capacity in the
/// inventory (1 to begin with, one more per change).
async fn command_counts(app: &TestApp, load: &Load, miscounted: &mut Vec<String>) -> Counts {
    let client = app.services.connect_nats().await.expect("nats");
    let stream = async_nats::jetstream::new(client)
        .get_stream(
            fleet_events::Namespace::parse(&app.namespace)
                .expect("namespace")
                .domain_stream(),
        )
        .await
        .expect("domain stream");
    let mut counts = Counts {
        refused: load.tally.refused_commands.load(Ordering::SeqCst),
        ..Default::default()
    };
    for (index, id) in load.instances.iter().enumerate() {
        let subject = format!("{}.acme.instance.{id}", app.namespace);
        let mut subjects = stream.info_with_subjects(&subject).await.expect("info");
        let mut events = 0u64;
        while let Some(entry) = subjects.next().await {
            events += entry.expect("subject count").1 as u64;
        }
        // Created and marked ready before the load began.
        let stored = events.saturating_sub(2);
        let row = app
            .get(&format!("/v1/instances/{id}"))
            .await
            .expect(200)
            .body;
        let counted = row["capacity"].as_u64().unwrap_or(0).saturating_sub(1);
        let acknowledged = load.tally.commands[index].load(Ordering::SeqCst);
        if counted != stored {
            miscounted.push(format!(
                "instance {id}: {stored} capacity changes in the stream, {counted} in the inventory"
            ));
        }
        counts.acknowledged += acknowledged;
        counts.stored += stored;
        counts.counted += counted;
        counts.lost += acknowledged.saturating_sub(stored);
    }
    counts
}

/// Usage records of the load's product (the instances' own hours are metered beside them):
/// the acknowledged ids found among the records, which a fresh replay of the usage stream
/// rebuilds identically, and the daily totals they add up to (one each).
async fn usage_counts(app: &TestApp, load: &Load, miscounted: &mut Vec<String>) -> Counts {
    let acknowledged = load.tally.usage.lock().expect("usage").clone();
    let pool = app.pool().await;
    let lost: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM unnest($1::text[]) AS a(id)
         WHERE NOT EXISTS (SELECT 1 FROM usage.records r WHERE r.tenant = 'acme' AND r.id = a.id)",
    )
    .bind(&acknowledged)
    .fetch_one(&pool)
    .await
    .expect("lost records");
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM usage.records
         WHERE tenant = 'acme' AND subscription_id = $1 AND product = 'vcpu-hour'",
    )
    .bind(&load.subscription_id)
    .fetch_one(&pool)
    .await
    .expect("stored records");
    let counted: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(quantity), 0)::bigint FROM usage.daily
         WHERE tenant = 'acme' AND subscription_id = $1 AND product = 'vcpu-hour'",
    )
    .bind(&load.subscription_id)
    .fetch_one(&pool)
    .await
    .expect("counted records");
    pool.close().await;
    if counted != stored {
        miscounted.push(format!(
            "usage: {stored} records, but the daily totals count {counted}"
        ));
    }
    Counts {
        acknowledged: acknowledged.len() as u64,
        stored: stored as u64,
        counted: counted as u64,
        lost: lost as u64,
        refused: load.tally.refused_batches.load(Ordering::SeqCst),
    }
}

struct Row {
    fault: String,
    check: Check,
    recovery: Option<f64>,
    running: bool,
}

#[derive(Default)]
pub struct Report {
    rows: Vec<Row>,
}

impl Report {
    pub fn push(&mut self, fault: &str, check: Check, recovery: Option<f64>, running: bool) {
        self.rows.push(Row {
            fault: fault.to_owned(),
            check,
            recovery,
            running,
        });
    }

    /// A Markdown table, as RELIABILITY.md keeps it.
    pub fn print(&self) {
        println!();
        println!("| fault | writes | acknowledged | stored | counted | lost | refused and sent again | recovery (s) | replay |");
        println!("|---|---|---:|---:|---:|---:|---:|---:|---|");
        for row in &self.rows {
            let recovery = row
                .recovery
                .map_or("none in 60 s".to_owned(), |s| format!("{s:.2}"));
            let replay = if row.check.replay.is_ok() {
                "identical"
            } else {
                "differs"
            };
            for (kind, counts) in [
                ("commands", row.check.commands),
                ("usage records", row.check.usage),
            ] {
                println!(
                    "| {} | {kind} | {} | {} | {} | {} | {} | {recovery} | {replay} |",
                    row.fault,
                    counts.acknowledged,
                    counts.stored,
                    counts.counted,
                    counts.lost,
                    counts.refused,
                );
            }
        }
        println!();
    }

    /// Fails on any loss, miscount, replay difference, wrong answer, crash or slow recovery.
    pub fn assert_nothing_lost(&self, recovery_limit: std::time::Duration) {
        let mut problems = Vec::new();
        for row in &self.rows {
            let check = &row.check;
            let fault = &row.fault;
            for (kind, counts) in [("commands", check.commands), ("usage", check.usage)] {
                if counts.lost > 0 {
                    problems.push(format!("{fault}: {} acknowledged {kind} lost", counts.lost));
                }
                if counts.acknowledged == 0 {
                    problems.push(format!("{fault}: no {kind} were acknowledged at all"));
                }
            }
            problems.extend(check.miscounted.iter().map(|m| format!("{fault}: {m}")));
            if let Err(why) = &check.replay {
                problems.push(format!("{fault}: {why}"));
            }
            problems.extend(check.findings.iter().map(|f| format!("{fault}: {f}")));
            if !row.running {
                problems.push(format!("{fault}: fleetd is no longer running"));
            }
            match row.recovery {
                Some(s) if s <= recovery_limit.as_secs_f64() => {}
                Some(s) => problems.push(format!(
                    "{fault}: ready after {s:.2} s, more than {} s",
                    recovery_limit.as_secs()
                )),
                None => problems.push(format!("{fault}: fleetd did not recover")),
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
