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
    /// Days between the trial's expiry (or a cancellation) and the stop of its instances.
    /// Absent: an expired trial is suspended with its instances left as they are, and a
    /// cancellation deletes them at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_days: Option<i64>,
    /// Days before the trial's end at which its end is announced; absent: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder_days: Option<i64>,
    /// What the billing channel and the plan say beyond the terms (Astra's subscription).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Box<SubscriptionDetails>>,
}

/// A subscription's commercial details as NetApp Astra keeps them: payment references,
/// limits, onboarding, unit costs and labels. Billing contacts (names, addresses) are never
/// kept here: the stream is immutable and cannot forget a person's data.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SubscriptionDetails {
    /// The payment provider's customer profile (Authorize.net for `netapp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_profile_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_expiry: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase_order_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_serial: Option<String>,
    /// -1: no limit.
    pub app_limit: i64,
    /// -1: no limit.
    pub namespace_limit: i64,
    /// `not started`, `in progress`, `success` or `failed`.
    pub onboarding: String,
    /// US dollars per unit; 0 on a trial.
    #[schemars(with = "String")]
    pub cost_per_app_unit: rust_decimal::Decimal,
    #[schemars(with = "String")]
    pub cost_per_namespace_unit: rust_decimal::Decimal,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<Label>,
    /// The resource version (`1.0`, `1.1`, `1.2`) the subscription was last written in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Label {
    pub name: String,
    pub value: String,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder_days: Option<i64>,
    /// A trial's new end (a longer or shorter trial).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_ends_at: Option<DateTime<Utc>>,
    /// Replaces the details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Box<SubscriptionDetails>>,
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
        /// When its instances are stopped, if it was not converted by then.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        grace_ends_at: Option<DateTime<Utc>>,
    },
    /// The trial ends in `reminder_days`: announced once, for subscribers to tell the customer.
    SubscriptionTrialEndingAnnounced {
        trial_ends_at: DateTime<Utc>,
    },
    /// The grace after an expiry or a cancellation is over: its instances are stopped.
    SubscriptionGraceEnded {
        grace_ended_at: DateTime<Utc>,
    },
    SubscriptionResumed {},
    /// Ended by the provider. Its live instances are deleted.
    SubscriptionTerminated {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Ended by the customer. Its live instances are deleted, or stopped once its grace ends.
    /// Its usage so far is billed on the customer's next invoice.
    SubscriptionCancelled {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        grace_ends_at: Option<DateTime<Utc>>,
    },
    /// Deleted with its charges (Astra's DELETE): its live instances are deleted at once, and
    /// its usage that no invoice billed yet is never billed. Its history stays in the stream.
    SubscriptionDeleted {},
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
