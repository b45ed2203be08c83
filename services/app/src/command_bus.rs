//! The write side: load an aggregate, decide, append with optimistic concurrency.
//!
//! Commands on one aggregate are serialised inside a process by the aggregate's cache slot (a
//! per-aggregate async lock), so concurrent requests queue instead of conflicting. Across
//! processes JetStream's expected subject sequence decides: a conflict drops the cached state,
//! reloads from the stream and decides again, a few times, then gives up with a 409.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{SubsecRound, Utc};
use fleet_domain::{Aggregate, DomainError};
use fleet_events::{
    Actor, AppendError, DomainEvent, EventEnvelope, EventLog, LogError, Namespace, NewEvent, Tenant,
};
use uuid::Uuid;

use crate::metrics::{AggregateLabel, CommandLabels, Metrics};

const MAX_ATTEMPTS: u32 = 8;
/// Past this many cached aggregates, idle entries are dropped.
const CACHE_CAPACITY: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("the aggregate kept changing concurrently ({attempts} attempts)")]
    Contended { attempts: u32 },
    #[error(transparent)]
    Log(#[from] LogError),
}

/// Who issues a command, and why.
#[derive(Debug, Clone)]
pub struct CommandMeta {
    pub tenant: Tenant,
    pub actor: Actor,
    pub correlation_id: String,
    pub causation_id: Option<String>,
    /// What makes a retry of this command the same command: it becomes the JetStream
    /// `Nats-Msg-Id`, so a retry after a crash is not stored twice. A client's key is scoped to
    /// its credential where it enters ([`CommandMeta::client_key`]); a key derived from an
    /// event is unique already.
    pub idempotency_key: Option<String>,
}

impl CommandMeta {
    /// The JetStream message id of the command's event: the idempotency key, or the event's
    /// own id.
    fn message_id(&self, event: &NewEvent) -> String {
        match &self.idempotency_key {
            Some(key) => format!("{}:{key}", self.tenant),
            None => event.event_id.to_string(),
        }
    }

    /// A client's idempotency key, scoped to the credential that sent it: two callers' keys
    /// never collide, and one caller never gets another's result.
    pub fn client_key(credential: &str, key: &str) -> String {
        format!("{credential}:{key}")
    }

    /// The same issuer and correlation, for a command that follows from this one.
    pub fn following(&self, key: String) -> Self {
        Self {
            idempotency_key: Some(key),
            ..self.clone()
        }
    }
}

/// A command's result.
#[derive(Debug, Clone)]
pub struct Executed<A> {
    /// The aggregate after the event.
    pub state: A,
    /// The event recorded: its sequence is the position to wait for on the read side.
    pub event: EventEnvelope,
    /// The same command was stored before (same idempotency key); nothing new was recorded.
    pub duplicate: bool,
}

struct Loaded {
    state: Box<dyn Any + Send + Sync>,
    version: u64,
}

type Slot = Arc<tokio::sync::Mutex<Option<Loaded>>>;

#[derive(Clone)]
pub struct CommandBus {
    log: Arc<dyn EventLog>,
    namespace: Namespace,
    cache: Arc<Mutex<HashMap<String, Slot>>>,
    metrics: Metrics,
}

impl CommandBus {
    pub fn new(log: Arc<dyn EventLog>, namespace: Namespace, metrics: Metrics) -> Self {
        Self {
            log,
            namespace,
            cache: Arc::default(),
            metrics,
        }
    }

    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    pub fn log(&self) -> &Arc<dyn EventLog> {
        &self.log
    }

    pub fn subject<A: Aggregate>(&self, tenant: &Tenant, id: &str) -> String {
        self.namespace.aggregate_subject(tenant, A::TYPE, id)
    }

    fn slot(&self, subject: &str) -> Slot {
        let mut cache = self.cache.lock().expect("cache lock poisoned");
        if cache.len() >= CACHE_CAPACITY && !cache.contains_key(subject) {
            cache.retain(|_, slot| Arc::strong_count(slot) > 1);
        }
        cache.entry(subject.to_owned()).or_default().clone()
    }

    /// Rebuilds an aggregate from its history: its state and the sequence of its last event.
    pub async fn load<A: Aggregate>(&self, subject: &str) -> Result<(A, u64), LogError> {
        let events = self.log.read_subject(subject, 0).await?;
        let mut state = A::default();
        let mut version = 0;
        for envelope in &events {
            let event = envelope
                .decode::<A::Event>()
                .map_err(|e| LogError::Corrupt {
                    sequence: envelope.sequence,
                    reason: e.to_string(),
                })?;
            state.evolve(&event);
            version = envelope.sequence;
        }
        Ok((state, version))
    }

