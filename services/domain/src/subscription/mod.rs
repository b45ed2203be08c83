//! The subscription aggregate: on which terms a customer consumes a service.
//!
//! ```text
//! create ─► active ──suspend / trial expires──► suspended ──resume──► active
//!             │                                    │
//!             ├──terminate (provider)──► terminated ◄┤   both end it for good; its live
//!             └──cancel (customer)─────► cancelled  ◄┘   instances are deleted
//! terms: trial ──convert (needs a payment profile)──► paid
//! ```
//! A trial whose end passes is suspended by the system; converting it to paid before then keeps
//! it active, and converting it after resumes it.
//!
//! A subscription with `grace_days` ends gently ([`grace`]): after its trial expires or it is
//! cancelled, its instances run on for the grace and are stopped when it ends; the end of a
//! trial is announced `reminder_days` before. Without them, an expired trial's instances are
//! left as they are and a cancellation deletes them at once. A deleted subscription (Astra's
//! DELETE) takes its instances and its unbilled usage with it.
//!
//! Instances of a capped subscription are admitted one by one, each taking a place until it is
//! released on deletion: `max_instances` is decided here, from the subscription's own history,
//! so concurrent creations (in any number of processes) are ordered by the stream's expected
//! sequence and never exceed it. An uncapped subscription admits nothing (its creations are
//! not serialised); a cap set on it later counts the instances live then.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use fleet_events::instance::InstanceSpec;
pub use fleet_events::subscription::{SubscriptionChanges, SubscriptionEvent, SubscriptionTerms};

use crate::{validate, Aggregate, DomainError};

pub mod grace;

pub use fleet_events::subscription::{Label, SubscriptionDetails};

pub const TERMS: &[&str] = crate::vocabulary::Terms::WORDS;
pub const MARKETPLACES: &[&str] = crate::vocabulary::Marketplace::WORDS;
pub const DEFAULT_TRIAL_DAYS: i64 = 30;
pub const TRIAL_EXPIRED: &str = "trial_expired";

/// What a caller asks for when creating a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscription {
    pub customer_id: String,
    pub service_id: String,
    pub plan_id: String,
    pub terms: String,
    pub marketplace: String,
    pub max_instances: i64,
    /// Trial only; defaults to 30.
    pub trial_days: Option<i64>,
    pub external_payer_id: Option<String>,
    pub payment_profile_id: Option<String>,
    /// The customer's user it is created for, when the caller names one.
    pub owner_user_id: Option<String>,
}

impl NewSubscription {
    /// Validates the request and fixes the terms, the trial's end computed from `now`.
    pub fn terms(&self, now: DateTime<Utc>) -> Result<SubscriptionTerms, DomainError> {
        validate::required("customer_id", &self.customer_id, 255)?;
        validate::required("service_id", &self.service_id, 255)?;
        validate::required("plan_id", &self.plan_id, 255)?;
        validate::one_of("terms", &self.terms, TERMS)?;
        validate::one_of("marketplace", &self.marketplace, MARKETPLACES)?;
        validate_max_instances(self.max_instances)?;
        validate::optional("external_payer_id", self.external_payer_id.as_deref(), 255)?;
        validate::optional("payment_profile_id", self.payment_profile_id.as_deref(), 63)?;
        let trial_ends_at = if self.terms == "trial" {
            let days = self.trial_days.unwrap_or(DEFAULT_TRIAL_DAYS);
            if !(0..=365).contains(&days) {
                return Err(DomainError::invalid(
                    "trial_days",
                    "must be between 0 and 365",
                ));
            }
            Some(now + Duration::days(days))
        } else {
            if self.trial_days.is_some() {
                return Err(DomainError::invalid(
                    "trial_days",
                    "applies to trial terms only",
                ));
            }
            if self.terms == "paid"
                && !payment_arranged(&self.marketplace, self.payment_profile_id.as_deref())
            {
                return Err(DomainError::invalid(
                    "payment_profile_id",
                    "paid terms need a payment profile unless a marketplace collects payments",
                ));
            }
            None
        };
        Ok(SubscriptionTerms {
            customer_id: self.customer_id.clone(),
            service_id: self.service_id.clone(),
            plan_id: self.plan_id.clone(),
            terms: self.terms.clone(),
            marketplace: self.marketplace.clone(),
            max_instances: self.max_instances,
            trial_ends_at,
            external_payer_id: self.external_payer_id.clone(),
            payment_profile_id: self.payment_profile_id.clone(),
            owner_user_id: self.owner_user_id.clone(),
            grace_days: None,
            reminder_days: None,
            details: None,
        })
    }
}

