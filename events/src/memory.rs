//! An in-memory [`EventLog`] with the same concurrency and dedup rules as JetStream, for unit
//! tests of code that sits on top of the log. Integration tests use the real one.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::Utc;

use crate::{AppendError, Appended, EventEnvelope, EventLog, LogError, NewEvent};

#[derive(Default)]
pub struct InMemoryLog {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    events: Vec<(String, EventEnvelope)>,
    last_by_subject: HashMap<String, u64>,
    seen_ids: HashMap<String, u64>,
}

#[async_trait]
impl EventLog for InMemoryLog {
    async fn append(
        &self,
        subject: &str,
        event: &NewEvent,
        expected_last: u64,
        message_id: &str,
    ) -> Result<Appended, AppendError> {
        let mut inner = self.inner.lock().expect("poisoned");
        if let Some(&sequence) = inner.seen_ids.get(message_id) {
            return Ok(Appended {
                sequence,
                duplicate: true,
            });
        }
        let last = inner.last_by_subject.get(subject).copied().unwrap_or(0);
        if last != expected_last {
            return Err(AppendError::Conflict {
                expected: expected_last,
            });
        }
        let sequence = inner.events.len() as u64 + 1;
        inner.events.push((
            subject.to_owned(),
            EventEnvelope {
                sequence,
                recorded_at: Utc::now(),
                event: event.clone(),
            },
        ));
        inner.last_by_subject.insert(subject.to_owned(), sequence);
        inner.seen_ids.insert(message_id.to_owned(), sequence);
        Ok(Appended {
            sequence,
            duplicate: false,
        })
    }

    async fn read_subject(
        &self,
        subject: &str,
        after: u64,
    ) -> Result<Vec<EventEnvelope>, LogError> {
        let inner = self.inner.lock().expect("poisoned");
        Ok(inner
            .events
            .iter()
            .filter(|(s, e)| s == subject && e.sequence > after)
            .map(|(_, e)| e.clone())
            .collect())
    }

    async fn last_sequence_of(&self, subject: &str) -> Result<u64, LogError> {
        let inner = self.inner.lock().expect("poisoned");
        Ok(inner.last_by_subject.get(subject).copied().unwrap_or(0))
    }

    async fn read_at(&self, sequence: u64) -> Result<Option<EventEnvelope>, LogError> {
        let inner = self.inner.lock().expect("poisoned");
        Ok(sequence
            .checked_sub(1)
            .and_then(|i| inner.events.get(i as usize))
            .map(|(_, e)| e.clone()))
    }

    async fn last_sequence(&self) -> Result<u64, LogError> {
        Ok(self.inner.lock().expect("poisoned").events.len() as u64)
    }
}