    /// The aggregate's current state, for checks that read another aggregate before a command:
    /// the cached state if the stream confirms it is still the latest (one round trip for the
    /// subject's last sequence, whichever process changed it), else loaded and cached.
    pub async fn state<A: Aggregate>(&self, tenant: &Tenant, id: &str) -> Result<A, LogError> {
        Ok(self.state_and_version::<A>(tenant, id).await?.0)
    }

    /// [`CommandBus::state`] with the sequence of the aggregate's last event.
    pub async fn state_and_version<A: Aggregate>(
        &self,
        tenant: &Tenant,
        id: &str,
    ) -> Result<(A, u64), LogError> {
        let subject = self.subject::<A>(tenant, id);
        let slot = self.slot(&subject);
        let mut cached = slot.lock().await;
        if let Some(Loaded { state, version }) = cached.as_ref() {
            if let Some(state) = state.downcast_ref::<A>() {
                if self.log.last_sequence_of(&subject).await? == *version {
                    return Ok((state.clone(), *version));
                }
            }
        }
        let (state, version) = self.load::<A>(&subject).await?;
        *cached = Some(Loaded {
            state: Box::new(state.clone()),
            version,
        });
        Ok((state, version))
    }

    pub async fn execute<A: Aggregate>(
        &self,
        meta: &CommandMeta,
        id: &str,
        command: A::Command,
    ) -> Result<Executed<A>, CommandError> {
        self.run::<A>(meta, id, command, false).await
    }

    /// Executes a command on an aggregate whose id this process has just minted, so it skips
    /// reading an empty history. Should the id exist after all, the append's expected sequence
    /// 0 is refused, the history is loaded and the command decided again.
    pub async fn execute_on_new<A: Aggregate>(
        &self,
        meta: &CommandMeta,
        id: &str,
        command: A::Command,
    ) -> Result<Executed<A>, CommandError> {
        self.run::<A>(meta, id, command, true).await
    }

    async fn run<A: Aggregate>(
        &self,
        meta: &CommandMeta,
        id: &str,
        command: A::Command,
        new: bool,
    ) -> Result<Executed<A>, CommandError> {
        let result = self.execute_inner::<A>(meta, id, &command, new).await;
        let outcome = match &result {
            Ok(executed) if executed.duplicate => "duplicate",
            Ok(_) => "accepted",
            Err(CommandError::Domain(_)) => "rejected",
            Err(CommandError::Contended { .. }) => "contended",
            Err(CommandError::Log(_)) => "failed",
        };
        self.metrics
            .commands
            .get_or_create(&CommandLabels {
                aggregate: A::TYPE.to_owned(),
                outcome,
            })
            .inc();
        result
    }

