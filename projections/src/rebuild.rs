//! Rebuilding a read model from sequence 0 while the current tables keep serving.
//!
//! The projection is built into a fresh schema `<name>__rebuild` under its own checkpoint.
//! When it has caught up with the stream, one transaction locks the live checkpoint row
//! (waiting for the live leader's batch in flight and holding off its next one), swaps the
//! schemas and hands the rebuilt position to the live checkpoint. The live leader sees the
//! checkpoint moved and continues from there on the new tables. An interrupted rebuild resumes
//! from its own checkpoint.

use std::sync::Arc;

use fleet_events::EventLog;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::engine::{EngineError, EngineSettings, Streams};
use crate::group::{GroupRunner, Member};
use crate::{checkpoint, Projection, ProjectionMetrics};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    /// The stream position the rebuilt tables reflect.
    pub position: u64,
    /// Whether an interrupted rebuild was resumed rather than started from 0.
    pub resumed: bool,
    /// Where the tables are: the live schema, or for a rebuild up to a past position a
    /// schema of their own (`inventory_at_1234`) that leaves the live tables alone.
    pub schema: String,
}

/// Rebuilds of one stream run in this many lanes side by side (see [`Rebuild::run_together`]).
const LANES: usize = 2;

pub struct Rebuild {
    pub pool: PgPool,
    pub streams: Streams,
    pub metrics: ProjectionMetrics,
}

impl Rebuild {
    /// Rebuilds `projection` up to the stream's end and swaps it in; or, up to a past position
    /// `until`, keeps it beside the live tables as `<name>_at_<position>` for inspection
    /// (swapping the past in would only make the live projector catch up again).
    /// `progress(position, target)` is called after each batch.
    pub async fn run(
        &self,
        projection: Arc<dyn Projection>,
        until: Option<u64>,
        fresh: bool,
        progress: impl FnMut(u64, u64) + Send,
    ) -> Result<RebuildReport, EngineError> {
        let mut reports = self
            .run_together(vec![projection], until, fresh, progress)
            .await?;
        Ok(reports.remove(0))
    }

