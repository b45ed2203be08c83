//! Events of the `onboarding` aggregate: a provider's onboarding of a new SaaS offering,
//! stage by stage.
//!
//! Subject: `<namespace>.<tenant>.onboarding.<id>`. Schema version 1.

use serde::{Deserialize, Serialize};

use crate::DomainEvent;

pub const AGGREGATE_TYPE: &str = "onboarding";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum OnboardingEvent {
    /// Every stage starts `NOT_STARTED`.
    OnboardingCreated {
        name: String,
        /// CONTAINER_IMAGE, DOCKER_COMPOSE or CLOUD_NATIVE.
        onboarding_type: String,
        stages: Vec<String>,
    },
    /// `completed` when every stage is then complete or skipped.
    OnboardingStageSet {
        stage: String,
        /// COMPLETE or SKIPPED.
        status: String,
        completed: bool,
    },
    OnboardingServiceLinked {
        service_id: String,
    },
    OnboardingDeleted {},
}

impl DomainEvent for OnboardingEvent {}
