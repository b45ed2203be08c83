//! How a subscription with `grace_days` ends gently:
//!
//! ```text
//! trial ─(reminder_days before its end)─► TrialEndingAnnounced, once
//! trial expires ─► suspended, grace until end + grace_days ─► GraceEnded: instances stopped
//! cancel        ─► cancelled, grace until now + grace_days ─► GraceEnded: instances stopped
//! convert to paid during the grace ─► active again, no grace
//! ```
//! Each deadline is re-checked here against the time the scheduler gives, so a scheduler that
//! read a stale read model changes nothing.

use chrono::{DateTime, Duration, Utc};
use fleet_events::subscription::{SubscriptionDetails, SubscriptionEvent};

use super::{Subscription, SubscriptionChanges, SubscriptionStatus, SubscriptionTerms};
use crate::{validate, DomainError};

/// Words of `onboarding`, as Astra writes them.
pub const ONBOARDING: &[&str] = &["not started", "in progress", "success", "failed"];
/// Longest grace or reminder, in days.
const MAX_DAYS: i64 = 3650;

/// When a grace that starts at `from` ends, if the subscription has one.
pub fn ends_after(terms: &SubscriptionTerms, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
    terms
        .grace_days
        .filter(|d| *d >= 0)
        .map(|d| from + Duration::days(d))
}

/// When the end of the trial is to be announced.
pub fn reminder_at(terms: &SubscriptionTerms) -> Option<DateTime<Utc>> {
    let (end, days) = (terms.trial_ends_at?, terms.reminder_days?);
    (terms.terms == "trial" && days >= 0).then(|| end - Duration::days(days))
}

pub(super) fn announce(
    subscription: &Subscription,
    terms: &SubscriptionTerms,
    now: DateTime<Utc>,
) -> Result<SubscriptionEvent, DomainError> {
    let due = subscription.status == SubscriptionStatus::Active
        && !subscription.reminded
        && reminder_at(terms).is_some_and(|at| at <= now);
    match (due, terms.trial_ends_at) {
        (true, Some(trial_ends_at)) => {
            Ok(SubscriptionEvent::SubscriptionTrialEndingAnnounced { trial_ends_at })
        }
        _ => Err(DomainError::InvalidState {
            aggregate: fleet_events::subscription::AGGREGATE_TYPE,
            action: "announce the trial's end of",
            state: if subscription.reminded {
                "announced already".into()
            } else {
                format!(
                    "{} on {} terms with no reminder due",
                    subscription.status.as_str(),
                    terms.terms
                )
            },
        }),
    }
}

pub(super) fn end(
    subscription: &Subscription,
    now: DateTime<Utc>,
) -> Result<SubscriptionEvent, DomainError> {
    match subscription.grace_ends_at {
        Some(at) if at <= now => {
            Ok(SubscriptionEvent::SubscriptionGraceEnded { grace_ended_at: at })
        }
        Some(at) => Err(DomainError::InvalidState {
            aggregate: fleet_events::subscription::AGGREGATE_TYPE,
            action: "end the grace of",
            state: format!("in its grace until {at}"),
        }),
        None => Err(DomainError::InvalidState {
            aggregate: fleet_events::subscription::AGGREGATE_TYPE,
            action: "end the grace of",
            state: format!("{} with no grace running", subscription.status.as_str()),
        }),
    }
}

fn days(field: &'static str, value: Option<i64>) -> Result<(), DomainError> {
    match value {
        Some(d) if !(0..=MAX_DAYS).contains(&d) => Err(DomainError::invalid(
            field,
            format!("must be between 0 and {MAX_DAYS} days"),
        )),
        _ => Ok(()),
    }
}

/// A reminder may also be -1: never announced.
fn reminder(value: Option<i64>) -> Result<(), DomainError> {
    match value {
        Some(-1) => Ok(()),
        other => days("reminder_days", other),
    }
}

