//! The projection engine: runs the projections in groups, one group per stream and kind
//! (read models, process managers), each group with one reader of its stream and one leader
//! across every `fleetd` process. How a group applies a batch is in [`crate::group`].

use std::sync::Arc;
use std::time::Duration;

use fleet_events::jetstream::JetStreamLog;
use fleet_events::LogError;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::watch;

use crate::group::{GroupRunner, Member};
use crate::{ApplyError, Projection, ProjectionMetrics, Source};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("applying events: {0}")]
    Apply(ApplyError),
    #[error("the event stream ended")]
    StreamEnded,
    #[error("{0}")]
    Setup(String),
}

#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Most events applied in one transaction.
    pub batch_size: usize,
    /// How long to wait for a first event before the engine counts itself idle.
    pub idle_wait: Duration,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            idle_wait: Duration::from_millis(500),
        }
    }
}

/// A usage message carries up to 1,000 records: batches of this many messages keep a
/// transaction, and what is decoded ahead of it (one batch), to about ten thousand records:
/// a decoded record is a JSON tree, and memory, not speed, is what larger batches cost.
const USAGE_BATCH_MESSAGES: usize = 10;

impl EngineSettings {
    /// The settings for a group reading `source`.
    pub fn for_source(&self, source: Source) -> Self {
        match source {
            Source::Domain => self.clone(),
            Source::Usage => Self {
                batch_size: self.batch_size.min(USAGE_BATCH_MESSAGES),
                ..self.clone()
            },
        }
    }
}

/// The streams projections read: the domain stream and the usage stream.
#[derive(Clone)]
pub struct Streams {
    pub domain: JetStreamLog,
    pub usage: JetStreamLog,
}

impl Streams {
    pub fn of(&self, source: Source) -> &JetStreamLog {
        match source {
            Source::Domain => &self.domain,
            Source::Usage => &self.usage,
        }
    }
}

/// Runs every projection in the background, grouped by the stream they read.
pub struct ProjectionEngine {
    pub pool: PgPool,
    pub streams: Streams,
    pub metrics: ProjectionMetrics,
    pub settings: EngineSettings,
}

impl ProjectionEngine {
    fn runner(&self, source: Source, projections: &[Arc<dyn Projection>]) -> GroupRunner {
        GroupRunner {
            members: projections.iter().cloned().map(Member::live).collect(),
            log: self.streams.of(source).clone(),
            pool: self.pool.clone(),
            metrics: self.metrics.clone(),
            settings: self.settings.for_source(source),
        }
    }

    /// Creates every projection's tables, so that queries find them from the first request,
    /// whichever process leads the projection.
    pub async fn prepare(&self, projections: &[Arc<dyn Projection>]) -> Result<(), sqlx::Error> {
        for source in [Source::Domain, Source::Usage] {
            let of_source: Vec<_> = projections
                .iter()
                .filter(|p| p.source() == source)
                .cloned()
                .collect();
            self.runner(source, &of_source).prepare().await?;
        }
        Ok(())
    }

    /// Runs `projections` as one group per stream, named `<kind>-<stream>` for its leadership.
    pub fn spawn(
        &self,
        kind: &str,
        projections: Vec<Arc<dyn Projection>>,
        shutdown: watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        [Source::Domain, Source::Usage]
            .into_iter()
            .filter_map(|source| {
                let of_source: Vec<_> = projections
                    .iter()
                    .filter(|p| p.source() == source)
                    .cloned()
                    .collect();
                (!of_source.is_empty()).then(|| {
                    let group = format!("{kind}-{}", source.as_str());
                    tokio::spawn(lead(
                        group,
                        self.runner(source, &of_source),
                        shutdown.clone(),
                    ))
                })
            })
            .collect()
    }
}

/// Becomes the group's leader when its advisory lock is free, and runs it until shutdown or
/// until the lock's connection is lost. Other processes wait and take over.
async fn lead(group: String, runner: GroupRunner, mut shutdown: watch::Receiver<bool>) {
    let labels: Vec<_> = runner
        .members
        .iter()
        .map(|m| ProjectionMetrics::label(&m.checkpoint))
        .collect();
    let set_leader = |value: i64| {
        for label in &labels {
            runner.metrics.leader.get_or_create(label).set(value);
        }
    };
    while !*shutdown.borrow() {
        match try_lock(&runner.pool, &group).await {
            Ok(Some(mut lock)) => {
                tracing::info!(%group, "leading the projection group");
                set_leader(1);
                let result = tokio::select! {
                    result = run_leader(&runner, &mut shutdown) => result,
                    lost = watch_lock(&mut lock) => Err(lost),
                };
                set_leader(0);
                // Closing the connection releases the session-level advisory lock.
                let _ = lock.close().await;
                if let Err(e) = result {
                    tracing::error!(%group, error = %e, "projection group stopped; retrying");
                    sleep_or_shutdown(Duration::from_secs(1), &mut shutdown).await;
                }
            }
            Ok(None) => sleep_or_shutdown(Duration::from_secs(1), &mut shutdown).await,
            Err(e) => {
                tracing::warn!(%group, error = %e, "cannot reach PostgreSQL for the group's lock");
                sleep_or_shutdown(Duration::from_secs(1), &mut shutdown).await;
            }
        }
    }
}

async fn run_leader(
    runner: &GroupRunner,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<u64, EngineError> {
    let positions = runner.prepare().await?;
    let positions = runner.follow(positions, None, shutdown, |_| {}).await?;
    Ok(positions.into_iter().min().unwrap_or(0))
}

fn lock_key(group: &str) -> String {
    format!("fleet-projection-group:{group}")
}

async fn try_lock(pool: &PgPool, group: &str) -> Result<Option<PgConnection>, sqlx::Error> {
    let mut conn = pool.acquire().await?.detach();
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
        .bind(lock_key(group))
        .fetch_one(&mut conn)
        .await?;
    if locked {
        Ok(Some(conn))
    } else {
        let _ = conn.close().await;
        Ok(None)
    }
}
/// Returns when the connection holding the lock stops answering.
async fn watch_lock(conn: &mut PgConnection) -> EngineError {
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        if let Err(e) = conn.ping().await {
            return EngineError::Database(e);
        }
    }
}

async fn sleep_or_shutdown(duration: Duration, shutdown: &mut watch::Receiver<bool>) {
    tokio::select! {
        _ = tokio::time::sleep(duration) => {}
        _ = shutdown.changed() => {}
    }
}