    async fn execute_inner<A: Aggregate>(
        &self,
        meta: &CommandMeta,
        id: &str,
        command: &A::Command,
        new: bool,
    ) -> Result<Executed<A>, CommandError> {
        let subject = self.subject::<A>(&meta.tenant, id);
        let slot = self.slot(&subject);
        let mut cached = slot.lock().await;
        if new && cached.is_none() {
            *cached = Some(Loaded {
                state: Box::new(A::default()),
                version: 0,
            });
        }
        let label = AggregateLabel {
            aggregate: A::TYPE.to_owned(),
        };
        // Creates the series at 0, so that dashboards see "no conflicts" rather than nothing.
        drop(self.metrics.append_conflicts.get_or_create(&label));
        for attempt in 1..=MAX_ATTEMPTS {
            let (mut state, version, from_cache) = match cached.take() {
                Some(Loaded { state, version }) => match state.downcast::<A>() {
                    Ok(state) => (*state, version, true),
                    Err(_) => {
                        let (state, version) = self.load::<A>(&subject).await?;
                        (state, version, false)
                    }
                },
                None => {
                    let (state, version) = self.load::<A>(&subject).await?;
                    (state, version, false)
                }
            };
            let event = match state.decide(command) {
                Ok(event) => event,
                Err(refusal) => {
                    // A cached state may be behind another process's change: a refusal is
                    // only given once the stream confirms the state it was decided on.
                    if from_cache && self.log.last_sequence_of(&subject).await? != version {
                        continue;
                    }
                    *cached = Some(Loaded {
                        state: Box::new(state),
                        version,
                    });
                    return Err(refusal.into());
                }
            };
            let new_event = self.envelope::<A>(meta, id, &event);
            let message_id = meta.message_id(&new_event);
            let started = Instant::now();
            let appended = self
                .log
                .append(&subject, &new_event, version, &message_id)
                .await;
            self.metrics
                .append_seconds
                .get_or_create(&label)
                .observe(started.elapsed().as_secs_f64());
            match appended {
                Ok(appended) if !appended.duplicate => {
                    state.evolve(&event);
                    *cached = Some(Loaded {
                        state: Box::new(state.clone()),
                        version: appended.sequence,
                    });
                    return Ok(Executed {
                        state,
                        event: EventEnvelope {
                            sequence: appended.sequence,
                            recorded_at: Utc::now(),
                            event: new_event,
                        },
                        duplicate: false,
                    });
                }
                Ok(appended) => return self.original::<A>(appended.sequence).await,
                Err(AppendError::Conflict { .. }) => {
                    self.metrics.append_conflicts.get_or_create(&label).inc();
                    // Another process got there first: reload and decide again after a short,
                    // jittered pause so that contenders spread out.
                    let ceiling = 1u64 << attempt.min(6);
                    let pause = rand::random_range(0..=ceiling);
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
                Err(AppendError::Log(e)) => return Err(e.into()),
            }
        }
        Err(CommandError::Contended {
            attempts: MAX_ATTEMPTS,
        })
    }

    /// A retried command whose first attempt was stored: answer with what was stored then.
    /// The original may be on another subject (a create retried with a fresh id).
    async fn original<A: Aggregate>(&self, sequence: u64) -> Result<Executed<A>, CommandError> {
        let original = self
            .log
            .read_at(sequence)
            .await?
            .ok_or_else(|| LogError::Corrupt {
                sequence,
                reason: "the deduplicated original is missing".into(),
            })?;
        let tenant = Tenant::parse(&original.event.tenant).map_err(|e| LogError::Corrupt {
            sequence,
            reason: e.to_string(),
        })?;
        let subject = self.subject::<A>(&tenant, &original.event.aggregate_id);
        let (state, _) = self.load::<A>(&subject).await?;
        Ok(Executed {
            state,
            event: original,
            duplicate: true,
        })
    }

    fn envelope<A: Aggregate>(&self, meta: &CommandMeta, id: &str, event: &A::Event) -> NewEvent {
        new_event(
            meta,
            A::TYPE,
            id,
            event.to_parts(),
            A::Event::SCHEMA_VERSION,
        )
    }
}

/// An event as `meta`'s issuer records it: the one place that fills in an envelope.
pub fn new_event<P>(
    meta: &CommandMeta,
    aggregate_type: &str,
    aggregate_id: &str,
    (event_type, payload): (String, P),
    schema_version: u32,
) -> NewEvent<P> {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type,
        schema_version,
        tenant: meta.tenant.to_string(),
        aggregate_type: aggregate_type.to_owned(),
        aggregate_id: aggregate_id.to_owned(),
        // PostgreSQL keeps microseconds: so does the event, so that every read model and
        // every replay shows the same instant.
        occurred_at: Utc::now().trunc_subsecs(6),
        actor: meta.actor.clone(),
        correlation_id: meta.correlation_id.clone(),
        causation_id: meta.causation_id.clone(),
        payload,
    }
}

#[cfg(test)]
mod tests {
    use fleet_domain::instance::{Instance, InstanceCommand, InstanceSpec, InstanceStatus};
    use fleet_events::memory::InMemoryLog;
    use prometheus_client::registry::Registry;

    use super::*;

    fn bus() -> CommandBus {
        CommandBus::new(
            Arc::new(InMemoryLog::default()),
            Namespace::parse("test").unwrap(),
            Metrics::register(&mut Registry::default()),
        )
    }

    fn meta(key: Option<&str>) -> CommandMeta {
        CommandMeta {
            tenant: Tenant::parse("acme").unwrap(),
            actor: Actor::system("test"),
            correlation_id: "c-1".into(),
            causation_id: None,
            idempotency_key: key.map(str::to_owned),
        }
    }

