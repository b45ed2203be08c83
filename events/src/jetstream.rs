//! The production [`EventLog`]: one JetStream stream per namespace.

use std::time::Duration;

use async_nats::jetstream::{
    self,
    context::PublishErrorKind,
    message::PublishMessage,
    stream::{Config, DirectGetErrorKind, DiscardPolicy, StorageType, Stream},
};
use async_trait::async_trait;
use bytes::Bytes;

use crate::{AppendError, Appended, EventEnvelope, EventLog, LogError, Namespace, NewEvent};

/// Message headers that let a subscriber route an event without parsing its body.
pub const HEADER_EVENT_TYPE: &str = "Fleet-Event-Type";
pub const HEADER_TENANT: &str = "Fleet-Tenant";
pub const HEADER_AGGREGATE_TYPE: &str = "Fleet-Aggregate-Type";

/// How the domain stream is created.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    /// 1 for development; 3 in production (see deploy/README.md).
    pub replicas: usize,
    /// How long a `Nats-Msg-Id` is remembered for deduplication.
    pub duplicate_window: Duration,
    /// Most bytes the stream may hold (`None`: as the server allows). With the discard policy
    /// `New`, a full stream refuses appends rather than forget events.
    pub max_bytes: Option<i64>,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            replicas: 1,
            duplicate_window: Duration::from_secs(120),
            max_bytes: None,
        }
    }
}

/// Cheap to clone: the stream's handle carries its whole configuration and state, which a
/// request path would otherwise copy each time the application's state is cloned.
#[derive(Clone)]
pub struct JetStreamLog {
    context: jetstream::Context,
    stream: std::sync::Arc<Stream>,
    /// The most messages a consumer asks for at once.
    pull_batch: i64,
}

/// Domain events are small: the client's own default.
const DOMAIN_PULL_BATCH: i64 = 500;
/// A usage message holds up to 1,000 records (about 250 KiB). 500 of them would be more than
/// the 64 MiB NATS lets wait for one client: the server would cut the connection as a slow
/// consumer, and the acknowledgements of the publishes sharing it would be lost.
const USAGE_PULL_BATCH: i64 = 32;

impl JetStreamLog {
    /// Creates the namespace's domain stream if it does not exist yet, and opens it.
    pub async fn open(
        client: async_nats::Client,
        namespace: &Namespace,
        settings: &StreamSettings,
    ) -> Result<Self, LogError> {
        Self::open_stream(
            client,
            namespace.domain_stream(),
            namespace.domain_subjects(),
            settings,
            DOMAIN_PULL_BATCH,
        )
        .await
    }

    /// Creates the namespace's usage stream if it does not exist yet, and opens it.
    pub async fn open_usage(
        client: async_nats::Client,
        namespace: &Namespace,
        settings: &StreamSettings,
    ) -> Result<Self, LogError> {
        Self::open_stream(
            client,
            namespace.usage_stream(),
            namespace.usage_subjects(),
            settings,
            USAGE_PULL_BATCH,
        )
        .await
    }

