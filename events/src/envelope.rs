//! The envelope every event travels in.
//!
//! On the wire (the JetStream message body) an event is a [`NewEvent`] as JSON. The stream adds
//! what only it knows, the sequence and the time it stored the message, which a reader gets back
//! as an [`EventEnvelope`].

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Who caused an event, as it was at the time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Actor {
    /// The credential's principal: an API key id, a JWT subject, or `system`.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub role: String,
    /// `api_key`, `jwt` or `system`.
    pub auth_method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

impl Actor {
    /// Fleetledger itself: schedulers and process managers.
    pub fn system(component: &str) -> Self {
        Self {
            id: "system".into(),
            name: Some(component.into()),
            role: "system".into(),
            auth_method: "system".into(),
            credential_id: None,
            ip: None,
            user_agent: None,
        }
    }
}

/// An event about to be appended. Its payload is a JSON tree, except where a large one is
/// written straight from the records it holds (`P` borrows them): the bytes are the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NewEvent<P = Value> {
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    pub tenant: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub occurred_at: DateTime<Utc>,
    pub actor: Actor,
    pub correlation_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
    pub payload: P,
}

/// An event as stored: the appended [`NewEvent`] plus its stream sequence and storage time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EventEnvelope {
    pub sequence: u64,
    pub recorded_at: DateTime<Utc>,
    #[serde(flatten)]
    pub event: NewEvent,
}

#[derive(Debug, thiserror::Error)]
pub enum EventDecodeError {
    #[error("unknown event type {event_type} (schema version {schema_version})")]
    UnknownType {
        event_type: String,
        schema_version: u32,
    },
    #[error("event {event_type} v{schema_version} has an invalid payload: {source}")]
    InvalidPayload {
        event_type: String,
        schema_version: u32,
        source: serde_json::Error,
    },
}

/// The events of one aggregate: a serde enum whose variants are the event types.
///
/// The enum is (de)serialised adjacently tagged (`{"type": …, "data": …}`) so that the variant
/// name becomes the envelope's `event_type` and its fields the `payload`.
pub trait DomainEvent: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The schema version that this code writes. Older versions are upcast on read.
    const SCHEMA_VERSION: u32 = 1;

    /// Turns an older payload into the current shape. Events are never rewritten in the
    /// stream; they are upgraded each time they are read.
    fn upcast(_event_type: &str, _schema_version: u32, payload: Value) -> Value {
        payload
    }

    fn event_type(&self) -> String {
        self.to_parts().0
    }

    fn to_parts(&self) -> (String, Value) {
        match serde_json::to_value(self) {
            Ok(Value::Object(mut map)) => {
                let event_type = match map.remove("type") {
                    Some(Value::String(s)) => s,
                    _ => unreachable!("domain events are adjacently tagged with \"type\""),
                };
                (event_type, map.remove("data").unwrap_or(Value::Null))
            }
            _ => unreachable!("domain events serialise to an object"),
        }
    }

    fn from_parts(
        event_type: &str,
        schema_version: u32,
        payload: &Value,
    ) -> Result<Self, EventDecodeError> {
        let upcast;
        let payload = if schema_version == Self::SCHEMA_VERSION {
            payload
        } else {
            upcast = Self::upcast(event_type, schema_version, payload.clone());
            &upcast
        };
        // Deserialise straight from the borrowed payload, as if it were `{"type", "data"}`:
        // projections decode every event, so no copy of the payload is made on this path.
        let tag = Value::String(event_type.to_owned());
        let entries = [("type", &tag), ("data", payload)];
        let map =
            serde::de::value::MapDeserializer::<_, serde_json::Error>::new(entries.into_iter());
        Self::deserialize(map).map_err(|source| {
            if source.to_string().starts_with("unknown variant") {
                EventDecodeError::UnknownType {
                    event_type: event_type.to_owned(),
                    schema_version,
                }
            } else {
                EventDecodeError::InvalidPayload {
                    event_type: event_type.to_owned(),
                    schema_version,
                    source,
                }
            }
        })
    }
}

impl EventEnvelope {
    pub fn decode<E: DomainEvent>(&self) -> Result<E, EventDecodeError> {
        E::from_parts(
            &self.event.event_type,
            self.event.schema_version,
            &self.event.payload,
        )
    }
}