    fn create() -> InstanceCommand {
        InstanceCommand::Create {
            spec: Box::new(InstanceSpec {
                name: None,
                service_id: "s".into(),
                plan_id: "p".into(),
                cloud_provider: "aws".into(),
                region: "r".into(),
                deployment_cell: "c".into(),
                instance_type: "t".into(),
                environment_type: "DEV".into(),
                customer_id: None,
                subscription_id: None,
                restored_from: None,
                adopted: false,
                tier_version: None,
            }),
            capacity: 1,
        }
    }

    #[tokio::test]
    async fn concurrent_commands_on_one_aggregate_all_land() {
        let bus = bus();
        bus.execute::<Instance>(&meta(None), "i-1", create())
            .await
            .unwrap();
        bus.execute::<Instance>(&meta(None), "i-1", InstanceCommand::MarkReady)
            .await
            .unwrap();
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let bus = bus.clone();
                tokio::spawn(async move {
                    bus.execute::<Instance>(
                        &meta(None),
                        "i-1",
                        InstanceCommand::ChangeCapacity { delta: 1 },
                    )
                    .await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let (state, version) = bus
            .load::<Instance>(&bus.subject::<Instance>(&Tenant::parse("acme").unwrap(), "i-1"))
            .await
            .unwrap();
        assert_eq!(state.capacity, 51);
        assert_eq!(version, 52, "one event per accepted command");
    }

    #[tokio::test]
    async fn a_retried_command_with_the_same_key_is_stored_once() {
        let bus = bus();
        let first = bus
            .execute::<Instance>(&meta(Some("k1")), "i-1", create())
            .await
            .unwrap();
        // The retry carries a fresh id, as a create handler generates one per request.
        let retry = bus
            .execute::<Instance>(&meta(Some("k1")), "i-2", create())
            .await
            .unwrap();
        assert!(retry.duplicate);
        assert_eq!(retry.event.sequence, first.event.sequence);
        assert_eq!(retry.event.event.aggregate_id, "i-1");
        assert_eq!(retry.state.status, InstanceStatus::Deploying);
        assert_eq!(bus.log().last_sequence().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_cached_state_is_not_trusted_once_another_process_moved_on() {
        let log: Arc<dyn EventLog> = Arc::new(InMemoryLog::default());
        let metrics = Metrics::register(&mut Registry::default());
        let ns = Namespace::parse("test").unwrap();
        let here = CommandBus::new(log.clone(), ns.clone(), metrics.clone());
        let elsewhere = CommandBus::new(log, ns, metrics);
        let tenant = Tenant::parse("acme").unwrap();
        here.execute::<Instance>(&meta(None), "i-1", create())
            .await
            .unwrap();
        let before = here.state::<Instance>(&tenant, "i-1").await.unwrap();
        assert_eq!(before.status, InstanceStatus::Deploying);
        elsewhere
            .execute::<Instance>(&meta(None), "i-1", InstanceCommand::MarkReady)
            .await
            .unwrap();
        let after = here.state::<Instance>(&tenant, "i-1").await.unwrap();
        assert_eq!(after.status, InstanceStatus::Running);
    }

    #[tokio::test]
    async fn a_refusal_is_never_decided_on_a_state_another_process_moved_past() {
        let log: Arc<dyn EventLog> = Arc::new(InMemoryLog::default());
        let metrics = Metrics::register(&mut Registry::default());
        let ns = Namespace::parse("test").unwrap();
        let here = CommandBus::new(log.clone(), ns.clone(), metrics.clone());
        let elsewhere = CommandBus::new(log, ns, metrics);
        here.execute::<Instance>(&meta(None), "i-1", create())
            .await
            .unwrap();
        here.execute::<Instance>(&meta(None), "i-1", InstanceCommand::MarkReady)
            .await
            .unwrap();
        elsewhere
            .execute::<Instance>(&meta(None), "i-1", InstanceCommand::Stop)
            .await
            .unwrap();
        // Here the cache still says running, where a start is refused.
        let started = here
            .execute::<Instance>(&meta(None), "i-1", InstanceCommand::Start)
            .await
            .unwrap();
        assert_eq!(started.state.status, InstanceStatus::Running);
    }

    #[tokio::test]
    async fn refusals_record_nothing() {
        let bus = bus();
        let err = bus
            .execute::<Instance>(&meta(None), "i-1", InstanceCommand::Start)
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            CommandError::Domain(DomainError::NotFound { .. })
        ));
        assert_eq!(bus.log().last_sequence().await.unwrap(), 0);
    }
}