    async fn open_stream(
        client: async_nats::Client,
        name: String,
        subjects: String,
        settings: &StreamSettings,
        pull_batch: i64,
    ) -> Result<Self, LogError> {
        let context = jetstream::new(client);
        let config = Config {
            name,
            subjects: vec![subjects],
            storage: StorageType::File,
            num_replicas: settings.replicas,
            duplicate_window: settings.duplicate_window,
            // The stream is the audit record: nothing is ever removed from it.
            deny_delete: true,
            deny_purge: true,
            discard: DiscardPolicy::New,
            max_bytes: settings.max_bytes.unwrap_or(-1),
            // Aggregates are loaded with direct gets, which any replica can answer.
            allow_direct: true,
            ..Default::default()
        };
        // On a loaded server a stream's store can fail to be created for a moment ("error
        // creating store for stream", 10049, which names no cause); so can a request time out.
        // Both pass: try again for a few seconds before calling the log unavailable.
        let mut pause = Duration::from_millis(50);
        let mut attempt = 1;
        let stream = loop {
            match context.get_or_create_stream(config.clone()).await {
                Ok(stream) => break stream,
                Err(e) if attempt < 8 && creation_may_pass(&e.to_string()) => {
                    tracing::warn!(error = %e, attempt, "creating the stream; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                    attempt += 1;
                }
                Err(e) => return Err(LogError::Unavailable(format!("creating a stream: {e}"))),
            }
        };
        Ok(Self {
            context,
            stream: std::sync::Arc::new(stream),
            pull_batch,
        })
    }

    pub fn context(&self) -> &jetstream::Context {
        &self.context
    }

    pub fn stream_name(&self) -> &str {
        &self.stream.cached_info().config.name
    }

    /// Deletes the namespace's stream. Only test harnesses call this: in a deployment the
    /// stream is the audit record.
    pub async fn delete_stream(&self) -> Result<(), LogError> {
        self.context
            .delete_stream(self.stream_name())
            .await
            .map(|_| ())
            .map_err(|e| LogError::Unavailable(e.to_string()))
    }
}

/// Whether a failed stream creation is worth another try: the server's transient store
/// failure, or a timeout. A configuration the server refuses fails again, at once.
fn creation_may_pass(error: &str) -> bool {
    error.contains("10049") || error.contains("timed out") || error.contains("timeout")
}

/// Decodes a stored message into an envelope.
pub fn decode_stored(
    sequence: u64,
    recorded_at: chrono::DateTime<chrono::Utc>,
    payload: &[u8],
) -> Result<EventEnvelope, LogError> {
    let event: NewEvent = serde_json::from_slice(payload).map_err(|e| LogError::Corrupt {
        sequence,
        reason: e.to_string(),
    })?;
    Ok(EventEnvelope {
        sequence,
        recorded_at,
        event,
    })
}

impl JetStreamLog {
    /// Publishes events without an expected sequence (usage batches: facts, not decisions),
    /// all before awaiting their acknowledgements, so a large batch costs one round trip.
    /// Returns the last position.
    pub async fn publish_all<P: serde::Serialize>(
        &self,
        subject: &str,
        events: &[(NewEvent<P>, String)],
    ) -> Result<u64, LogError> {
        let mut acks = Vec::with_capacity(events.len());
        for (event, message_id) in events {
            let body = serde_json::to_vec(event).expect("events serialise");
            let message = PublishMessage::build()
                .payload(Bytes::from(body))
                .message_id(message_id)
                .header(HEADER_EVENT_TYPE, event.event_type.as_str())
                .header(HEADER_TENANT, event.tenant.as_str())
                .header(HEADER_AGGREGATE_TYPE, event.aggregate_type.as_str());
            let ack = self
                .context
                .send_publish(subject.to_owned(), message)
                .await
                .map_err(|e| publish_failed(subject, &e))?;
            acks.push(ack);
        }
        let mut last = 0;
        for ack in acks {
            let ack = ack.await.map_err(|e| publish_failed(subject, &e))?;
            last = last.max(ack.sequence);
        }
        Ok(last)
    }
}

/// A refused publish: a stream or store without room (JetStream's 10077 "maximum bytes
/// exceeded", 10047 "insufficient resources", or the message limit) is [`LogError::Full`], so
/// the caller is told why; anything else is the log being away.
fn publish_failed(subject: &str, e: &dyn std::fmt::Display) -> LogError {
    let text = e.to_string();
    let full = [
        "error code 10077",
        "error code 10047",
        "maximum bytes",
        "maximum messages",
        "insufficient resources",
    ]
    .iter()
    .any(|sign| text.contains(sign));
    if full {
        LogError::Full(text)
    } else {
        LogError::Unavailable(format!("publish to {subject}: {text}"))
    }
}

#[async_trait]
impl EventLog for JetStreamLog {
    async fn append(
        &self,
        subject: &str,
        event: &NewEvent,
        expected_last: u64,
        message_id: &str,
    ) -> Result<Appended, AppendError> {
        let body = serde_json::to_vec(event).expect("events serialise");
        let message = PublishMessage::build()
            .payload(Bytes::from(body))
            .message_id(message_id)
            .expected_last_subject_sequence(expected_last)
            .header(HEADER_EVENT_TYPE, event.event_type.as_str())
            .header(HEADER_TENANT, event.tenant.as_str())
            .header(HEADER_AGGREGATE_TYPE, event.aggregate_type.as_str());
        let unavailable = |e: &dyn std::fmt::Display| AppendError::Log(publish_failed(subject, e));
        let ack_future = self
            .context
            .send_publish(subject.to_owned(), message)
            .await
            .map_err(|e| unavailable(&e))?;
        match ack_future.await {
            Ok(ack) => Ok(Appended {
                sequence: ack.sequence,
                duplicate: ack.duplicate,
            }),
            Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                Err(AppendError::Conflict {
                    expected: expected_last,
                })
            }
            Err(e) => Err(unavailable(&e)),
        }
    }