/// The details' own rules: known onboarding words, lengths, limits of -1 or more.
pub fn validate_details(details: &SubscriptionDetails) -> Result<(), DomainError> {
    validate::optional(
        "customer_profile_id",
        details.customer_profile_id.as_deref(),
        63,
    )?;
    validate::optional(
        "purchase_order_number",
        details.purchase_order_number.as_deref(),
        31,
    )?;
    validate::optional("license_serial", details.license_serial.as_deref(), 31)?;
    validate::one_of("onboarding", &details.onboarding, ONBOARDING)?;
    for (field, limit) in [
        ("app_limit", details.app_limit),
        ("namespace_limit", details.namespace_limit),
    ] {
        if limit < -1 {
            return Err(DomainError::invalid(field, "must be -1 (no limit) or more"));
        }
    }
    for (field, cost) in [
        ("cost_per_app_unit", details.cost_per_app_unit),
        ("cost_per_namespace_unit", details.cost_per_namespace_unit),
    ] {
        if cost.is_sign_negative() {
            return Err(DomainError::invalid(field, "must not be negative"));
        }
    }
    if details.labels.len() > 100 {
        return Err(DomainError::invalid(
            "labels",
            "must hold at most 100 labels",
        ));
    }
    for label in &details.labels {
        validate::required("labels.name", &label.name, 253)?;
        validate::optional("labels.value", Some(&label.value), 1024)?;
    }
    Ok(())
}

/// The rules of a change that touch the grace, the trial's end or the details.
pub(super) fn validate_changes(
    terms: &SubscriptionTerms,
    changes: &SubscriptionChanges,
) -> Result<(), DomainError> {
    days("grace_days", changes.grace_days)?;
    reminder(changes.reminder_days)?;
    if changes.trial_ends_at.is_some() && terms.terms != "trial" {
        return Err(DomainError::invalid(
            "trial_ends_at",
            "only a trial has an end to move",
        ));
    }
    if let Some(details) = &changes.details {
        validate_details(details)?;
    }
    Ok(())
}

