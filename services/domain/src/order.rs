//! The order aggregate: a reviewable request to create, update or terminate a marketplace
//! resource.
//!
//! ```text
//! place ─► pending-consumer ──approve_by_consumer──► pending-provider ──approve_by_provider──► executing
//!               │ reject / cancel                       │ reject / cancel   set_state_executing ─┘ │
//!               ▼                                       ▼                                         ▼
//!           rejected | canceled                rejected | canceled                   done (set_state_done)
//! (any pending or executing) ──set_state_erred──► erred
//! ```
//! done, erred, canceled and rejected are final.

pub use fleet_events::order::{OrderEvent, OrderRequest};

use crate::resource::{CREATE, TERMINATE, UPDATE};
use crate::{validate, Aggregate, DomainError};

pub const PENDING_CONSUMER: &str = "pending-consumer";
pub const PENDING_PROVIDER: &str = "pending-provider";
pub const EXECUTING: &str = "executing";
pub const DONE: &str = "done";
pub const ERRED: &str = "erred";
pub const CANCELED: &str = "canceled";
pub const REJECTED: &str = "rejected";

pub const STATES: [&str; 7] = [
    PENDING_CONSUMER,
    PENDING_PROVIDER,
    EXECUTING,
    DONE,
    ERRED,
    CANCELED,
    REJECTED,
];

#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum OrderCommand {
    /// `consumer_review`: the offering wants the consumer to approve first.
    Place {
        request: OrderRequest,
        consumer_review: bool,
    },
    ApproveByConsumer,
    RejectByConsumer,
    ApproveByProvider,
    RejectByProvider,
    StartExecution,
    Complete,
    Fail {
        error_message: String,
        error_traceback: String,
    },
    Cancel,
    SetBackendId(String),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Order {
    pub request: Option<OrderRequest>,
    pub state: &'static str,
    pub backend_id: String,
}

fn state_named(name: &str) -> &'static str {
    STATES
        .into_iter()
        .find(|s| *s == name)
        .unwrap_or(PENDING_PROVIDER)
}

impl Order {
    fn refuse(&self, action: &'static str) -> DomainError {
        DomainError::InvalidState {
            aggregate: "order",
            action,
            state: self.state.into(),
        }
    }

    fn require(&self, action: &'static str, from: &[&str]) -> Result<(), DomainError> {
        if from.contains(&self.state) {
            Ok(())
        } else {
            Err(self.refuse(action))
        }
    }
}

impl Aggregate for Order {
    const TYPE: &'static str = fleet_events::order::AGGREGATE_TYPE;
    type Command = OrderCommand;
    type Event = OrderEvent;

    fn decide(&self, command: &OrderCommand) -> Result<OrderEvent, DomainError> {
        use OrderCommand as C;
        if let C::Place {
            request,
            consumer_review,
        } = command
        {
            if self.exists() {
                return Err(DomainError::AlreadyExists {
                    aggregate: Self::TYPE,
                });
            }
            validate::one_of("type", &request.kind, &[CREATE, UPDATE, TERMINATE])?;
            validate::optional("request_comment", request.request_comment.as_deref(), 2000)?;
            validate::optional("callback_url", request.callback_url.as_deref(), 2000)?;
            let state = if *consumer_review {
                PENDING_CONSUMER
            } else {
                PENDING_PROVIDER
            };
            return Ok(OrderEvent::OrderPlaced {
                request: request.clone(),
                state: state.into(),
            });
        }
        if !self.exists() {
            return Err(DomainError::NotFound { aggregate: "order" });
        }
        let pending = [PENDING_CONSUMER, PENDING_PROVIDER];
        Ok(match command {
            C::Place { .. } => unreachable!("handled above"),
            C::ApproveByConsumer => {
                self.require("approve (as consumer)", &[PENDING_CONSUMER])?;
                OrderEvent::OrderApprovedByConsumer {}
            }
            C::RejectByConsumer => {
                self.require("reject (as consumer)", &[PENDING_CONSUMER])?;
                OrderEvent::OrderRejected {
                    by: "consumer".into(),
                }
            }
            C::ApproveByProvider => {
                self.require("approve (as provider)", &[PENDING_PROVIDER])?;
                OrderEvent::OrderApprovedByProvider {}
            }
            C::RejectByProvider => {
                self.require("reject (as provider)", &[PENDING_PROVIDER])?;
                OrderEvent::OrderRejected {
                    by: "provider".into(),
                }
            }
            C::StartExecution => {
                self.require("start executing", &[PENDING_PROVIDER])?;
                OrderEvent::OrderExecutionStarted {}
            }
            C::Complete => {
                self.require("set as done", &[EXECUTING])?;
                OrderEvent::OrderCompleted {}
            }
            C::Fail {
                error_message,
                error_traceback,
            } => {
                self.require(
                    "set as erred",
                    &[PENDING_CONSUMER, PENDING_PROVIDER, EXECUTING],
                )?;
                OrderEvent::OrderFailed {
                    error_message: error_message.clone(),
                    error_traceback: error_traceback.clone(),
                }
            }
            C::Cancel => {
                self.require("cancel", &pending)?;
                OrderEvent::OrderCanceled {}
            }
            C::SetBackendId(backend_id) => {
                validate::optional("backend_id", Some(backend_id), 255)?;
                if *backend_id == self.backend_id {
                    return Err(DomainError::Unchanged {
                        detail: "Order backend_id is not changed.".into(),
                    });
                }
                OrderEvent::OrderBackendIdSet {
                    backend_id: backend_id.clone(),
                }
            }
        })
    }

