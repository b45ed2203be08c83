//! A projection group: several projections fed by one reader of one stream, committed in one
//! transaction per batch.
//!
//! Each event is delivered to the process once and decoded once, whatever the number of
//! projections reading it. Each member keeps what makes it a projection of its own: its schema,
//! its checkpoint (moved in the batch's transaction, so a crash can neither apply an event twice
//! nor skip one), its parked events and its rebuild. Members may stand at different positions
//! (one was just rebuilt and swapped in, say): the group reads from the lowest and gives each
//! only what lies past its own checkpoint.
//!
//! A member whose events cannot be applied parks them under a savepoint of its own, so it
//! never holds the others up; a transient failure (the database away, a command that could not
//! be appended) rolls the whole batch back to be tried again.

use std::sync::Arc;
use std::time::Duration;

use fleet_events::jetstream::{JetStreamLog, StreamedEvent};
use fleet_events::subject::parse_subject;
use fleet_events::{EventEnvelope, EventLog, LogError};
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::{mpsc, watch};

use crate::engine::{EngineError, EngineSettings};
use crate::{checkpoint, Projection, ProjectionMetrics};

/// One projection of a group: what it applies, where its tables are and under which
/// checkpoint it counts.
#[derive(Clone)]
pub struct Member {
    pub projection: Arc<dyn Projection>,
    /// The schema of its tables: the live one, or a rebuild's.
    pub schema: String,
    pub checkpoint: String,
    /// Leave the [reader indexes](Projection::reader_indexes) out until
    /// [`GroupRunner::create_reader_indexes`] (a rebuild's tables, before they serve).
    pub defer_reader_indexes: bool,
}

impl Member {
    /// The projection into its live tables.
    pub fn live(projection: Arc<dyn Projection>) -> Self {
        let name = projection.name().to_owned();
        Self {
            projection,
            schema: name.clone(),
            checkpoint: name,
            defer_reader_indexes: false,
        }
    }
}

/// Runs a group of projections that read the same stream.
pub struct GroupRunner {
    pub members: Vec<Member>,
    pub pool: PgPool,
    pub log: JetStreamLog,
    pub metrics: ProjectionMetrics,
    pub settings: EngineSettings,
}

enum BatchOutcome {
    Committed,
    /// Someone else moved a checkpoint (a rebuild swapped tables in, or a stale leader): the
    /// positions now stored, to continue from.
    Fenced(Vec<u64>),
}