    /// Rebuilds projections of one stream together: in a few lanes side by side, each lane
    /// reading the stream once for its members, decoding each event once and committing each
    /// batch in one transaction for all of them. Each keeps its own staging schema and
    /// checkpoint, so an interrupted rebuild resumes each from where it got to. Reports come
    /// in the order of `projections`; `progress` is called with the lowest position reached.
    pub async fn run_together(
        &self,
        projections: Vec<Arc<dyn Projection>>,
        until: Option<u64>,
        fresh: bool,
        mut progress: impl FnMut(u64, u64) + Send,
    ) -> Result<Vec<RebuildReport>, EngineError> {
        let Some(source) = projections.first().map(|p| p.source()) else {
            return Ok(Vec::new());
        };
        if projections.iter().any(|p| p.source() != source) {
            return Err(EngineError::Setup(
                "projections rebuilt together read one stream".into(),
            ));
        }
        let mut members = Vec::new();
        let mut resumed = Vec::new();
        let order: Vec<String> = projections
            .iter()
            .map(|p| format!("{}__rebuild", p.name()))
            .collect();
        for projection in projections {
            let staging = format!("{}__rebuild", projection.name());
            // An interrupted rebuild resumes, unless it is already past the position asked for.
            let reached: Option<i64> = sqlx::query_scalar(
                "SELECT position FROM projection_checkpoints WHERE projection = $1
                    AND EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            )
            .bind(&staging)
            .fetch_optional(&self.pool)
            .await?;
            let resumes = !fresh
                && reached.is_some_and(|reached| until.is_none_or(|until| reached as u64 <= until));
            if !resumes {
                discard_staging(&self.pool, &staging).await?;
            }
            resumed.push(resumes);
            members.push(Member {
                projection,
                schema: staging.clone(),
                checkpoint: staging,
                defer_reader_indexes: true,
            });
        }
        let log = self.streams.of(source).clone();
        // The members are spread over lanes that run side by side, each one reader and one
        // transaction per batch: a rebuild is bound by the database, which then works on as
        // many batches at once as there are lanes. Fewer lanes than members: each lane reads
        // the stream once more.
        let mut lanes: Vec<GroupRunner> = (0..LANES.min(members.len()))
            .map(|_| GroupRunner {
                members: Vec::new(),
                pool: self.pool.clone(),
                log: log.clone(),
                metrics: self.metrics.clone(),
                settings: EngineSettings::default().for_source(source),
            })
            .collect();
        let count = lanes.len();
        for (i, member) in members.into_iter().enumerate() {
            lanes[i % count].members.push(member);
        }
        let mut starts = Vec::new();
        for lane in &lanes {
            starts.push(lane.prepare().await?);
        }
        // The lowest position of each lane, for one figure of progress.
        let reached = std::sync::Mutex::new(vec![0; count]);
        let progress = std::sync::Mutex::new(&mut progress);
        let report = |lane: usize, position: u64, target: u64| {
            let mut reached = reached.lock().expect("progress lock");
            reached[lane] = position;
            let lowest = reached.iter().copied().min().unwrap_or(position);
            (progress.lock().expect("progress lock"))(lowest, target);
        };
        let caught_up = lanes
            .iter()
            .zip(starts)
            .enumerate()
            .map(|(i, (lane, start))| {
                let log = &log;
                let report = &report;
                async move {
                    let mut positions = start;
                    let (_keep_open, mut never) = watch::channel(false);
                    // The stream keeps growing while we build: chase its end until we are there.
                    loop {
                        let target = match until {
                            Some(until) => until,
                            None => log.last_sequence().await?,
                        };
                        let lowest = positions.iter().copied().min().unwrap_or(target);
                        report(i, lowest, target);
                        if lowest >= target {
                            break;
                        }
                        positions = lane
                            .follow(positions, Some(target), &mut never, |p| {
                                report(i, p, target)
                            })
                            .await?;
                    }
                    lane.create_reader_indexes().await?;
                    Ok::<_, EngineError>(positions)
                }
            });
        let positions = futures::future::try_join_all(caught_up).await?;
        let mut finished: Vec<(&Member, u64)> = lanes
            .iter()
            .zip(&positions)
            .flat_map(|(lane, positions)| lane.members.iter().zip(positions.iter().copied()))
            .collect();
        // Reports in the order of `projections`, which `resumed` follows.
        finished.sort_by_key(|(member, _)| order.iter().position(|n| *n == member.checkpoint));
        let mut reports = Vec::new();
        for ((member, position), resumed) in finished.into_iter().zip(resumed) {
            let name = member.projection.name();
            let schema = match until {
                None => {
                    swap_in(&self.pool, name, &member.schema, position).await?;
                    name.to_owned()
                }
                Some(_) => keep_aside(&self.pool, name, &member.schema, position).await?,
            };
            reports.push(RebuildReport {
                position,
                resumed,
                schema,
            });
        }
        Ok(reports)
    }
}

async fn discard_staging(pool: &PgPool, staging: &str) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {staging} CASCADE"))
        .execute(&mut *tx)
        .await?;
    for table in ["projection_checkpoints", "projection_parked"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE projection = $1"))
            .bind(staging)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

async fn keep_aside(
    pool: &PgPool,
    name: &str,
    staging: &str,
    position: u64,
) -> Result<String, sqlx::Error> {
    let kept = format!("{name}_at_{position}");
    let mut tx = pool.begin().await?;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {kept} CASCADE"))
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!("ALTER SCHEMA {staging} RENAME TO {kept}"))
        .execute(&mut *tx)
        .await?;
    for table in ["projection_checkpoints", "projection_parked"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE projection = $1"))
            .bind(staging)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(kept)
}

async fn swap_in(
    pool: &PgPool,
    name: &str,
    staging: &str,
    position: u64,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    checkpoint::ensure(&mut tx, name).await?;
    checkpoint::lock(&mut tx, name).await?;
    let retired = format!("{name}__retired");
    let statements = [
        format!("DROP SCHEMA IF EXISTS {retired} CASCADE"),
        format!("ALTER SCHEMA {name} RENAME TO {retired}"),
        format!("ALTER SCHEMA {staging} RENAME TO {name}"),
        format!("DROP SCHEMA {retired} CASCADE"),
    ];
    let live_exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
    for (i, statement) in statements.iter().enumerate() {
        // Without live tables (a first build) there is nothing to retire.
        if !live_exists && i != 2 {
            continue;
        }
        sqlx::query(statement).execute(&mut *tx).await?;
    }
    checkpoint::store(&mut tx, name, position).await?;
    sqlx::query("DELETE FROM projection_parked WHERE projection = $1")
        .bind(name)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE projection_parked SET projection = $1 WHERE projection = $2")
        .bind(name)
        .bind(staging)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM projection_checkpoints WHERE projection = $1")
        .bind(staging)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}
