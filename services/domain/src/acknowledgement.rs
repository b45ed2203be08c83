//! The acknowledgement aggregate: an end-customer event the provider has seen. Its id is the
//! event's, so an event is acknowledged once; a second acknowledgement is refused.

pub use fleet_events::acknowledgement::AcknowledgementEvent;

use crate::{Aggregate, DomainError};

#[derive(Debug, Clone)]
pub struct Acknowledge {
    pub event_type: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acknowledgement {
    pub acknowledged: bool,
}

impl Aggregate for Acknowledgement {
    const TYPE: &'static str = fleet_events::acknowledgement::AGGREGATE_TYPE;
    type Command = Acknowledge;
    type Event = AcknowledgementEvent;

    fn decide(&self, command: &Acknowledge) -> Result<AcknowledgementEvent, DomainError> {
        if self.acknowledged {
            return Err(DomainError::InvalidState {
                aggregate: "event",
                action: "acknowledge",
                state: "acknowledged".into(),
            });
        }
        Ok(AcknowledgementEvent::EventAcknowledged {
            event_type: command.event_type.clone(),
        })
    }

    fn evolve(&mut self, _: &AcknowledgementEvent) {
        self.acknowledged = true;
    }

    fn exists(&self) -> bool {
        self.acknowledged
    }
}