/// The rules of new terms that carry a grace, a reminder or details.
pub fn validate_terms(terms: &SubscriptionTerms) -> Result<(), DomainError> {
    days("grace_days", terms.grace_days)?;
    reminder(terms.reminder_days)?;
    if let Some(details) = &terms.details {
        validate_details(details)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{NewSubscription, SubscriptionCommand as C};
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-01T00:00:00Z".parse().unwrap()
    }

    /// A 30-day trial with a 7-day grace, its end announced 5 days before.
    fn create() -> C {
        let mut terms = NewSubscription {
            customer_id: "c".into(),
            service_id: "s".into(),
            plan_id: "p".into(),
            terms: "trial".into(),
            marketplace: "netapp".into(),
            max_instances: -1,
            trial_days: Some(30),
            external_payer_id: None,
            payment_profile_id: None,
            owner_user_id: None,
        }
        .terms(now())
        .unwrap();
        terms.grace_days = Some(7);
        terms.reminder_days = Some(5);
        C::Create {
            terms,
            request_id: None,
        }
    }

    fn run(commands: Vec<C>) -> (Subscription, Result<SubscriptionEvent, DomainError>) {
        crate::run_commands::<Subscription>(&commands)
    }

    fn at(days: i64) -> DateTime<Utc> {
        now() + Duration::days(days)
    }

    #[test]
    fn the_trials_end_is_announced_once_when_due() {
        let early = run(vec![create(), C::AnnounceTrialEnding { now: at(24) }]).1;
        assert!(matches!(early, Err(DomainError::InvalidState { .. })));
        let (state, due) = run(vec![create(), C::AnnounceTrialEnding { now: at(25) }]);
        assert!(matches!(
            due,
            Ok(SubscriptionEvent::SubscriptionTrialEndingAnnounced { trial_ends_at }) if trial_ends_at == at(30)
        ));
        assert!(state.reminded);
        let again = run(vec![
            create(),
            C::AnnounceTrialEnding { now: at(25) },
            C::AnnounceTrialEnding { now: at(26) },
        ])
        .1;
        assert!(
            matches!(again, Err(DomainError::InvalidState { state, .. }) if state.contains("already"))
        );
    }

    #[test]
    fn an_expired_trial_has_its_grace_then_its_instances_are_stopped() {
        let (state, expired) = run(vec![create(), C::ExpireTrial { now: at(31) }]);
        assert!(matches!(
            expired,
            Ok(SubscriptionEvent::SubscriptionTrialExpired { grace_ends_at: Some(end), .. }) if end == at(37)
        ));
        assert_eq!(state.status, SubscriptionStatus::Suspended);
        let early = run(vec![
            create(),
            C::ExpireTrial { now: at(31) },
            C::EndGrace { now: at(36) },
        ])
        .1;
        assert!(
            matches!(early, Err(DomainError::InvalidState { state, .. }) if state.contains("grace until"))
        );
        let (state, ended) = run(vec![
            create(),
            C::ExpireTrial { now: at(31) },
            C::EndGrace { now: at(37) },
        ]);
        assert!(matches!(
            ended,
            Ok(SubscriptionEvent::SubscriptionGraceEnded { .. })
        ));
        assert_eq!(state.grace_ends_at, None);
        // A grace ends once.
        let twice = run(vec![
            create(),
            C::ExpireTrial { now: at(31) },
            C::EndGrace { now: at(37) },
            C::EndGrace { now: at(38) },
        ])
        .1;
        assert!(matches!(twice, Err(DomainError::InvalidState { .. })));
    }

    #[test]
    fn converting_during_the_grace_ends_it_without_stopping_anything() {
        let (state, _) = run(vec![
            create(),
            C::ExpireTrial { now: at(31) },
            C::ConvertToPaid {
                payment_profile_id: Some("pp-1".into()),
            },
        ]);
        assert_eq!(state.status, SubscriptionStatus::Active);
        assert_eq!(state.grace_ends_at, None);
        let ended = run(vec![
            create(),
            C::ExpireTrial { now: at(31) },
            C::ConvertToPaid {
                payment_profile_id: Some("pp-1".into()),
            },
            C::EndGrace { now: at(40) },
        ])
        .1;
        assert!(matches!(ended, Err(DomainError::InvalidState { .. })));
    }

    #[test]
    fn netapp_is_not_a_marketplace_that_collects() {
        let converted = run(vec![
            create(),
            C::ConvertToPaid {
                payment_profile_id: None,
            },
        ])
        .1;
        assert!(matches!(
            converted,
            Err(DomainError::Invalid {
                field: "payment_profile_id",
                ..
            })
        ));
    }

    #[test]
    fn a_cancellation_has_its_grace_and_a_deleted_subscription_takes_no_command() {
        let (state, cancelled) = run(vec![
            create(),
            C::Cancel {
                reason: None,
                now: at(3),
            },
        ]);
        assert!(matches!(
            cancelled,
            Ok(SubscriptionEvent::SubscriptionCancelled { grace_ends_at: Some(end), .. }) if end == at(10)
        ));
        assert_eq!(state.status, SubscriptionStatus::Cancelled);
        let (state, _) = run(vec![create(), C::Delete]);
        assert_eq!(state.status, SubscriptionStatus::Deleted);
        for command in [
            C::Delete,
            C::Resume,
            C::Cancel {
                reason: None,
                now: at(1),
            },
            C::Update(SubscriptionChanges {
                grace_days: Some(1),
                ..Default::default()
            }),
            C::EndGrace { now: at(90) },
        ] {
            let refused = run(vec![create(), C::Delete, command]).1;
            assert!(
                matches!(refused, Err(DomainError::InvalidState { ref state, .. }) if state == "deleted"),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn changes_to_the_grace_and_the_details_are_checked() {
        let change = |changes: SubscriptionChanges| run(vec![create(), C::Update(changes)]).1;
        assert!(matches!(
            change(SubscriptionChanges {
                grace_days: Some(-2),
                ..Default::default()
            }),
            Err(DomainError::Invalid {
                field: "grace_days",
                ..
            })
        ));
        let details = SubscriptionDetails {
            onboarding: "half done".into(),
            ..Default::default()
        };
        assert!(matches!(
            change(SubscriptionChanges {
                details: Some(Box::new(details)),
                ..Default::default()
            }),
            Err(DomainError::Invalid {
                field: "onboarding",
                ..
            })
        ));
        let details = SubscriptionDetails {
            onboarding: "success".into(),
            app_limit: -1,
            namespace_limit: 10,
            ..Default::default()
        };
        assert!(change(SubscriptionChanges {
            details: Some(Box::new(details)),
            trial_ends_at: Some(at(60)),
            ..Default::default()
        })
        .is_ok());
    }
}
