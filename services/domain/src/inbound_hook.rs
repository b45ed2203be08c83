//! The inbound-hook aggregate: one delivery of a signed webhook from an outside producer,
//! recorded once however often it is sent.

pub use fleet_events::inbound_hook::InboundHookEvent;

use crate::{Aggregate, DomainError};

/// The largest event data kept, in bytes of JSON.
pub const MAX_DATA_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct Receive {
    pub producer: String,
    pub data: serde_json::Value,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboundHook {
    pub received: bool,
}

impl Aggregate for InboundHook {
    const TYPE: &'static str = fleet_events::inbound_hook::AGGREGATE_TYPE;
    type Command = Receive;
    type Event = InboundHookEvent;

    fn decide(&self, command: &Receive) -> Result<InboundHookEvent, DomainError> {
        if self.received {
            return Err(DomainError::Unchanged {
                detail: "this delivery is recorded already".into(),
            });
        }
        if command.data.to_string().len() > MAX_DATA_BYTES {
            return Err(DomainError::invalid(
                "body",
                format!("the event data is over {MAX_DATA_BYTES} bytes"),
            ));
        }
        Ok(InboundHookEvent::WebhookReceived {
            producer: command.producer.clone(),
            data: command.data.clone(),
        })
    }

    fn evolve(&mut self, _: &InboundHookEvent) {
        self.received = true;
    }

    fn exists(&self) -> bool {
        self.received
    }
}
