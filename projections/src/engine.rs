//! The projection engine: reads the domain stream in order and applies it in batches, each
//! batch and its checkpoint in one PostgreSQL transaction, so a crash can neither apply an
//! event twice nor skip one.

use std::sync::Arc;
use std::time::Duration;

use fleet_events::jetstream::{JetStreamLog, StreamedEvent};
use fleet_events::subject::parse_subject;
use fleet_events::{EventEnvelope, EventLog, LogError};
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::watch;

use crate::{checkpoint, ApplyError, Projection, ProjectionMetrics, Source};

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

/// Runs one projection into one schema under one checkpoint name: the live tables, or the
/// fresh ones of a rebuild.
pub struct ProjectionRunner {
    pub projection: Arc<dyn Projection>,
    pub schema: String,
    pub checkpoint: String,
    pub pool: PgPool,
    pub log: JetStreamLog,
    pub metrics: ProjectionMetrics,
    pub settings: EngineSettings,
}

enum BatchOutcome {
    Committed(u64),
    /// Someone else moved the checkpoint (a rebuild swapped tables in, or a stale leader):
    /// continue from the stored position.
    Fenced(u64),
}

impl ProjectionRunner {
    /// The stream from `start`, with only the events this projection handles decoded.
    async fn subscribe(
        &self,
        start: u64,
    ) -> Result<BoxStream<'static, Result<StreamedEvent, LogError>>, LogError> {
        let projection = self.projection.clone();
        self.log
            .subscribe_wanted(start, Arc::new(move |t: &str| projection.handles(t)))
            .await
    }

    /// Creates the schema, its tables and the checkpoint if missing; returns the checkpoint.
    pub async fn prepare(&self) -> Result<u64, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        // Concurrent `CREATE … IF NOT EXISTS` of the same table can still collide: one at a time.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('fleet-projection-ddl'))")
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {}", self.schema))
            .execute(&mut *tx)
            .await?;
        self.set_search_path(&mut tx).await?;
        for ddl in self.projection.ddl() {
            // A plain string runs as a simple query, which may hold several statements.
            sqlx::Executor::execute(&mut *tx, ddl).await?;
        }
        let position = checkpoint::ensure(&mut tx, &self.checkpoint).await?;
        tx.commit().await?;
        Ok(position)
    }

    async fn set_search_path(&self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query(&format!("SET LOCAL search_path TO {}, public", self.schema))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Follows the stream from `position` until `until` is reached (or forever when `None`),
    /// or until shutdown. Returns the position reached.
    pub async fn follow(
        &self,
        mut position: u64,
        until: Option<u64>,
        shutdown: &mut watch::Receiver<bool>,
        mut on_progress: impl FnMut(u64) + Send,
    ) -> Result<u64, EngineError> {
        let label = ProjectionMetrics::label(&self.checkpoint);
        let mut events = self.subscribe(position + 1).await?;
        let mut idle_while_behind = 0;
        loop {
            if until.is_some_and(|target| position >= target) || *shutdown.borrow() {
                return Ok(position);
            }
            let Some(mut batch) = self.next_batch(&mut events, shutdown).await? else {
                return Ok(position);
            };
            // A rebuild up to a position stops exactly there.
            if let Some(target) = until {
                batch.retain(|m| m.sequence <= target);
            }
            let Some(last) = batch.last() else {
                // Idle. If the stream has moved on without us, the consumer is stuck (a lost
                // NATS node, say): start a fresh one from where we are.
                let end = self.log.last_sequence().await.unwrap_or(position);
                let behind = end.saturating_sub(position);
                self.metrics.lag.get_or_create(&label).set(behind as i64);
                if behind > 0 && until.is_none_or(|target| position < target) {
                    idle_while_behind += 1;
                    if idle_while_behind >= 2 {
                        tracing::warn!(projection = %self.checkpoint, position, end, "consumer stalled; re-subscribing");
                        events = self.subscribe(position + 1).await?;
                        idle_while_behind = 0;
                    }
                }
                continue;
            };
            idle_while_behind = 0;
            let (pending, count) = (last.pending, batch.len() as u64);
            match self.commit_batch(position, batch).await? {
                BatchOutcome::Committed(reached) => {
                    self.metrics.events.get_or_create(&label).inc_by(count);
                    position = reached;
                }
                BatchOutcome::Fenced(stored) => {
                    tracing::info!(
                        projection = %self.checkpoint,
                        expected = position,
                        stored,
                        "checkpoint moved by another writer; continuing from it"
                    );
                    position = stored;
                    events = self.subscribe(position + 1).await?;
                }
            }
            self.metrics
                .position
                .get_or_create(&label)
                .set(position as i64);
            self.metrics.lag.get_or_create(&label).set(pending as i64);
            on_progress(position);
        }
    }

    /// The next batch: waits up to `idle_wait` for one event, then takes what is already
    /// delivered, up to `batch_size`. `Some(empty)` when idle, `None` on shutdown.
    async fn next_batch(
        &self,
        events: &mut BoxStream<'static, Result<StreamedEvent, LogError>>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Option<Vec<StreamedEvent>>, EngineError> {
        let first = tokio::select! {
            first = tokio::time::timeout(self.settings.idle_wait, events.next()) => first,
            _ = shutdown.changed() => return Ok(None),
        };
        let first = match first {
            Err(_idle) => return Ok(Some(Vec::new())),
            Ok(None) => return Err(EngineError::StreamEnded),
            Ok(Some(message)) => message?,
        };
        let mut batch = vec![first];
        // Take what has arrived; while more is pending, wait a moment for it, so that a busy
        // stream is applied in large batches without delaying a quiet one.
        while batch.len() < self.settings.batch_size {
            let next = match events.next().now_or_never() {
                Some(next) => next,
                None if batch.last().is_some_and(|m| m.pending > 0) => {
                    match tokio::time::timeout(Duration::from_millis(2), events.next()).await {
                        Ok(next) => next,
                        Err(_) => break,
                    }
                }
                None => break,
            };
            match next {
                Some(Ok(message)) => batch.push(message),
                // An error is the consumer's to recover from; apply what we have.
                _ => break,
            }
        }
        tracing::debug!(projection = %self.checkpoint, events = batch.len(), "batch");
        Ok(Some(batch))
    }

    async fn commit_batch(
        &self,
        position: u64,
        batch: Vec<StreamedEvent>,
    ) -> Result<BatchOutcome, EngineError> {
        let last = batch.last().map_or(position, |m| m.sequence);
        let mut relevant = Vec::with_capacity(batch.len());
        let mut unreadable = Vec::new();
        for message in batch {
            match message.event {
                Ok(event) if self.projection.handles(&event.event.aggregate_type) => {
                    relevant.push(event)
                }
                Ok(_) | Err(LogError::NotWanted(_)) => {}
                Err(e) => {
                    let concerns_us = parse_subject(&message.subject)
                        .is_some_and(|parts| self.projection.handles(parts.aggregate_type));
                    if concerns_us {
                        unreadable.push((message.sequence, message.subject, e.to_string()));
                    }
                }
            }
        }

        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        let stored = checkpoint::lock(&mut tx, &self.checkpoint).await?;
        if stored != position {
            return Ok(BatchOutcome::Fenced(stored));
        }
        self.set_search_path(&mut tx).await?;
        for (sequence, subject, error) in &unreadable {
            self.park(&mut tx, *sequence, subject, None, error, None)
                .await?;
        }
        if !relevant.is_empty() {
            // Fast path: the whole batch in one go. If it fails for a reason that retrying
            // cannot fix, apply event by event, each under a savepoint, and park the ones
            // that fail so the projection never loops on one event.
            let result = {
                let mut savepoint = tx.begin().await?;
                match self.projection.apply(&mut savepoint, &relevant).await {
                    Ok(()) => savepoint.commit().await.map_err(ApplyError::from),
                    Err(e) => Err(e),
                }
            };
            match result {
                Ok(()) => {}
                Err(e) if e.is_transient() => return Err(EngineError::Apply(e)),
                Err(_) => {
                    for event in &relevant {
                        let mut savepoint = tx.begin().await?;
                        let outcome = self
                            .projection
                            .apply(&mut savepoint, std::slice::from_ref(event))
                            .await;
                        match outcome {
                            Ok(()) => savepoint.commit().await?,
                            Err(e) if e.is_transient() => return Err(EngineError::Apply(e)),
                            Err(e) => {
                                savepoint.rollback().await?;
                                self.park_event(&mut tx, event, &e.to_string()).await?;
                            }
                        }
                    }
                }
            }
        }
        checkpoint::store(&mut tx, &self.checkpoint, last).await?;
        tx.commit().await?;
        Ok(BatchOutcome::Committed(last))
    }

    async fn park_event(
        &self,
        conn: &mut PgConnection,
        event: &EventEnvelope,
        error: &str,
    ) -> Result<(), sqlx::Error> {
        let subject = format!(
            "{}.{}.{}",
            event.event.tenant, event.event.aggregate_type, event.event.aggregate_id
        );
        let json = serde_json::to_value(event).ok();
        self.park(
            conn,
            event.sequence,
            &subject,
            Some(&event.event.event_type),
            error,
            json,
        )
        .await
    }

    async fn park(
        &self,
        conn: &mut PgConnection,
        sequence: u64,
        subject: &str,
        event_type: Option<&str>,
        error: &str,
        event: Option<serde_json::Value>,
    ) -> Result<(), sqlx::Error> {
        tracing::warn!(projection = %self.checkpoint, sequence, subject, error, "parked an event it cannot apply");
        self.metrics
            .parked
            .get_or_create(&ProjectionMetrics::label(&self.checkpoint))
            .inc();
        sqlx::query(
            "INSERT INTO projection_parked (projection, sequence, subject, event_type, error, event)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(&self.checkpoint)
        .bind(sequence as i64)
        .bind(subject)
        .bind(event_type)
        .bind(error)
        .bind(event)
        .execute(conn)
        .await?;
        Ok(())
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

/// Runs every projection in the background, one leader per projection across all processes.
pub struct ProjectionEngine {
    pub pool: PgPool,
    pub streams: Streams,
    pub metrics: ProjectionMetrics,
    pub settings: EngineSettings,
}

impl ProjectionEngine {
    fn runner(&self, projection: Arc<dyn Projection>) -> ProjectionRunner {
        ProjectionRunner {
            schema: projection.name().to_owned(),
            checkpoint: projection.name().to_owned(),
            log: self.streams.of(projection.source()).clone(),
            projection,
            pool: self.pool.clone(),
            metrics: self.metrics.clone(),
            settings: self.settings.clone(),
        }
    }

    /// Creates every projection's tables, so that queries find them from the first request,
    /// whichever process leads the projection.
    pub async fn prepare(&self, projections: &[Arc<dyn Projection>]) -> Result<(), sqlx::Error> {
        for projection in projections {
            self.runner(projection.clone()).prepare().await?;
        }
        Ok(())
    }

    pub fn spawn(
        &self,
        projections: Vec<Arc<dyn Projection>>,
        shutdown: watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        projections
            .into_iter()
            .map(|projection| tokio::spawn(lead(self.runner(projection), shutdown.clone())))
            .collect()
    }
}

/// Becomes the projection's leader when its advisory lock is free, and runs it until shutdown
/// or until the lock's connection is lost. Other processes wait and take over.
async fn lead(runner: ProjectionRunner, mut shutdown: watch::Receiver<bool>) {
    let name = runner.checkpoint.clone();
    let label = ProjectionMetrics::label(&name);
    while !*shutdown.borrow() {
        match try_lock(&runner.pool, &name).await {
            Ok(Some(mut lock)) => {
                tracing::info!(projection = %name, "leading the projection");
                runner.metrics.leader.get_or_create(&label).set(1);
                let result = tokio::select! {
                    result = run_leader(&runner, &mut shutdown) => result,
                    lost = watch_lock(&mut lock) => Err(lost),
                };
                runner.metrics.leader.get_or_create(&label).set(0);
                // Closing the connection releases the session-level advisory lock.
                let _ = lock.close().await;
                if let Err(e) = result {
                    tracing::error!(projection = %name, error = %e, "projection stopped; retrying");
                    sleep_or_shutdown(Duration::from_secs(1), &mut shutdown).await;
                }
            }
            Ok(None) => sleep_or_shutdown(Duration::from_secs(1), &mut shutdown).await,
            Err(e) => {
                tracing::warn!(projection = %name, error = %e, "cannot reach PostgreSQL for the projection lock");
                sleep_or_shutdown(Duration::from_secs(1), &mut shutdown).await;
            }
        }
    }
}

async fn run_leader(
    runner: &ProjectionRunner,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<u64, EngineError> {
    let position = runner.prepare().await?;
    runner.follow(position, None, shutdown, |_| {}).await
}

fn lock_key(name: &str) -> String {
    format!("fleet-projection:{name}")
}

async fn try_lock(pool: &PgPool, name: &str) -> Result<Option<PgConnection>, sqlx::Error> {
    let mut conn = pool.acquire().await?.detach();
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
        .bind(lock_key(name))
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