fn validate_max_instances(max: i64) -> Result<(), DomainError> {
    if max < -1 {
        return Err(DomainError::invalid(
            "max_instances",
            "must be -1 (no cap) or at least 0",
        ));
    }
    Ok(())
}

/// Paid terms need someone to collect: a payment profile, or a marketplace that bills.
///
/// The cloud marketplaces (AWS, Azure, GCP) collect for us. `netapp` does not: it is NetApp's
/// own channel, paid through its own payment profiles, like a direct sale.
fn payment_arranged(marketplace: &str, payment_profile_id: Option<&str>) -> bool {
    matches!(marketplace, "aws" | "azure" | "gcp")
        || payment_profile_id.is_some_and(|p| !p.trim().is_empty())
}

#[derive(Debug, Clone)]
pub enum SubscriptionCommand {
    /// Create with terms already fixed by [`NewSubscription::terms`] (the caller knows the time).
    Create {
        terms: SubscriptionTerms,
        request_id: Option<String>,
    },
    Update(SubscriptionChanges),
    ConvertToPaid {
        payment_profile_id: Option<String>,
    },
    Suspend {
        reason: String,
    },
    Resume,
    Terminate {
        reason: Option<String>,
    },
    Cancel {
        reason: Option<String>,
        now: DateTime<Utc>,
    },
    /// Ends it with its charges: its live instances and its unbilled usage go with it.
    Delete,
    /// Issued by the scheduler once the trial's end has passed.
    ExpireTrial {
        now: DateTime<Utc>,
    },
    /// Issued by the scheduler `reminder_days` before the trial's end.
    AnnounceTrialEnding {
        now: DateTime<Utc>,
    },
    /// Issued by the scheduler once the grace after an expiry or a cancellation is over.
    EndGrace {
        now: DateTime<Utc>,
    },
    /// Takes a place for a new instance, which is then created from the admission.
    AdmitInstance {
        instance_id: String,
        spec: Box<InstanceSpec>,
        capacity: i64,
    },
    /// Frees the place of a deleted instance.
    ReleaseInstance {
        instance_id: String,
    },
}

#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    #[default]
    Active,
    Suspended,
    Terminated,
    Cancelled,
    Deleted,
}

impl SubscriptionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Terminated => "terminated",
            Self::Cancelled => "cancelled",
            Self::Deleted => "deleted",
        }
    }

    pub fn is_live(self) -> bool {
        matches!(self, Self::Active | Self::Suspended)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscription {
    pub terms: Option<SubscriptionTerms>,
    pub status: SubscriptionStatus,
    pub suspension_reason: Option<String>,
    /// The instances admitted and not yet released: its live instances.
    pub instances: BTreeSet<String>,
    /// While a grace runs: when it ends.
    pub grace_ends_at: Option<DateTime<Utc>>,
    /// The trial's end was announced.
    pub reminded: bool,
}

impl Subscription {
    fn refuse(&self, action: &'static str) -> DomainError {
        DomainError::InvalidState {
            aggregate: Self::TYPE,
            action,
            state: self.status.as_str().into(),
        }
    }

    fn apply_changes(terms: &mut SubscriptionTerms, changes: &SubscriptionChanges) {
        if let Some(plan_id) = &changes.plan_id {
            terms.plan_id = plan_id.clone();
        }
        if let Some(max) = changes.max_instances {
            terms.max_instances = max;
        }
        if changes.external_payer_id.is_some() {
            terms.external_payer_id = changes.external_payer_id.clone();
        }
        if changes.payment_profile_id.is_some() {
            terms.payment_profile_id = changes.payment_profile_id.clone();
        }
        if changes.grace_days.is_some() {
            terms.grace_days = changes.grace_days;
        }
        if changes.reminder_days.is_some() {
            terms.reminder_days = changes.reminder_days;
        }
        if changes.trial_ends_at.is_some() {
            terms.trial_ends_at = changes.trial_ends_at;
        }
        if changes.details.is_some() {
            terms.details = changes.details.clone();
        }
    }
}

/// What a command does, in the words a refusal uses.
fn command_action(command: &SubscriptionCommand) -> &'static str {
    use SubscriptionCommand as C;
    match command {
        C::Create { .. } => "create",
        C::Update(_) => "update",
        C::ConvertToPaid { .. } => "convert to paid",
        C::Suspend { .. } => "suspend",
        C::Resume => "resume",
        C::Terminate { .. } => "terminate",
        C::Cancel { .. } => "cancel",
        C::Delete => "delete",
        C::ExpireTrial { .. } => "expire the trial of",
        C::AnnounceTrialEnding { .. } => "announce the trial's end of",
        C::EndGrace { .. } => "end the grace of",
        C::AdmitInstance { .. } => "create an instance under",
        C::ReleaseInstance { .. } => "release an instance of",
    }
}

