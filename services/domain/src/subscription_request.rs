//! The subscription request aggregate: a customer asks, the provider decides.
//!
//! ```text
//! create ─► pending ──approve──► approved (a process manager creates the subscription)
//!                   ──deny─────► denied
//!                   ──cancel───► cancelled
//! ```

use fleet_events::subscription::SubscriptionTerms;
pub use fleet_events::subscription_request::SubscriptionRequestEvent;

use crate::{validate, Aggregate, DomainError};

#[derive(Debug, Clone)]
pub enum SubscriptionRequestCommand {
    Create {
        customer_id: String,
        service_id: String,
        plan_id: String,
        requested_by_user_id: Option<String>,
    },
    /// `subscription_id` is minted by the caller; `subscription` holds the terms granted
    /// (their customer, service and plan must be the request's).
    Approve {
        subscription_id: String,
        subscription: SubscriptionTerms,
    },
    Deny {
        reason: String,
    },
    Cancel,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestedSubscription {
    pub customer_id: String,
    pub service_id: String,
    pub plan_id: String,
    pub requested_by_user_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriptionRequest {
    pub requested: Option<RequestedSubscription>,
    /// pending, approved, denied or cancelled.
    pub status: &'static str,
    pub subscription_id: Option<String>,
}

impl Aggregate for SubscriptionRequest {
    const TYPE: &'static str = fleet_events::subscription_request::AGGREGATE_TYPE;
    type Command = SubscriptionRequestCommand;
    type Event = SubscriptionRequestEvent;

    fn decide(
        &self,
        command: &SubscriptionRequestCommand,
    ) -> Result<SubscriptionRequestEvent, DomainError> {
        use SubscriptionRequestCommand as C;
        if let C::Create {
            customer_id,
            service_id,
            plan_id,
            requested_by_user_id,
        } = command
        {
            if self.exists() {
                return Err(DomainError::AlreadyExists {
                    aggregate: Self::TYPE,
                });
            }
            validate::required("customer_id", customer_id, 255)?;
            validate::required("service_id", service_id, 255)?;
            validate::required("plan_id", plan_id, 255)?;
            return Ok(SubscriptionRequestEvent::SubscriptionRequestCreated {
                customer_id: customer_id.clone(),
                service_id: service_id.clone(),
                plan_id: plan_id.clone(),
                requested_by_user_id: requested_by_user_id.clone(),
            });
        }
        let Some(requested) = &self.requested else {
            return Err(DomainError::NotFound {
                aggregate: "subscription request",
            });
        };
        if self.status != "pending" {
            let action = match command {
                C::Approve { .. } => "approve",
                C::Deny { .. } => "deny",
                _ => "cancel",
            };
            return Err(DomainError::InvalidState {
                aggregate: "subscription request",
                action,
                state: self.status.into(),
            });
        }
        Ok(match command {
            C::Create { .. } => unreachable!("handled above"),
            C::Approve {
                subscription_id,
                subscription,
            } => {
                let granted = (
                    &subscription.customer_id,
                    &subscription.service_id,
                    &subscription.plan_id,
                );
                if granted
                    != (
                        &requested.customer_id,
                        &requested.service_id,
                        &requested.plan_id,
                    )
                {
                    return Err(DomainError::invalid(
                        "subscription",
                        "must be for the customer, service and plan requested",
                    ));
                }
                SubscriptionRequestEvent::SubscriptionRequestApproved {
                    subscription_id: subscription_id.clone(),
                    subscription: subscription.clone(),
                }
            }
            C::Deny { reason } => {
                validate::required("reason", reason, 1000)?;
                SubscriptionRequestEvent::SubscriptionRequestDenied {
                    reason: reason.clone(),
                }
            }
            C::Cancel => SubscriptionRequestEvent::SubscriptionRequestCancelled {},
        })
    }

    fn evolve(&mut self, event: &SubscriptionRequestEvent) {
        use SubscriptionRequestEvent as E;
        match event {
            E::SubscriptionRequestCreated {
                customer_id,
                service_id,
                plan_id,
                requested_by_user_id,
            } => {
                self.requested = Some(RequestedSubscription {
                    customer_id: customer_id.clone(),
                    service_id: service_id.clone(),
                    plan_id: plan_id.clone(),
                    requested_by_user_id: requested_by_user_id.clone(),
                });
                self.status = "pending";
            }
            E::SubscriptionRequestApproved {
                subscription_id, ..
            } => {
                self.status = "approved";
                self.subscription_id = Some(subscription_id.clone());
            }
            E::SubscriptionRequestDenied { .. } => self.status = "denied",
            E::SubscriptionRequestCancelled {} => self.status = "cancelled",
        }
    }

    fn exists(&self) -> bool {
        self.requested.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscription::NewSubscription;
    use SubscriptionRequestCommand as C;

    fn create() -> C {
        C::Create {
            customer_id: "c".into(),
            service_id: "s".into(),
            plan_id: "p".into(),
            requested_by_user_id: None,
        }
    }

    fn approve(plan: &str) -> C {
        let terms = NewSubscription {
            customer_id: "c".into(),
            service_id: "s".into(),
            plan_id: plan.into(),
            terms: "trial".into(),
            marketplace: "direct".into(),
            max_instances: -1,
            trial_days: None,
            external_payer_id: None,
            payment_profile_id: None,
            owner_user_id: None,
        }
        .terms(chrono::Utc::now())
        .unwrap();
        C::Approve {
            subscription_id: "sub-1".into(),
            subscription: terms,
        }
    }

    fn run(
        commands: Vec<C>,
    ) -> (
        SubscriptionRequest,
        Result<SubscriptionRequestEvent, DomainError>,
    ) {
        crate::run_commands::<SubscriptionRequest>(&commands)
    }

    #[test]
    fn only_pending_requests_are_decided_once() {
        let (state, last) = run(vec![create(), approve("p")]);
        assert!(last.is_ok());
        assert_eq!(state.subscription_id.as_deref(), Some("sub-1"));
        for (second, state) in [
            (approve("p"), "approved"),
            (
                C::Deny {
                    reason: "no".into(),
                },
                "approved",
            ),
            (C::Cancel, "approved"),
        ] {
            match run(vec![create(), approve("p"), second]).1 {
                Err(DomainError::InvalidState { state: s, .. }) => assert_eq!(s, state),
                other => panic!("{other:?}"),
            }
        }
        match run(vec![create(), C::Cancel, approve("p")]).1 {
            Err(DomainError::InvalidState { state, .. }) => assert_eq!(state, "cancelled"),
            other => panic!("{other:?}"),
        }
        let (_, last) = run(vec![create(), C::Deny { reason: "".into() }]);
        assert!(matches!(
            last,
            Err(DomainError::Invalid {
                field: "reason",
                ..
            })
        ));
    }

    #[test]
    fn approval_grants_what_was_requested() {
        let (_, last) = run(vec![create(), approve("other-plan")]);
        assert!(matches!(
            last,
            Err(DomainError::Invalid {
                field: "subscription",
                ..
            })
        ));
    }
}
