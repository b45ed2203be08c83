//! The aggregates of Fleetledger. Each file holds one aggregate: its state, its commands, a pure
//! `decide` (command + state -> event or refusal) and `evolve` (state + event -> state).
//! Nothing here does I/O; the command bus in `fleet-app` loads, decides and appends.

pub mod account_config;
pub mod acknowledgement;
pub mod billing;
pub mod custom_dns;
pub mod customer;
pub mod host_cluster;
pub mod inbound_hook;
pub mod instance;
pub mod invoice;
pub mod money;
pub mod network_space;
pub mod notification_channel;
pub mod offering;
pub mod onboarding;
pub mod orchestration;
pub mod order;
pub mod price_book;
pub mod project;
pub mod rating;
pub mod resource;
pub mod snapshot;
pub mod subscription;
pub mod subscription_request;
pub mod upgrade_path;
pub mod user;
pub mod validate;
pub mod vocabulary;
pub mod workflow;

use fleet_events::DomainEvent;

/// An event-sourced aggregate.
pub trait Aggregate: Default + Clone + Send + Sync + 'static {
    /// The aggregate's token in subjects and envelopes (`instance`).
    const TYPE: &'static str;
    type Command: Send + Sync;
    type Event: DomainEvent;

    /// Decides what a command means in the current state. One command is one event: a command
    /// that must record several facts records them in one event, so it is one atomic append.
    fn decide(&self, command: &Self::Command) -> Result<Self::Event, DomainError>;

    /// Applies an event. It must not fail: the event is a fact already recorded.
    fn evolve(&mut self, event: &Self::Event);

    /// Whether the aggregate exists (has been created and not erased).
    fn exists(&self) -> bool;
}

/// Why a command was refused. The API maps these to 404, 409 and 422.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("{aggregate} not found")]
    NotFound { aggregate: &'static str },
    #[error("{aggregate} already exists")]
    AlreadyExists { aggregate: &'static str },
    /// An illegal transition: the command is not allowed in the current state.
    #[error("cannot {action} the {aggregate}: it is {state}")]
    InvalidState {
        aggregate: &'static str,
        action: &'static str,
        state: String,
    },
    /// A business rule the command breaks, with the field it concerns.
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// A limit of the aggregate is reached (a subscription's `max_instances`): the command may
    /// succeed later, once there is room.
    #[error("{detail}")]
    LimitReached { limit: &'static str, detail: String },
    /// The command asks for what already is (the same slug, an order step already applied):
    /// nothing is recorded. Callers that retry (agents, process managers) treat it as done.
    #[error("{detail}")]
    Unchanged { detail: String },
}

impl DomainError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

/// Runs commands in order from a fresh aggregate, applying each accepted event: the final
/// state and the last command's result. For tests of `decide` and `evolve` together.
#[cfg(test)]
pub(crate) fn run_commands<A: Aggregate>(
    commands: &[A::Command],
) -> (A, Result<A::Event, DomainError>) {
    let mut state = A::default();
    let mut last = Err(DomainError::NotFound { aggregate: "none" });
    for command in commands {
        last = state.decide(command);
        if let Ok(event) = &last {
            state.evolve(event);
        }
    }
    (state, last)
}

/// Rebuilds an aggregate from its history.
pub fn replay<'a, A: Aggregate>(events: impl IntoIterator<Item = &'a A::Event>) -> A {
    let mut state = A::default();
    for event in events {
        state.evolve(event);
    }
    state
}