impl Aggregate for Subscription {
    const TYPE: &'static str = fleet_events::subscription::AGGREGATE_TYPE;
    type Command = SubscriptionCommand;
    type Event = SubscriptionEvent;

    fn decide(&self, command: &SubscriptionCommand) -> Result<SubscriptionEvent, DomainError> {
        use SubscriptionCommand as C;
        use SubscriptionStatus as S;
        if let C::Create { terms, request_id } = command {
            if self.exists() {
                return Err(DomainError::AlreadyExists {
                    aggregate: Self::TYPE,
                });
            }
            grace::validate_terms(terms)?;
            return Ok(SubscriptionEvent::SubscriptionCreated {
                terms: terms.clone(),
                request_id: request_id.clone(),
            });
        }
        let Some(terms) = &self.terms else {
            return Err(DomainError::NotFound {
                aggregate: Self::TYPE,
            });
        };
        if self.status == S::Deleted {
            return Err(self.refuse(command_action(command)));
        }
        let live = self.status.is_live();
        Ok(match command {
            C::Create { .. } => unreachable!("handled above"),
            C::AdmitInstance {
                instance_id,
                spec,
                capacity,
            } => {
                if self.status != S::Active {
                    return Err(self.refuse("create an instance under"));
                }
                if self.instances.contains(instance_id) {
                    return Err(DomainError::AlreadyExists {
                        aggregate: "instance",
                    });
                }
                // The instance is the subscription's customer's; naming another is a mistake.
                let mut spec = (**spec).clone();
                match &spec.customer_id {
                    Some(customer) if customer != &terms.customer_id => {
                        return Err(DomainError::invalid(
                            "customer_id",
                            format!("must be the subscription's customer, {}", terms.customer_id),
                        ))
                    }
                    Some(_) => {}
                    None => spec.customer_id = Some(terms.customer_id.clone()),
                }
                let live = self.instances.len() as i64;
                if terms.max_instances >= 0 && live >= terms.max_instances {
                    return Err(DomainError::LimitReached {
                        limit: "max_instances",
                        detail: format!(
                            "the subscription allows at most {} live instances (max_instances) and has {live}",
                            terms.max_instances
                        ),
                    });
                }
                SubscriptionEvent::SubscriptionInstanceAdmitted {
                    instance_id: instance_id.clone(),
                    spec,
                    capacity: *capacity,
                }
            }
            C::ReleaseInstance { instance_id } => {
                if !self.instances.contains(instance_id) {
                    return Err(DomainError::NotFound {
                        aggregate: "admitted instance",
                    });
                }
                SubscriptionEvent::SubscriptionInstanceReleased {
                    instance_id: instance_id.clone(),
                }
            }
            C::Update(changes) => {
                if !live {
                    return Err(self.refuse("update"));
                }
                if changes == &SubscriptionChanges::default() {
                    return Err(DomainError::invalid("body", "names no field to change"));
                }
                if let Some(plan_id) = &changes.plan_id {
                    validate::required("plan_id", plan_id, 255)?;
                }
                if let Some(max) = changes.max_instances {
                    validate_max_instances(max)?;
                }
                validate::optional(
                    "payment_profile_id",
                    changes.payment_profile_id.as_deref(),
                    63,
                )?;
                validate::optional(
                    "external_payer_id",
                    changes.external_payer_id.as_deref(),
                    255,
                )?;
                grace::validate_changes(terms, changes)?;
                // The instances live when a cap is first set are counted from then on; at any
                // other time the count is the subscription's own.
                let mut changes = changes.clone();
                let capping =
                    terms.max_instances < 0 && changes.max_instances.is_some_and(|m| m >= 0);
                if !capping {
                    changes.counted_instances = None;
                } else if changes.counted_instances.is_none() {
                    return Err(DomainError::invalid(
                        "max_instances",
                        "a cap on an uncapped subscription needs its live instances counted",
                    ));
                }
                SubscriptionEvent::SubscriptionUpdated { changes }
            }
            C::ConvertToPaid { payment_profile_id } => {
                if !live {
                    return Err(self.refuse("convert to paid"));
                }
                if terms.terms == "paid" {
                    return Err(DomainError::InvalidState {
                        aggregate: Self::TYPE,
                        action: "convert to paid",
                        state: "already paid".into(),
                    });
                }
                let expired = self.suspension_reason.as_deref() == Some(TRIAL_EXPIRED);
                if self.status == S::Suspended && !expired {
                    return Err(self.refuse("convert to paid"));
                }
                let profile = payment_profile_id
                    .clone()
                    .or_else(|| terms.payment_profile_id.clone())
                    .filter(|p| !p.trim().is_empty());
                validate::optional("payment_profile_id", profile.as_deref(), 63)?;
                if !payment_arranged(&terms.marketplace, profile.as_deref()) {
                    return Err(DomainError::invalid(
                        "payment_profile_id",
                        "converting to paid needs a payment profile",
                    ));
                }
                SubscriptionEvent::SubscriptionConvertedToPaid {
                    payment_profile_id: profile.unwrap_or_default(),
                    resumed: self.status == S::Suspended,
                }
            }
            C::Suspend { reason } => {
                if self.status != S::Active {
                    return Err(self.refuse("suspend"));
                }
                validate::required("reason", reason, 1000)?;
                SubscriptionEvent::SubscriptionSuspended {
                    reason: reason.clone(),
                }
            }
            C::Resume => {
                if self.status != S::Suspended {
                    return Err(self.refuse("resume"));
                }
                if self.suspension_reason.as_deref() == Some(TRIAL_EXPIRED) {
                    return Err(DomainError::InvalidState {
                        aggregate: Self::TYPE,
                        action: "resume",
                        state: "suspended because its trial expired; convert it to paid".into(),
                    });
                }
                SubscriptionEvent::SubscriptionResumed {}
            }
            C::Terminate { reason } => {
                if !live {
                    return Err(self.refuse("terminate"));
                }
                SubscriptionEvent::SubscriptionTerminated {
                    reason: reason.clone(),
                }
            }
            C::Cancel { reason, now } => {
                if !live {
                    return Err(self.refuse("cancel"));
                }
                SubscriptionEvent::SubscriptionCancelled {
                    reason: reason.clone(),
                    grace_ends_at: grace::ends_after(terms, *now),
                }
            }
            C::Delete => SubscriptionEvent::SubscriptionDeleted {},
            C::AnnounceTrialEnding { now } => grace::announce(self, terms, *now)?,
            C::EndGrace { now } => grace::end(self, *now)?,
            C::ExpireTrial { now } => {
                let due = terms.terms == "trial"
                    && self.status == S::Active
                    && terms.trial_ends_at.is_some_and(|end| end <= *now);
                match (due, terms.trial_ends_at) {
                    (true, Some(trial_ended_at)) => SubscriptionEvent::SubscriptionTrialExpired {
                        trial_ended_at,
                        grace_ends_at: grace::ends_after(terms, trial_ended_at),
                    },
                    _ => {
                        return Err(DomainError::InvalidState {
                            aggregate: Self::TYPE,
                            action: "expire the trial of",
                            state: format!("{} on {} terms", self.status.as_str(), terms.terms),
                        })
                    }
                }
            }
        })
    }