    async fn read_subject(
        &self,
        subject: &str,
        after: u64,
    ) -> Result<Vec<EventEnvelope>, LogError> {
        let mut events = Vec::new();
        let mut next = after + 1;
        loop {
            match self
                .stream
                .direct_get_next_for_subject(subject, Some(next))
                .await
            {
                Ok(message) => {
                    events.push(decode_stored(
                        message.sequence,
                        message.time,
                        &message.payload,
                    )?);
                    next = message.sequence + 1;
                }
                Err(e) if matches!(e.kind(), DirectGetErrorKind::NotFound) => return Ok(events),
                Err(e) => return Err(LogError::Unavailable(format!("reading {subject}: {e}"))),
            }
        }
    }

    async fn last_sequence_of(&self, subject: &str) -> Result<u64, LogError> {
        match self.stream.direct_get_last_for_subject(subject).await {
            Ok(message) => Ok(message.sequence),
            Err(e) if matches!(e.kind(), DirectGetErrorKind::NotFound) => Ok(0),
            Err(e) => Err(LogError::Unavailable(format!("reading {subject}: {e}"))),
        }
    }

    async fn read_at(&self, sequence: u64) -> Result<Option<EventEnvelope>, LogError> {
        match self.stream.direct_get(sequence).await {
            Ok(message) => Ok(Some(decode_stored(
                message.sequence,
                message.time,
                &message.payload,
            )?)),
            Err(e) if matches!(e.kind(), DirectGetErrorKind::NotFound) => Ok(None),
            Err(e) => Err(LogError::Unavailable(format!(
                "reading sequence {sequence}: {e}"
            ))),
        }
    }

    async fn last_sequence(&self) -> Result<u64, LogError> {
        let info = self
            .stream
            .get_info()
            .await
            .map_err(|e| LogError::Unavailable(e.to_string()))?;
        Ok(info.state.last_sequence)
    }
}

/// One message of the domain stream as a projection receives it.
#[derive(Debug)]
pub struct StreamedEvent {
    pub sequence: u64,
    pub subject: String,
    /// Messages still to come after this one when it was delivered.
    pub pending: u64,
    /// The decoded envelope, or why the message is not a valid event.
    pub event: Result<EventEnvelope, LogError>,
}

/// Which aggregate types a subscriber wants decoded.
pub type Wanted = std::sync::Arc<dyn Fn(&str) -> bool + Send + Sync>;

impl JetStreamLog {
    /// Every message of the domain stream from `start` on, in order, without gaps: an ordered
    /// consumer, which the client recreates from the last delivered sequence if it breaks.
    pub async fn subscribe_from(
        &self,
        start: u64,
    ) -> Result<futures::stream::BoxStream<'static, Result<StreamedEvent, LogError>>, LogError>
    {
        self.subscribe(None, Some(start)).await
    }

    /// [`Self::subscribe_from`], decoding only the events whose aggregate type (read from the
    /// subject) `wanted` accepts; the others come as [`LogError::NotWanted`], with their
    /// sequence. Parsing every body is most of what a consumer that wants few types spends.
    pub async fn subscribe_wanted(
        &self,
        start: u64,
        wanted: Wanted,
    ) -> Result<futures::stream::BoxStream<'static, Result<StreamedEvent, LogError>>, LogError>
    {
        self.subscribe_with(None, Some(start), Some(wanted)).await
    }

