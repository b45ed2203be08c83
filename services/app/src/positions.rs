//! Read your writes: a query that names a stream position waits until its read model has
//! applied it.
//!
//! Waiting holds no database connection. One listener per process follows the checkpoints as
//! the projection engine announces them (`LISTEN fleet_checkpoints`, sent in the same
//! transaction as the checkpoint, so an announcement means the rows are committed) and keeps
//! the latest of each in memory; waiters watch that. A slow poll of the checkpoint table backs
//! the listener up, so a lost connection only slows waiters down, never strands them.
//!
//! A position past the end of its stream can never be reached: it is refused at once instead
//! of being waited for.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fleet_events::jetstream::JetStreamLog;
use fleet_events::EventLog;
use fleet_projections::checkpoint;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::AppError;

/// How often the table is read while nothing is announced.
const POLL: Duration = Duration::from_millis(250);

/// The checkpoints this process knows of.
#[derive(Clone)]
pub struct Positions {
    known: Arc<Mutex<HashMap<String, u64>>>,
    /// Bumped whenever a checkpoint moves: waiters re-check on each change.
    changed: watch::Sender<u64>,
}

impl Default for Positions {
    fn default() -> Self {
        Self {
            known: Arc::default(),
            changed: watch::Sender::new(0),
        }
    }
}

/// Why a position cannot be waited for.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("position {requested} is past the end of the stream (its last position is {end})")]
    PastTheEnd { requested: u64, end: u64 },
    #[error("the {projection} read model has not reached position {position} yet; retry shortly")]
    NotYet { projection: String, position: u64 },
    #[error(transparent)]
    Log(#[from] fleet_events::LogError),
}

impl From<WaitError> for AppError {
    fn from(e: WaitError) -> Self {
        match e {
            WaitError::PastTheEnd { .. } => {
                AppError::bad_request("X-Fleet-Position", e.to_string())
            }
            WaitError::NotYet { .. } => AppError::Unavailable(e.to_string()),
            WaitError::Log(e) => e.into(),
        }
    }
}

impl Positions {
    /// The checkpoint of `projection` as last seen.
    pub fn current(&self, projection: &str) -> u64 {
        self.known
            .lock()
            .expect("poisoned")
            .get(projection)
            .copied()
            .unwrap_or(0)
    }

    fn advance(&self, projection: &str, position: u64) {
        let mut known = self.known.lock().expect("poisoned");
        let entry = known.entry(projection.to_owned()).or_insert(0);
        // A rebuild's swap may move a checkpoint back to where the live tables are: follow it.
        if *entry != position {
            *entry = position;
            drop(known);
            self.changed.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Reads every checkpoint once.
    pub async fn refresh(&self, pool: &PgPool) -> Result<(), sqlx::Error> {
        for (projection, position) in checkpoint::all(pool).await? {
            self.advance(&projection, position);
        }
        Ok(())
    }

    /// Waits until `projection`, a reader of `stream`, has applied `position`, up to
    /// `timeout`.
    pub async fn wait_for(
        &self,
        stream: &JetStreamLog,
        projection: &str,
        position: u64,
        timeout: Duration,
    ) -> Result<(), WaitError> {
        if self.current(projection) >= position {
            return Ok(());
        }
        let end = stream.last_sequence().await?;
        if position > end {
            return Err(WaitError::PastTheEnd {
                requested: position,
                end,
            });
        }
        let mut changes = self.changed.subscribe();
        let reached = tokio::time::timeout(timeout, async {
            loop {
                if self.current(projection) >= position {
                    return;
                }
                if changes.changed().await.is_err() {
                    // The follower is gone (shutting down): nothing will move any more.
                    std::future::pending::<()>().await;
                }
            }
        })
        .await;
        reached.map_err(|_| WaitError::NotYet {
            projection: projection.to_owned(),
            position,
        })
    }

    /// Waits until `projection` has applied the newest event of `subjects` (a filter, such as
    /// one tenant's invoices): for a rule that must read a read model before deciding. It waits
    /// for just the events the rule reads, never for the rest of the stream (every other
    /// tenant's), so it does not queue behind the projector under load. Returns the position.
    pub async fn wait_for_latest(
        &self,
        stream: &JetStreamLog,
        subjects: &str,
        projection: &str,
        timeout: Duration,
    ) -> Result<u64, WaitError> {
        let latest = stream.last_sequence_of(subjects).await?;
        self.wait_for(stream, projection, latest, timeout).await?;
        Ok(latest)
    }

    /// Follows the checkpoints until `shutdown`: announcements as they come, and the table
    /// every [`POLL`] in case one was missed.
    pub async fn follow(self, pool: PgPool, mut shutdown: watch::Receiver<bool>) {
        let mut listener: Option<PgListener> = None;
        while !*shutdown.borrow() {
            if listener.is_none() {
                listener = match PgListener::connect_with(&pool).await {
                    Ok(mut l) => match l.listen(checkpoint::CHANNEL).await {
                        Ok(()) => Some(l),
                        Err(e) => {
                            tracing::warn!(error = %e, "listening for checkpoints");
                            None
                        }
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "connecting to listen for checkpoints");
                        None
                    }
                };
                // Whatever moved while not listening.
                if let Err(e) = self.refresh(&pool).await {
                    tracing::debug!(error = %e, "reading checkpoints");
                }
            }
            let notification = async {
                match listener.as_mut() {
                    Some(l) => Some(l.try_recv().await),
                    None => {
                        tokio::time::sleep(POLL).await;
                        None
                    }
                }
            };
            tokio::select! {
                _ = shutdown.changed() => return,
                received = tokio::time::timeout(POLL, notification) => match received {
                    Ok(Some(Ok(Some(n)))) => {
                        if let Some((projection, position)) = n.payload().split_once(' ') {
                            if let Ok(position) = position.parse() {
                                self.advance(projection, position);
                            }
                        }
                    }
                    Ok(Some(Ok(None))) | Ok(Some(Err(_))) => {
                        // The connection dropped: reconnect on the next turn.
                        listener = None;
                    }
                    Ok(None) | Err(_) => {
                        if let Err(e) = self.refresh(&pool).await {
                            tracing::debug!(error = %e, "reading checkpoints");
                        }
                    }
                },
            }
        }
    }
}