impl GroupRunner {
    /// The members' checkpoint names, in the order of `members`.
    fn checkpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| m.checkpoint.clone()).collect()
    }

    /// The stream from `start`, with only the events some member handles decoded.
    async fn subscribe(
        &self,
        start: u64,
    ) -> Result<BoxStream<'static, Result<StreamedEvent, LogError>>, LogError> {
        let projections: Vec<_> = self.members.iter().map(|m| m.projection.clone()).collect();
        self.log
            .subscribe_wanted(
                start,
                Arc::new(move |t: &str| projections.iter().any(|p| p.handles(t))),
            )
            .await
    }

    /// Creates each member's schema, tables and checkpoint if missing; returns the
    /// checkpoints, in the order of `members`.
    pub async fn prepare(&self) -> Result<Vec<u64>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        // Concurrent `CREATE … IF NOT EXISTS` of the same table can still collide: one at a time.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('fleet-projection-ddl'))")
            .execute(&mut *tx)
            .await?;
        let mut positions = Vec::with_capacity(self.members.len());
        for member in &self.members {
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {}", member.schema))
                .execute(&mut *tx)
                .await?;
            set_search_path(&mut tx, &member.schema).await?;
            let mut ddl = member.projection.ddl();
            if !member.defer_reader_indexes {
                ddl.extend(member.projection.reader_indexes());
            }
            for statements in ddl {
                // A plain string runs as a simple query, which may hold several statements.
                sqlx::Executor::execute(&mut *tx, statements).await?;
            }
            positions.push(checkpoint::ensure(&mut tx, &member.checkpoint).await?);
        }
        tx.commit().await?;
        Ok(positions)
    }

    /// Creates the reader indexes that members deferred.
    pub async fn create_reader_indexes(&self) -> Result<(), sqlx::Error> {
        for member in self.members.iter().filter(|m| m.defer_reader_indexes) {
            let mut tx = self.pool.begin().await?;
            set_search_path(&mut tx, &member.schema).await?;
            for statements in member.projection.reader_indexes() {
                sqlx::Executor::execute(&mut *tx, statements).await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    /// Follows the stream from the members' `positions` until every member has reached
    /// `until` (or forever when `None`), or until shutdown. Returns each member's position;
    /// `on_progress` is called with the lowest after each batch.
    pub async fn follow(
        &self,
        mut positions: Vec<u64>,
        until: Option<u64>,
        shutdown: &mut watch::Receiver<bool>,
        mut on_progress: impl FnMut(u64) + Send,
    ) -> Result<Vec<u64>, EngineError> {
        let lowest = |positions: &[u64]| positions.iter().copied().min().unwrap_or(0);
        let mut read = lowest(&positions);
        let mut reader = self.read_ahead(read + 1, until).await?;
        let mut idle_while_behind = 0;
        loop {
            if until.is_some_and(|target| lowest(&positions) >= target) || *shutdown.borrow() {
                return Ok(positions);
            }
            let batch = tokio::select! {
                batch = reader.next() => batch?,
                _ = shutdown.changed() => return Ok(positions),
            };
            if batch.messages == 0 {
                // Idle. If the stream has moved on without us, the consumer is stuck (a lost
                // NATS node, say): start a fresh one from where we are.
                let end = self.log.last_sequence().await.unwrap_or(read);
                let behind = end.saturating_sub(read);
                self.record_lag(behind);
                if behind > 0 && until.is_none_or(|target| read < target) {
                    idle_while_behind += 1;
                    if idle_while_behind >= 2 {
                        tracing::warn!(projections = ?self.checkpoints(), position = read, end, "consumer stalled; re-subscribing");
                        reader = self.read_ahead(read + 1, until).await?;
                        idle_while_behind = 0;
                    }
                }
                continue;
            }
            idle_while_behind = 0;
            let (pending, last) = (batch.pending, batch.last);
            let passed: Vec<u64> = positions.iter().map(|&p| batch.past(p)).collect();
            match self.commit_batch(&positions, batch).await? {
                BatchOutcome::Committed => {
                    for ((member, position), passed) in
                        self.members.iter().zip(positions.iter_mut()).zip(passed)
                    {
                        let label = ProjectionMetrics::label(&member.checkpoint);
                        self.metrics.events.get_or_create(&label).inc_by(passed);
                        *position = (*position).max(last);
                    }
                    read = last;
                }
                BatchOutcome::Fenced(stored) => {
                    tracing::info!(
                        projections = ?self.checkpoints(),
                        expected = ?positions,
                        ?stored,
                        "a checkpoint was moved by another writer; continuing from it"
                    );
                    positions = stored;
                    read = lowest(&positions);
                    reader = self.read_ahead(read + 1, until).await?;
                }
            }
            for (member, position) in self.members.iter().zip(&positions) {
                let label = ProjectionMetrics::label(&member.checkpoint);
                self.metrics
                    .position
                    .get_or_create(&label)
                    .set(*position as i64);
            }
            self.record_lag(pending);
            on_progress(lowest(&positions));
        }
    }

    fn record_lag(&self, behind: u64) {
        for member in &self.members {
            let label = ProjectionMetrics::label(&member.checkpoint);
            self.metrics.lag.get_or_create(&label).set(behind as i64);
        }
    }

    /// Starts reading the stream from `start` in a task of its own, batches decoded ahead of
    /// the one being committed, so that delivery and decoding overlap the database's work.
    /// Past `until`, nothing is passed on.
    async fn read_ahead(&self, start: u64, until: Option<u64>) -> Result<ReadAhead, EngineError> {
        let mut events = self.subscribe(start).await?;
        let settings = self.settings.clone();
        let (sender, batches) = mpsc::channel(1);
        let task = tokio::spawn(async move {
            loop {
                let batch = next_batch(&mut events, &settings)
                    .await
                    .map(|mut messages| {
                        // A rebuild up to a position stops exactly there.
                        if let Some(target) = until {
                            messages.retain(|m| m.sequence <= target);
                        }
                        Batch::of(messages)
                    });
                let failed = batch.is_err();
                if sender.send(batch).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(ReadAhead { batches, task })
    }

    /// Applies `batch` to every member past whose checkpoint it reaches, and moves every
    /// checkpoint to its end, in one transaction.
    async fn commit_batch(
        &self,
        positions: &[u64],
        batch: Batch,
    ) -> Result<BatchOutcome, EngineError> {
        let checkpoints = self.checkpoints();
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        let stored = checkpoint::lock_all(&mut tx, &checkpoints).await?;
        if stored != positions {
            return Ok(BatchOutcome::Fenced(stored));
        }
        for (member, &position) in self.members.iter().zip(positions) {
            self.apply_member(&mut tx, member, &batch, position).await?;
        }
        let reached: Vec<i64> = positions
            .iter()
            .map(|&p| p.max(batch.last) as i64)
            .collect();
        checkpoint::store_all(&mut tx, &checkpoints, &reached).await?;
        tx.commit().await?;
        Ok(BatchOutcome::Committed)
    }

    /// One member's share of a batch (what lies past its `position`), under a savepoint of its
    /// own.
    async fn apply_member(
        &self,
        tx: &mut PgConnection,
        member: &Member,
        batch: &Batch,
        position: u64,
    ) -> Result<(), EngineError> {
        let projection = &member.projection;
        let handled = |event: &EventEnvelope| projection.handles(&event.event.aggregate_type);
        let past = &batch.decoded[batch.decoded.partition_point(|e| e.sequence <= position)..];
        // A member that handles every event of its share reads it in place; the others get a
        // copy of the events they handle.
        let filtered: Vec<EventEnvelope>;
        let relevant: &[EventEnvelope] = if past.iter().all(handled) {
            past
        } else {
            filtered = past.iter().filter(|e| handled(e)).cloned().collect();
            &filtered
        };
        let unreadable: Vec<&Unreadable> = batch
            .unreadable
            .iter()
            .filter(|u| u.sequence > position)
            .filter(|u| {
                parse_subject(&u.subject)
                    .is_some_and(|parts| projection.handles(parts.aggregate_type))
            })
            .collect();
        // Parked outside the savepoint, which a failed share rolls back.
        for u in unreadable {
            let parked = Parked {
                sequence: u.sequence,
                subject: &u.subject,
                event_type: None,
                error: &u.error,
                event: None,
            };
            park(tx, &self.metrics, member, parked).await?;
        }
        if relevant.is_empty() {
            return Ok(());
        }
        // The savepoint and the member's search path in one round trip.
        let enter = format!("SAVEPOINT member; {}", search_path(&member.schema));
        sqlx::Executor::execute(&mut *tx, enter.as_str()).await?;
        self.apply_or_park(tx, member, relevant).await?;
        sqlx::Executor::execute(&mut *tx, "RELEASE SAVEPOINT member").await?;
        Ok(())
    }

    /// Fast path: the whole share in one go. If it fails for a reason that retrying cannot fix,
    /// apply event by event, each under a savepoint, and park the ones that fail, so that the
    /// projection never loops on one event.
    async fn apply_or_park(
        &self,
        tx: &mut PgConnection,
        member: &Member,
        relevant: &[EventEnvelope],
    ) -> Result<(), EngineError> {
        let projection = &member.projection;
        match projection.apply(tx, relevant).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_transient() => return Err(EngineError::Apply(e)),
            Err(_) => {
                // Rolling back undoes the `SET LOCAL` made under the savepoint: make it again.
                let back = format!(
                    "ROLLBACK TO SAVEPOINT member; {}",
                    search_path(&member.schema)
                );
                sqlx::Executor::execute(&mut *tx, back.as_str()).await?;
            }
        }
        for event in relevant {
            sqlx::Executor::execute(&mut *tx, "SAVEPOINT one_event").await?;
            match projection.apply(tx, std::slice::from_ref(event)).await {
                Ok(()) => {
                    sqlx::Executor::execute(&mut *tx, "RELEASE SAVEPOINT one_event").await?;
                }
                Err(e) if e.is_transient() => return Err(EngineError::Apply(e)),
                Err(e) => {
                    sqlx::Executor::execute(&mut *tx, "ROLLBACK TO SAVEPOINT one_event").await?;
                    park_event(tx, &self.metrics, member, event, &e.to_string()).await?;
                }
            }
        }
        Ok(())
    }
}

/// Messages read together: the decoded events in stream order, the ones that are not valid
/// events, and the last sequence read (passed-over messages included).
struct Batch {
    decoded: Vec<EventEnvelope>,
    unreadable: Vec<Unreadable>,
    /// Messages read, wanted or not: none when the stream was idle.
    messages: usize,
    first: u64,
    last: u64,
    pending: u64,
}

struct Unreadable {
    sequence: u64,
    subject: String,
    error: String,
}

/// Batches read ahead by a task of their own; the task ends when this is dropped.
struct ReadAhead {
    batches: mpsc::Receiver<Result<Batch, EngineError>>,
    task: tokio::task::JoinHandle<()>,
}

impl ReadAhead {
    async fn next(&mut self) -> Result<Batch, EngineError> {
        self.batches
            .recv()
            .await
            .unwrap_or(Err(EngineError::StreamEnded))
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The next batch: waits up to `idle_wait` for one event, then takes what is already
/// delivered, up to `batch_size`. Empty when idle.
async fn next_batch(
    events: &mut BoxStream<'static, Result<StreamedEvent, LogError>>,
    settings: &EngineSettings,
) -> Result<Vec<StreamedEvent>, EngineError> {
    let first = match tokio::time::timeout(settings.idle_wait, events.next()).await {
        Err(_idle) => return Ok(Vec::new()),
        Ok(None) => return Err(EngineError::StreamEnded),
        Ok(Some(message)) => message?,
    };
    let mut batch = vec![first];
    // Take what has arrived; while more is pending, wait a moment for it, so that a busy
    // stream is applied in large batches without delaying a quiet one.
    while batch.len() < settings.batch_size {
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
    tracing::debug!(events = batch.len(), "batch");
    Ok(batch)
}

impl Batch {
    fn of(messages: Vec<StreamedEvent>) -> Self {
        let count = messages.len();
        let first = messages.first().map_or(0, |m| m.sequence);
        let (last, pending) = messages.last().map_or((0, 0), |m| (m.sequence, m.pending));
        let mut decoded = Vec::with_capacity(messages.len());
        let mut unreadable = Vec::new();
        for message in messages {
            match message.event {
                Ok(event) => decoded.push(event),
                Err(LogError::NotWanted(_)) => {}
                Err(e) => unreadable.push(Unreadable {
                    sequence: message.sequence,
                    subject: message.subject,
                    error: e.to_string(),
                }),
            }
        }
        Self {
            decoded,
            unreadable,
            messages: count,
            first,
            last,
            pending,
        }
    }

    /// How many of its messages lie past `position`.
    fn past(&self, position: u64) -> u64 {
        self.last
            .saturating_sub(position.max(self.first.saturating_sub(1)))
    }
}

/// An event set aside, with why.
struct Parked<'a> {
    sequence: u64,
    subject: &'a str,
    event_type: Option<&'a str>,
    error: &'a str,
    event: Option<serde_json::Value>,
}

/// Text PostgreSQL can store: a NUL becomes U+FFFD.
fn storable(text: &str) -> String {
    text.replace('\0', "\u{FFFD}")
}

fn storable_json(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(text) => Value::String(storable(&text)),
        Value::Array(items) => Value::Array(items.into_iter().map(storable_json).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| (storable(&k), storable_json(v)))
                .collect(),
        ),
        other => other,
    }
}

/// The statement that points unqualified names at `schema` for the rest of the transaction.
fn search_path(schema: &str) -> String {
    format!("SET LOCAL search_path TO {schema}, public")
}

async fn set_search_path(conn: &mut PgConnection, schema: &str) -> Result<(), sqlx::Error> {
    sqlx::Executor::execute(conn, search_path(schema).as_str()).await?;
    Ok(())
}

async fn park_event(
    conn: &mut PgConnection,
    metrics: &ProjectionMetrics,
    member: &Member,
    event: &EventEnvelope,
    error: &str,
) -> Result<(), sqlx::Error> {
    let subject = format!(
        "{}.{}.{}",
        event.event.tenant, event.event.aggregate_type, event.event.aggregate_id
    );
    let parked = Parked {
        sequence: event.sequence,
        subject: &subject,
        event_type: Some(&event.event.event_type),
        error,
        event: serde_json::to_value(event).ok(),
    };
    park(conn, metrics, member, parked).await
}

async fn park(
    conn: &mut PgConnection,
    metrics: &ProjectionMetrics,
    member: &Member,
    parked: Parked<'_>,
) -> Result<(), sqlx::Error> {
    tracing::warn!(projection = %member.checkpoint, sequence = parked.sequence, subject = parked.subject, error = parked.error, "parked an event it cannot apply");
    metrics
        .parked
        .get_or_create(&ProjectionMetrics::label(&member.checkpoint))
        .inc();
    // An event may be parked because PostgreSQL cannot store what it holds (a NUL): the copy
    // kept here must store whatever the event holds, or parking fails too and the projection
    // never moves on. The stream keeps the original.
    sqlx::query(
        "INSERT INTO projection_parked (projection, sequence, subject, event_type, error, event)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(&member.checkpoint)
    .bind(parked.sequence as i64)
    .bind(storable(parked.subject))
    .bind(parked.event_type.map(storable))
    .bind(storable(parked.error))
    .bind(parked.event.map(storable_json))
    .execute(conn)
    .await?;
    Ok(())
}