    fn evolve(&mut self, event: &SubscriptionEvent) {
        use SubscriptionEvent as E;
        match event {
            E::SubscriptionCreated { terms, .. } => {
                self.terms = Some(terms.clone());
                self.status = SubscriptionStatus::Active;
            }
            E::SubscriptionUpdated { changes } => {
                if let Some(terms) = self.terms.as_mut() {
                    Self::apply_changes(terms, changes);
                }
                if let Some(counted) = &changes.counted_instances {
                    self.instances = counted.iter().cloned().collect();
                }
            }
            E::SubscriptionConvertedToPaid {
                payment_profile_id, ..
            } => {
                if let Some(terms) = self.terms.as_mut() {
                    terms.terms = "paid".into();
                    terms.trial_ends_at = None;
                    if !payment_profile_id.is_empty() {
                        terms.payment_profile_id = Some(payment_profile_id.clone());
                    }
                }
                self.status = SubscriptionStatus::Active;
                self.suspension_reason = None;
                self.grace_ends_at = None;
            }
            E::SubscriptionSuspended { reason } => {
                self.status = SubscriptionStatus::Suspended;
                self.suspension_reason = Some(reason.clone());
            }
            E::SubscriptionTrialExpired { grace_ends_at, .. } => {
                self.status = SubscriptionStatus::Suspended;
                self.suspension_reason = Some(TRIAL_EXPIRED.into());
                self.grace_ends_at = *grace_ends_at;
            }
            E::SubscriptionTrialEndingAnnounced { .. } => self.reminded = true,
            E::SubscriptionGraceEnded { .. } => self.grace_ends_at = None,
            E::SubscriptionResumed {} => {
                self.status = SubscriptionStatus::Active;
                self.suspension_reason = None;
            }
            E::SubscriptionTerminated { .. } => self.status = SubscriptionStatus::Terminated,
            E::SubscriptionCancelled { grace_ends_at, .. } => {
                self.status = SubscriptionStatus::Cancelled;
                self.grace_ends_at = *grace_ends_at;
            }
            E::SubscriptionDeleted {} => {
                self.status = SubscriptionStatus::Deleted;
                self.grace_ends_at = None;
            }
            E::SubscriptionInstanceAdmitted { instance_id, .. } => {
                self.instances.insert(instance_id.clone());
            }
            E::SubscriptionInstanceReleased { instance_id } => {
                self.instances.remove(instance_id);
            }
        }
    }