    /// The messages on subjects matching `filter` (all when `None`), from sequence `start` on,
    /// or only those appended from now on when `start` is `None`.
    pub async fn subscribe(
        &self,
        filter: Option<String>,
        start: Option<u64>,
    ) -> Result<futures::stream::BoxStream<'static, Result<StreamedEvent, LogError>>, LogError>
    {
        self.subscribe_with(filter, start, None).await
    }

    async fn subscribe_with(
        &self,
        filter: Option<String>,
        start: Option<u64>,
        wanted: Option<Wanted>,
    ) -> Result<futures::stream::BoxStream<'static, Result<StreamedEvent, LogError>>, LogError>
    {
        use async_nats::jetstream::consumer::{pull::OrderedConfig, DeliverPolicy};
        use futures::StreamExt;

        let deliver_policy = match start {
            None => DeliverPolicy::New,
            Some(start) if start <= 1 => DeliverPolicy::All,
            Some(start) => DeliverPolicy::ByStartSequence {
                start_sequence: start,
            },
        };
        let consumer = self
            .stream
            .create_consumer(OrderedConfig {
                deliver_policy,
                filter_subject: filter.unwrap_or_default(),
                max_batch: self.pull_batch,
                ..Default::default()
            })
            .await
            .map_err(|e| LogError::Unavailable(format!("creating a consumer: {e}")))?;
        let messages = consumer
            .messages()
            .await
            .map_err(|e| LogError::Unavailable(format!("consuming: {e}")))?;
        Ok(messages
            .map(move |message| {
                let message = message.map_err(|e| LogError::Unavailable(e.to_string()))?;
                let info = message
                    .info()
                    .map_err(|e| LogError::Unavailable(format!("message without info: {e}")))?;
                let (sequence, pending, published) =
                    (info.stream_sequence, info.pending, info.published);
                let subject = message.subject.to_string();
                let skip = wanted.as_ref().is_some_and(|wanted| {
                    crate::subject::parse_subject(&subject)
                        .is_some_and(|parts| !wanted(parts.aggregate_type))
                });
                let event = if skip {
                    Err(LogError::NotWanted(sequence))
                } else {
                    decode_stored(sequence, published, &message.payload)
                };
                Ok(StreamedEvent {
                    sequence,
                    subject,
                    pending,
                    event,
                })
            })
            .boxed())
    }
}

impl JetStreamLog {
    /// The position of the last event recorded at or before `time` (0 if none was).
    pub async fn position_at(&self, time: chrono::DateTime<chrono::Utc>) -> Result<u64, LogError> {
        use async_nats::jetstream::consumer::{pull::OrderedConfig, DeliverPolicy};
        use futures::StreamExt;

        let state = self
            .stream
            .get_info()
            .await
            .map_err(|e| LogError::Unavailable(e.to_string()))?
            .state;
        let last = state.last_sequence;
        // Outside the stream's span the answer needs no consumer (nor its wait for a message).
        if last == 0 || time >= state.last_timestamp {
            return Ok(last);
        }
        if time < state.first_timestamp {
            return Ok(state.first_sequence.saturating_sub(1));
        }
        let consumer = self
            .stream
            .create_consumer(OrderedConfig {
                deliver_policy: DeliverPolicy::ByStartTime {
                    start_time: time + chrono::Duration::nanoseconds(1),
                },
                ..Default::default()
            })
            .await
            .map_err(|e| LogError::Unavailable(format!("creating a consumer: {e}")))?;
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| LogError::Unavailable(format!("consuming: {e}")))?;
        // The first event recorded after `time`, if any arrives before the stream's end.
        match tokio::time::timeout(std::time::Duration::from_millis(500), messages.next()).await {
            Ok(Some(Ok(message))) => {
                let info = message
                    .info()
                    .map_err(|e| LogError::Unavailable(e.to_string()))?;
                Ok(info.stream_sequence.saturating_sub(1).min(last))
            }
            _ => Ok(last),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::creation_may_pass;

    #[test]
    fn only_transient_creation_failures_are_tried_again() {
        assert!(creation_may_pass(
            "jetstream error: error creating store for stream (code 500, error code 10049)"
        ));
        assert!(creation_may_pass("request timed out"));
        assert!(!creation_may_pass(
            "jetstream error: stream name already in use with a different configuration (code 400, error code 10058)"
        ));
    }
}
