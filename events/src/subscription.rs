//! Events of the `subscription` aggregate: the terms on which a customer consumes a service.
//!
//! Subject: `<namespace>.<tenant>.subscription.<subscription id>`. Schema version 1.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::instance::InstanceSpec;
use crate::DomainEvent;

pub const AGGREGATE_TYPE: &str = "subscription";

/// What a subscription is for and on which terms, fixed at creation unless updated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SubscriptionTerms {
    pub customer_id: String,
    pub service_id: String,
    pub plan_id: String,
    /// `trial`, `paid` or `none`.
    pub terms: String,
    /// Where payments are recorded: `direct`, `aws`, `azure`, `gcp`, `netapp`.
    pub marketplace: String,
    /// Most live instances; -1 for no cap.
    pub max_instances: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_ends_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_payer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_profile_id: Option<String>,
    /// The customer's user the subscription was created for (Omnistrate's root user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_user_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SubscriptionChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_instances: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_payer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_profile_id: Option<String>,
    /// When a cap is set on a subscription that had none: its live instances then, which
    /// count towards the cap from now on (instances of an uncapped subscription take no
    /// place, so that creating them under one subscription is not serialised).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counted_instances: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", content = "data")]
pub enum SubscriptionEvent {
    SubscriptionCreated {
        #[serde(flatten)]
        terms: SubscriptionTerms,
        /// The approved request this subscription came from, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
    },
    SubscriptionUpdated {
        #[serde(flatten)]
        changes: SubscriptionChanges,
    },
    SubscriptionConvertedToPaid {
        payment_profile_id: String,
        /// The trial had expired and suspended the subscription: conversion resumed it.
        resumed: bool,
    },
    SubscriptionSuspended {
        reason: String,
    },
    /// The trial's end date passed before it was converted: the system suspends it.
    SubscriptionTrialExpired {
        trial_ended_at: DateTime<Utc>,
    },
    SubscriptionResumed {},
    /// Ended by the provider. Its live instances are deleted.
    SubscriptionTerminated {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Ended by the customer. Its live instances are deleted.
    SubscriptionCancelled {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// An instance may be created under the subscription: it counts towards `max_instances`
    /// from now until released. It carries what the instance is to be, so that the instance
    /// is created even if the process that admitted it dies first.
    SubscriptionInstanceAdmitted {
        instance_id: String,
        spec: InstanceSpec,
        capacity: i64,
    },
    /// The instance was deleted: its place is free again.
    SubscriptionInstanceReleased {
        instance_id: String,
    },
}

impl DomainEvent for SubscriptionEvent {}