    fn exists(&self) -> bool {
        self.terms.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SubscriptionCommand as C;

    fn now() -> DateTime<Utc> {
        "2026-11-01T00:00:00Z".parse().unwrap()
    }

    fn new(terms: &str) -> NewSubscription {
        NewSubscription {
            customer_id: "c".into(),
            service_id: "s".into(),
            plan_id: "p".into(),
            terms: terms.into(),
            marketplace: "direct".into(),
            max_instances: -1,
            trial_days: None,
            external_payer_id: None,
            payment_profile_id: None,
            owner_user_id: None,
        }
    }

    fn create(terms: &str) -> C {
        C::Create {
            terms: new(terms).terms(now()).unwrap(),
            request_id: None,
        }
    }

    fn run(commands: Vec<C>) -> (Subscription, Result<SubscriptionEvent, DomainError>) {
        crate::run_commands::<Subscription>(&commands)
    }

    fn refused_in(result: Result<SubscriptionEvent, DomainError>) -> String {
        match result {
            Err(DomainError::InvalidState { state, .. }) => state,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_subscription_without_terms_has_no_trial_and_needs_no_payment_profile() {
        let terms = new("none").terms(now()).unwrap();
        assert_eq!(terms.terms, "none");
        assert_eq!(terms.trial_ends_at, None);
        let (state, expiry) = run(vec![
            C::Create {
                terms,
                request_id: None,
            },
            C::ExpireTrial {
                now: now() + Duration::days(400),
            },
        ]);
        assert!(expiry.is_err(), "nothing expires: {expiry:?}");
        assert_eq!(state.status, SubscriptionStatus::Active);
        let mut with_days = new("none");
        with_days.trial_days = Some(3);
        assert!(with_days.terms(now()).is_err());
    }

    #[test]
    fn trials_end_thirty_days_after_creation_by_default() {
        let terms = new("trial").terms(now()).unwrap();
        assert_eq!(terms.trial_ends_at, Some(now() + Duration::days(30)));
        let mut paid = new("paid");
        assert!(matches!(
            paid.terms(now()),
            Err(DomainError::Invalid {
                field: "payment_profile_id",
                ..
            })
        ));
        paid.marketplace = "aws".into();
        assert_eq!(paid.terms(now()).unwrap().trial_ends_at, None);
        paid.trial_days = Some(3);
        assert!(paid.terms(now()).is_err());
        let mut capped = new("trial");
        capped.max_instances = -2;
        assert!(capped.terms(now()).is_err());
    }

    #[test]
    fn lifecycle_and_refusals() {
        let (state, last) = run(vec![
            create("trial"),
            C::Suspend {
                reason: "late payment".into(),
            },
            C::Resume,
            C::Terminate { reason: None },
        ]);
        assert!(last.is_ok());
        assert_eq!(state.status, SubscriptionStatus::Terminated);
        assert_eq!(
            refused_in(run(vec![create("trial"), C::Resume]).1),
            "active"
        );
        assert_eq!(
            refused_in(
                run(vec![
                    create("trial"),
                    C::Cancel {
                        reason: None,
                        now: now()
                    },
                    C::Suspend { reason: "x".into() }
                ])
                .1
            ),
            "cancelled"
        );
        assert_eq!(
            refused_in(
                run(vec![
                    create("trial"),
                    C::Terminate { reason: None },
                    C::Resume
                ])
                .1
            ),
            "terminated"
        );
    }

    #[test]
    fn an_expired_trial_is_suspended_and_only_conversion_brings_it_back() {
        let later = now() + Duration::days(31);
        let (_, early) = run(vec![create("trial"), C::ExpireTrial { now: now() }]);
        assert!(early.is_err(), "not due yet");
        let (state, last) = run(vec![create("trial"), C::ExpireTrial { now: later }]);
        assert!(matches!(
            last,
            Ok(SubscriptionEvent::SubscriptionTrialExpired { .. })
        ));
        assert_eq!(state.status, SubscriptionStatus::Suspended);
        let (_, resume) = run(vec![
            create("trial"),
            C::ExpireTrial { now: later },
            C::Resume,
        ]);
        assert!(refused_in(resume).contains("trial expired"));
        let (state, last) = run(vec![
            create("trial"),
            C::ExpireTrial { now: later },
            C::ConvertToPaid {
                payment_profile_id: Some("pp-1".into()),
            },
        ]);
        assert!(matches!(
            last,
            Ok(SubscriptionEvent::SubscriptionConvertedToPaid { resumed: true, .. })
        ));
        assert_eq!(state.status, SubscriptionStatus::Active);
        assert_eq!(state.terms.unwrap().terms, "paid");
    }

    #[test]
    fn converting_keeps_a_trial_from_expiring_and_needs_a_payment_profile() {
        let (_, last) = run(vec![
            create("trial"),
            C::ConvertToPaid {
                payment_profile_id: None,
            },
        ]);
        assert!(matches!(
            last,
            Err(DomainError::Invalid {
                field: "payment_profile_id",
                ..
            })
        ));
        let (state, last) = run(vec![
            create("trial"),
            C::ConvertToPaid {
                payment_profile_id: Some("pp".into()),
            },
            C::ExpireTrial {
                now: now() + Duration::days(60),
            },
        ]);
        assert!(last.is_err());
        assert_eq!(state.status, SubscriptionStatus::Active);
        let (_, again) = run(vec![
            create("trial"),
            C::ConvertToPaid {
                payment_profile_id: Some("pp".into()),
            },
            C::ConvertToPaid {
                payment_profile_id: Some("pp".into()),
            },
        ]);
        assert_eq!(refused_in(again), "already paid");
    }

    #[test]
    fn updates_apply_to_live_subscriptions_only() {
        let change = C::Update(SubscriptionChanges {
            max_instances: Some(5),
            ..Default::default()
        });
        let (state, last) = run(vec![capped(2), change.clone()]);
        assert!(last.is_ok());
        assert_eq!(state.terms.unwrap().max_instances, 5);
        let (_, last) = run(vec![
            create("trial"),
            C::Cancel {
                reason: None,
                now: now(),
            },
            change,
        ]);
        assert_eq!(refused_in(last), "cancelled");
        let (_, last) = run(vec![
            create("trial"),
            C::Update(SubscriptionChanges::default()),
        ]);
        assert!(matches!(last, Err(DomainError::Invalid { .. })));
    }

    fn admit(id: &str) -> C {
        C::AdmitInstance {
            instance_id: id.into(),
            spec: Box::new(InstanceSpec {
                name: None,
                service_id: "s".into(),
                plan_id: "p".into(),
                cloud_provider: "aws".into(),
                region: "r".into(),
                deployment_cell: "c".into(),
                instance_type: "t".into(),
                environment_type: "DEV".into(),
                customer_id: None,
                subscription_id: Some("sub".into()),
                restored_from: None,
                adopted: false,
                tier_version: None,
            }),
            capacity: 1,
        }
    }

    fn capped(max: i64) -> C {
        let mut new = new("paid");
        new.payment_profile_id = Some("pp".into());
        new.max_instances = max;
        C::Create {
            terms: new.terms(now()).unwrap(),
            request_id: None,
        }
    }

    #[test]
    fn instances_are_admitted_up_to_the_cap_and_released_on_deletion() {
        let (state, last) = run(vec![capped(2), admit("i-1"), admit("i-2"), admit("i-3")]);
        match last {
            Err(DomainError::LimitReached { limit, detail }) => {
                assert_eq!(limit, "max_instances");
                assert!(detail.contains("at most 2 live instances"), "{detail}");
            }
            other => panic!("expected the limit, got {other:?}"),
        }
        assert_eq!(state.instances.len(), 2);
        let (state, last) = run(vec![
            capped(2),
            admit("i-1"),
            admit("i-2"),
            C::ReleaseInstance {
                instance_id: "i-1".into(),
            },
            admit("i-3"),
        ]);
        assert!(last.is_ok());
        let ids: Vec<_> = state.instances.iter().map(String::as_str).collect();
        assert_eq!(ids, ["i-2", "i-3"]);
        // A cap set on an uncapped subscription counts the instances live then.
        let cap = |counted: Option<Vec<String>>| {
            C::Update(SubscriptionChanges {
                max_instances: Some(1),
                counted_instances: counted,
                ..Default::default()
            })
        };
        let (_, last) = run(vec![capped(-1), cap(None)]);
        assert!(matches!(last, Err(DomainError::Invalid { .. })));
        let (state, last) = run(vec![
            capped(-1),
            cap(Some(vec!["i-1".into()])),
            admit("i-2"),
        ]);
        assert!(matches!(last, Err(DomainError::LimitReached { .. })));
        assert_eq!(state.instances.len(), 1);
        // Once capped, a count given with a change is not the subscription's to take.
        let (state, _) = run(vec![capped(2), admit("i-1"), cap(Some(Vec::new()))]);
        assert_eq!(state.instances.len(), 1);
    }

    #[test]
    fn an_admission_names_the_subscriptions_customer_and_needs_it_active() {
        let (_, last) = run(vec![capped(-1), admit("i-1")]);
        match last {
            Ok(SubscriptionEvent::SubscriptionInstanceAdmitted { spec, .. }) => {
                assert_eq!(spec.customer_id.as_deref(), Some("c"));
            }
            other => panic!("expected an admission, got {other:?}"),
        }
        let mut foreign = admit("i-1");
        if let C::AdmitInstance { spec, .. } = &mut foreign {
            spec.customer_id = Some("someone-else".into());
        }
        let (_, last) = run(vec![capped(-1), foreign]);
        assert!(matches!(
            last,
            Err(DomainError::Invalid {
                field: "customer_id",
                ..
            })
        ));
        let suspend = C::Suspend {
            reason: "overdue".into(),
        };
        let (_, last) = run(vec![capped(-1), suspend, admit("i-1")]);
        assert_eq!(refused_in(last), "suspended");
        let (_, last) = run(vec![capped(-1), admit("i-1"), admit("i-1")]);
        assert!(matches!(last, Err(DomainError::AlreadyExists { .. })));
        let release = C::ReleaseInstance {
            instance_id: "i-9".into(),
        };
        let (_, last) = run(vec![capped(-1), release]);
        assert!(matches!(last, Err(DomainError::NotFound { .. })));
    }
}