    fn evolve(&mut self, event: &OrderEvent) {
        use OrderEvent as E;
        match event {
            E::OrderPlaced { request, state } => {
                self.request = Some(request.clone());
                self.state = state_named(state);
            }
            E::OrderApprovedByConsumer {} => self.state = PENDING_PROVIDER,
            E::OrderApprovedByProvider {} | E::OrderExecutionStarted {} => self.state = EXECUTING,
            E::OrderRejected { .. } => self.state = REJECTED,
            E::OrderCompleted {} => self.state = DONE,
            E::OrderFailed { .. } => self.state = ERRED,
            E::OrderCanceled {} => self.state = CANCELED,
            E::OrderBackendIdSet { backend_id } => self.backend_id = backend_id.clone(),
        }
    }

    fn exists(&self) -> bool {
        self.request.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn placed(consumer_review: bool) -> Order {
        let mut order = Order::default();
        let event = order
            .decide(&OrderCommand::Place {
                request: OrderRequest {
                    kind: CREATE.into(),
                    resource_id: "r".into(),
                    offering_id: "o".into(),
                    project_id: "p".into(),
                    customer_id: "c".into(),
                    plan_id: None,
                    attributes: Value::Null,
                    limits: None,
                    options: None,
                    request_comment: None,
                    callback_url: None,
                    resource_name: Some("r".into()),
                },
                consumer_review,
            })
            .unwrap();
        order.evolve(&event);
        order
    }

    fn after(mut order: Order, commands: &[OrderCommand]) -> Order {
        for command in commands {
            let event = order.decide(command).unwrap();
            order.evolve(&event);
        }
        order
    }

    fn in_state(state: &str) -> Order {
        use OrderCommand as C;
        match state {
            PENDING_CONSUMER => placed(true),
            PENDING_PROVIDER => placed(false),
            EXECUTING => after(placed(false), &[C::ApproveByProvider]),
            DONE => after(placed(false), &[C::ApproveByProvider, C::Complete]),
            ERRED => after(
                placed(false),
                &[C::Fail {
                    error_message: "x".into(),
                    error_traceback: String::new(),
                }],
            ),
            CANCELED => after(placed(false), &[C::Cancel]),
            _ => after(placed(false), &[C::RejectByProvider]),
        }
    }

    #[test]
    fn every_illegal_transition_is_refused_with_the_state() {
        use OrderCommand as C;
        let fail = C::Fail {
            error_message: "e".into(),
            error_traceback: String::new(),
        };
        let cases: Vec<(OrderCommand, &[&str], &str)> = vec![
            (C::ApproveByConsumer, &[PENDING_CONSUMER], PENDING_PROVIDER),
            (C::RejectByConsumer, &[PENDING_CONSUMER], REJECTED),
            (C::ApproveByProvider, &[PENDING_PROVIDER], EXECUTING),
            (C::RejectByProvider, &[PENDING_PROVIDER], REJECTED),
            (C::StartExecution, &[PENDING_PROVIDER], EXECUTING),
            (C::Complete, &[EXECUTING], DONE),
            (
                fail,
                &[PENDING_CONSUMER, PENDING_PROVIDER, EXECUTING],
                ERRED,
            ),
            (C::Cancel, &[PENDING_CONSUMER, PENDING_PROVIDER], CANCELED),
        ];
        for (command, allowed, target) in cases {
            for state in STATES {
                let order = in_state(state);
                assert_eq!(order.state, state);
                match order.decide(&command) {
                    Ok(event) if allowed.contains(&state) => {
                        let mut next = order.clone();
                        next.evolve(&event);
                        assert_eq!(next.state, target, "{command:?} from {state}");
                    }
                    Err(DomainError::InvalidState { state: s, .. })
                        if !allowed.contains(&state) =>
                    {
                        assert_eq!(s, state)
                    }
                    other => panic!("{command:?} from {state}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn an_offering_with_consumer_review_starts_pending_consumer() {
        assert_eq!(placed(true).state, PENDING_CONSUMER);
        assert_eq!(placed(false).state, PENDING_PROVIDER);
    }
}
