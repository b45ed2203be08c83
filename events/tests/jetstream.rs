//! The JetStream event log against a real NATS server: concurrency and deduplication rules.

use chrono::Utc;
use fleet_events::jetstream::{JetStreamLog, StreamSettings};
use fleet_events::{Actor, AppendError, EventLog, Namespace, NewEvent};
use uuid::Uuid;

struct Scratch {
    log: JetStreamLog,
    namespace: Namespace,
}

impl Scratch {
    async fn new() -> Self {
        let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
        let client = async_nats::connect(url).await.expect("NATS is reachable");
        let namespace =
            Namespace::parse(&format!("ev{}", &Uuid::new_v4().simple().to_string()[..10])).unwrap();
        let log = JetStreamLog::open(client, &namespace, &StreamSettings::default())
            .await
            .expect("stream");
        Self { log, namespace }
    }

    fn event(&self, id: &str, n: i64) -> NewEvent {
        NewEvent {
            event_id: Uuid::now_v7(),
            event_type: "Counted".into(),
            schema_version: 1,
            tenant: "acme".into(),
            aggregate_type: "counter".into(),
            aggregate_id: id.into(),
            occurred_at: Utc::now(),
            actor: Actor::system("test"),
            correlation_id: "c".into(),
            causation_id: None,
            payload: serde_json::json!({ "n": n }),
        }
    }

    fn subject(&self, id: &str) -> String {
        format!("{}.acme.counter.{id}", self.namespace)
    }
}

#[tokio::test]
async fn appends_check_the_subject_sequence_and_deduplicate_message_ids() {
    let s = Scratch::new().await;
    let (a, b) = (s.subject("a"), s.subject("b"));
    let first = s.log.append(&a, &s.event("a", 1), 0, "m1").await.unwrap();
    assert_eq!((first.sequence, first.duplicate), (1, false));
    // b's history is independent of a's.
    let other = s.log.append(&b, &s.event("b", 1), 0, "m2").await.unwrap();
    assert_eq!(other.sequence, 2);
    // A stale decision about a is refused...
    let stale = s.log.append(&a, &s.event("a", 2), 0, "m3").await;
    assert!(matches!(stale, Err(AppendError::Conflict { expected: 0 })));
    // ...a current one lands.
    let second = s.log.append(&a, &s.event("a", 2), 1, "m4").await.unwrap();
    assert_eq!(second.sequence, 3);
    // A retried message id is not stored again, whatever it expects.
    let retry = s.log.append(&a, &s.event("a", 2), 1, "m4").await.unwrap();
    assert_eq!((retry.sequence, retry.duplicate), (3, true));

    let history = s.log.read_subject(&a, 0).await.unwrap();
    let ns: Vec<i64> = history
        .iter()
        .map(|e| e.event.payload["n"].as_i64().unwrap())
        .collect();
    assert_eq!(ns, [1, 2]);
    assert_eq!(history[1].sequence, 3);
    assert_eq!(s.log.read_subject(&a, 1).await.unwrap().len(), 1);
    assert_eq!(
        s.log.read_at(2).await.unwrap().unwrap().event.aggregate_id,
        "b"
    );
    assert!(s.log.read_at(99).await.unwrap().is_none());
    assert_eq!(s.log.last_sequence().await.unwrap(), 3);
    s.log.delete_stream().await.unwrap();
}

#[tokio::test]
async fn the_last_sequence_of_a_wildcard_is_that_of_its_newest_subject() {
    let s = Scratch::new().await;
    s.log
        .append(&s.subject("a"), &s.event("a", 1), 0, "w1")
        .await
        .unwrap();
    let b = s
        .log
        .append(&s.subject("b"), &s.event("b", 1), 0, "w2")
        .await
        .unwrap();
    let elsewhere = format!("{}.globex.counter.c", s.namespace);
    s.log
        .append(&elsewhere, &s.event("c", 1), 0, "w3")
        .await
        .unwrap();
    let all_of_acme = format!("{}.acme.counter.*", s.namespace);
    assert_eq!(
        s.log.last_sequence_of(&all_of_acme).await.unwrap(),
        b.sequence
    );
    let none = format!("{}.initech.counter.*", s.namespace);
    assert_eq!(s.log.last_sequence_of(&none).await.unwrap(), 0);
    s.log.delete_stream().await.unwrap();
}
