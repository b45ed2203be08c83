//! Events of the `user` aggregate: a person of a customer who uses the fleet.
//!
//! Subject: `<namespace>.<tenant>.user.<user id>`. Schema version 1.

use serde::{Deserialize, Serialize};

use crate::DomainEvent;

pub const AGGREGATE_TYPE: &str = "user";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum UserEvent {
    UserCreated {
        customer_id: String,
        email: String,
        name: String,
        /// root, editor or reader.
        role: String,
    },
    UserSuspended {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    UserUnsuspended {},
    UserDeleted {},
    /// The sign-up's verification email was asked for again (sending it is a subscriber's
    /// work: the event announces it).
    UserVerificationEmailResent {
        email: String,
    },
}

impl DomainEvent for UserEvent {}
