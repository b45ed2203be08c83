//! The event log: where commands append and aggregates are loaded from.

use async_trait::async_trait;

use crate::{EventEnvelope, NewEvent};

/// The result of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The stream sequence of the event: its position, for read-your-writes.
    pub sequence: u64,
    /// The message id was seen before inside the duplicate window: nothing new was stored and
    /// `sequence` is the position of the original.
    pub duplicate: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The aggregate moved on since the decision was made (JetStream error 10071).
    #[error("the aggregate was changed concurrently (expected last sequence {expected})")]
    Conflict { expected: u64 },
    #[error(transparent)]
    Log(#[from] LogError),
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("event log unavailable: {0}")]
    Unavailable(String),
    /// The stream (or the server's store) has no room: nothing was appended, and nothing
    /// will be until an operator makes room.
    #[error("the event stream is full, so nothing was recorded ({0})")]
    Full(String),
    #[error("corrupt event at sequence {sequence}: {reason}")]
    Corrupt { sequence: u64, reason: String },
    /// Not decoded: the subscriber does not want events of its aggregate type.
    #[error("event at sequence {0} not decoded: its aggregate type is not wanted")]
    NotWanted(u64),
}

#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Appends one event to its aggregate's subject, if the subject's last sequence is still
    /// `expected_last` (0: the aggregate has no events yet). `message_id` deduplicates retries.
    async fn append(
        &self,
        subject: &str,
        event: &NewEvent,
        expected_last: u64,
        message_id: &str,
    ) -> Result<Appended, AppendError>;

    /// The events of one subject with a sequence above `after`, in order.
    async fn read_subject(&self, subject: &str, after: u64)
        -> Result<Vec<EventEnvelope>, LogError>;

    /// The sequence of the last event on `subject` (0 when it has none).
    async fn last_sequence_of(&self, subject: &str) -> Result<u64, LogError>;

    /// The event stored at `sequence`.
    async fn read_at(&self, sequence: u64) -> Result<Option<EventEnvelope>, LogError>;

    /// The last sequence of the whole stream (0 when empty).
    async fn last_sequence(&self) -> Result<u64, LogError>;
}
