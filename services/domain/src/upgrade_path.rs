//! The upgrade-path aggregate: a product tier's instances rolled from one version to another,
//! at most `max_concurrent` at a time.
//!
//! ```text
//! create ─► scheduled ──date comes──► in_progress ──last instance ends──► complete | failed
//!   └──(no date)───────────────────────►  │  ▲
//!                                 pause   ▼  │ resume
//!                                       paused ──24 h──► cancelled
//! cancel: any state but complete, failed, cancelled ─► cancelled
//! ```
//! Each instance goes pending ─► in_progress ─► completed | failed, or is skipped while
//! pending. The path decides which instances start, so the concurrency bound holds however
//! many processes report ends at once; a paused path starts none.

use std::collections::BTreeMap;

use chrono::NaiveDate;
pub use fleet_events::upgrade_path::{UpgradePathEvent, UpgradePlan};

use crate::{validate, Aggregate, DomainError};

pub const MAX_CONCURRENT: i64 = 100;
pub const ACTIONS: &[&str] = &[
    "pause",
    "resume",
    "cancel",
    "skip-instances",
    "notify-customer",
];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PathStatus {
    #[default]
    Scheduled,
    InProgress,
    Paused,
    Complete,
    Failed,
    Cancelled,
}

impl PathStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::InProgress => "in_progress",
            Self::Paused => "paused",
            Self::Complete => "complete",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    fn is_over(self) -> bool {
        matches!(self, Self::Complete | Self::Failed | Self::Cancelled)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceUpgrade {
    Pending,
    InProgress,
    Completed,
    Failed,
    Skipped,
}

#[derive(Debug, Clone)]
pub enum UpgradePathCommand {
    Create {
        plan: Box<UpgradePlan>,
        today: NaiveDate,
    },
    Release {
        today: NaiveDate,
    },
    Pause,
    Resume,
    Cancel {
        reason: String,
    },
    Skip {
        instance_ids: Vec<String>,
    },
    NotifyCustomer,
    /// An instance's upgrade workflow ended.
    Finish {
        instance_id: String,
        succeeded: bool,
        reason: Option<String>,
    },
}

impl UpgradePathCommand {
    fn action(&self) -> &'static str {
        match self {
            Self::Create { .. } => "create",
            Self::Release { .. } => "release",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Cancel { .. } => "cancel",
            Self::Skip { .. } => "skip instances of",
            Self::NotifyCustomer => "notify the customers of",
            Self::Finish { .. } => "finish an instance of",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpgradePath {
    pub plan: Option<UpgradePlan>,
    pub status: PathStatus,
    pub instances: BTreeMap<String, InstanceUpgrade>,
    pub notify_customer: bool,
}

impl UpgradePath {
    fn refuse(&self, command: &UpgradePathCommand) -> DomainError {
        DomainError::InvalidState {
            aggregate: Self::TYPE,
            action: command.action(),
            state: self.status.as_str().into(),
        }
    }

    fn count(&self, of: InstanceUpgrade) -> usize {
        self.instances.values().filter(|s| **s == of).count()
    }

    /// The pending instances that start when `freed` more slots are free, in plan order.
    fn next(&self, freed: usize) -> Vec<String> {
        let Some(plan) = &self.plan else {
            return Vec::new();
        };
        let running = self
            .count(InstanceUpgrade::InProgress)
            .saturating_sub(freed);
        let slots = (plan.max_concurrent as usize).saturating_sub(running);
        plan.instance_ids
            .iter()
            .filter(|id| self.instances.get(*id) == Some(&InstanceUpgrade::Pending))
            .take(slots)
            .cloned()
            .collect()
    }

    /// The path's end once nothing is pending or moving, given one more failure or not.
    fn end(&self, pending: usize, moving: usize, failed: usize) -> Option<String> {
        (pending == 0 && moving == 0).then(|| {
            if failed > 0 {
                PathStatus::Failed
            } else {
                PathStatus::Complete
            }
            .as_str()
            .to_owned()
        })
    }
}

impl Aggregate for UpgradePath {
    const TYPE: &'static str = fleet_events::upgrade_path::AGGREGATE_TYPE;
    type Command = UpgradePathCommand;
    type Event = UpgradePathEvent;

    fn decide(&self, command: &UpgradePathCommand) -> Result<UpgradePathEvent, DomainError> {
        use PathStatus as S;
        use UpgradePathCommand as C;
        if let C::Create { plan, today } = command {
            if self.exists() {
                return Err(DomainError::AlreadyExists {
                    aggregate: Self::TYPE,
                });
            }
            validate::required("sourceVersion", &plan.source_version, 64)?;
            validate::required("targetVersion", &plan.target_version, 64)?;
            if plan.source_version == plan.target_version {
                return Err(DomainError::invalid(
                    "targetVersion",
                    "must differ from the source version",
                ));
            }
            if !(1..=MAX_CONCURRENT).contains(&plan.max_concurrent) {
                return Err(DomainError::invalid(
                    "maxConcurrentUpgrades",
                    format!("must be between 1 and {MAX_CONCURRENT}"),
                ));
            }
            if plan.instance_ids.is_empty() {
                return Err(DomainError::invalid(
                    "upgradeFilters",
                    "no instance it names can move: see each one's reason",
                ));
            }
            if plan.scheduled_date.is_some_and(|d| d <= *today) {
                return Err(DomainError::invalid(
                    "scheduledDate",
                    "must be a future date; leave it out to upgrade now",
                ));
            }
            let started = if plan.scheduled_date.is_some() {
                Vec::new()
            } else {
                plan.instance_ids
                    .iter()
                    .take(plan.max_concurrent as usize)
                    .cloned()
                    .collect()
            };
            return Ok(UpgradePathEvent::UpgradePathCreated {
                plan: (**plan).clone(),
                started,
            });
        }
        if !self.exists() {
            return Err(DomainError::NotFound {
                aggregate: Self::TYPE,
            });
        }
        Ok(match (command, self.status) {
            (C::Release { today }, S::Scheduled) => {
                let due = self.plan.as_ref().and_then(|p| p.scheduled_date);
                if due.is_some_and(|d| d > *today) {
                    return Err(DomainError::Unchanged {
                        detail: "the upgrade path is not due yet".into(),
                    });
                }
                UpgradePathEvent::UpgradePathReleased {
                    started: self.next(0),
                }
            }
            (C::Pause, S::InProgress) => UpgradePathEvent::UpgradePathPaused {},
            (C::Resume, S::Paused) => UpgradePathEvent::UpgradePathResumed {
                started: self.next(0),
            },
            (C::Cancel { reason }, s) if !s.is_over() => UpgradePathEvent::UpgradePathCancelled {
                reason: reason.clone(),
            },
            (C::Skip { instance_ids }, s) if !s.is_over() => {
                if instance_ids.is_empty() {
                    return Err(DomainError::invalid(
                        "actionPayload.resource-ids",
                        "name the instances to skip",
                    ));
                }
                for id in instance_ids {
                    match self.instances.get(id) {
                        Some(InstanceUpgrade::Pending) => {}
                        Some(_) => {
                            return Err(DomainError::invalid(
                                "actionPayload.resource-ids",
                                format!("{id} is not pending: only pending instances are skipped"),
                            ))
                        }
                        None => {
                            return Err(DomainError::invalid(
                                "actionPayload.resource-ids",
                                format!("{id} is not on this upgrade path"),
                            ))
                        }
                    }
                }
                let mut skipped = instance_ids.clone();
                skipped.sort();
                skipped.dedup();
                let pending = self.count(InstanceUpgrade::Pending) - skipped.len();
                let moving = self.count(InstanceUpgrade::InProgress);
                let status = (s != S::Scheduled)
                    .then(|| self.end(pending, moving, self.count(InstanceUpgrade::Failed)))
                    .flatten();
                UpgradePathEvent::UpgradeInstancesSkipped {
                    instance_ids: skipped,
                    status,
                }
            }
            (C::NotifyCustomer, s) if !s.is_over() => {
                if self.notify_customer {
                    return Err(DomainError::Unchanged {
                        detail: "the customers are notified already".into(),
                    });
                }
                UpgradePathEvent::UpgradePathCustomerNotified {}
            }
            (
                C::Finish {
                    instance_id,
                    succeeded,
                    reason,
                },
                s,
            ) => {
                if self.instances.get(instance_id) != Some(&InstanceUpgrade::InProgress) {
                    return Err(DomainError::Unchanged {
                        detail: format!("{instance_id} is not upgrading on this path"),
                    });
                }
                let started = if s == S::InProgress {
                    self.next(1)
                } else {
                    Vec::new()
                };
                let pending = self.count(InstanceUpgrade::Pending) - started.len();
                let moving = self.count(InstanceUpgrade::InProgress) - 1 + started.len();
                let failed = self.count(InstanceUpgrade::Failed) + usize::from(!succeeded);
                let status = (s == S::InProgress)
                    .then(|| self.end(pending, moving, failed))
                    .flatten();
                UpgradePathEvent::UpgradeInstanceFinished {
                    instance_id: instance_id.clone(),
                    succeeded: *succeeded,
                    reason: reason.clone(),
                    started,
                    status,
                }
            }
            _ => return Err(self.refuse(command)),
        })
    }

    fn evolve(&mut self, event: &UpgradePathEvent) {
        use UpgradePathEvent as E;
        let start = |me: &mut Self, started: &[String]| {
            for id in started {
                me.instances.insert(id.clone(), InstanceUpgrade::InProgress);
            }
        };
        match event {
            E::UpgradePathCreated { plan, started } => {
                self.instances = plan
                    .instance_ids
                    .iter()
                    .map(|id| (id.clone(), InstanceUpgrade::Pending))
                    .collect();
                self.notify_customer = plan.notify_customer;
                self.status = if plan.scheduled_date.is_some() {
                    PathStatus::Scheduled
                } else {
                    PathStatus::InProgress
                };
                self.plan = Some(plan.clone());
                start(self, started);
            }
            E::UpgradePathReleased { started } | E::UpgradePathResumed { started } => {
                self.status = PathStatus::InProgress;
                start(self, started);
            }
            E::UpgradePathPaused {} => self.status = PathStatus::Paused,
            E::UpgradePathCancelled { .. } => self.status = PathStatus::Cancelled,
            E::UpgradeInstancesSkipped {
                instance_ids,
                status,
            } => {
                for id in instance_ids {
                    self.instances.insert(id.clone(), InstanceUpgrade::Skipped);
                }
                self.end_with(status.as_deref());
            }
            E::UpgradePathCustomerNotified {} => self.notify_customer = true,
            E::UpgradeInstanceFinished {
                instance_id,
                succeeded,
                started,
                status,
                ..
            } => {
                let outcome = if *succeeded {
                    InstanceUpgrade::Completed
                } else {
                    InstanceUpgrade::Failed
                };
                self.instances.insert(instance_id.clone(), outcome);
                start(self, started);
                self.end_with(status.as_deref());
            }
        }
    }

    fn exists(&self) -> bool {
        self.plan.is_some()
    }
}

impl UpgradePath {
    fn end_with(&mut self, status: Option<&str>) {
        match status {
            Some("complete") => self.status = PathStatus::Complete,
            Some("failed") => self.status = PathStatus::Failed,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use UpgradePathCommand as C;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 3).unwrap()
    }

    fn create(n: usize, max: i64, scheduled: Option<NaiveDate>) -> C {
        C::Create {
            plan: Box::new(UpgradePlan {
                service_id: "s".into(),
                plan_id: "p".into(),
                source_version: "1.0".into(),
                target_version: "2.0".into(),
                instance_ids: (0..n).map(|i| format!("i{i}")).collect(),
                refused: BTreeMap::new(),
                max_concurrent: max,
                notify_customer: false,
                scheduled_date: scheduled,
                overrides: None,
            }),
            today: today(),
        }
    }

    fn finish(id: &str) -> C {
        C::Finish {
            instance_id: id.into(),
            succeeded: true,
            reason: None,
        }
    }

    fn run(commands: &[C]) -> (UpgradePath, Result<UpgradePathEvent, DomainError>) {
        crate::run_commands::<UpgradePath>(commands)
    }

    #[test]
    fn instances_move_at_most_max_concurrent_at_a_time() {
        let (state, last) = run(&[create(5, 2, None), finish("i0")]);
        let Ok(UpgradePathEvent::UpgradeInstanceFinished {
            started, status, ..
        }) = last
        else {
            panic!("{last:?}")
        };
        assert_eq!(started, vec!["i2".to_owned()]);
        assert_eq!(status, None);
        assert_eq!(state.count(InstanceUpgrade::InProgress), 2);
        let (state, _) = run(&[create(3, 2, None), finish("i0"), finish("i1"), finish("i2")]);
        assert_eq!(state.status, PathStatus::Complete);
    }

    #[test]
    fn a_paused_path_starts_nothing_until_resumed() {
        let (state, last) = run(&[create(4, 2, None), C::Pause, finish("i0"), finish("i1")]);
        let Ok(UpgradePathEvent::UpgradeInstanceFinished {
            started, status, ..
        }) = last
        else {
            panic!("{last:?}")
        };
        assert!(started.is_empty());
        assert_eq!(status, None);
        assert_eq!(state.count(InstanceUpgrade::InProgress), 0);
        let (_, last) = run(&[create(4, 2, None), C::Pause, finish("i0"), C::Resume]);
        assert_eq!(
            last.unwrap(),
            // i1 still moves: one slot of two is free.
            UpgradePathEvent::UpgradePathResumed {
                started: vec!["i2".into()]
            }
        );
    }

    #[test]
    fn a_failure_ends_the_path_failed_and_skips_count() {
        let (state, _) = run(&[
            create(3, 1, None),
            C::Skip {
                instance_ids: vec!["i2".into()],
            },
            C::Finish {
                instance_id: "i0".into(),
                succeeded: false,
                reason: Some("boom".into()),
            },
            finish("i1"),
        ]);
        assert_eq!(state.status, PathStatus::Failed);
        assert_eq!(state.count(InstanceUpgrade::Skipped), 1);
        let (_, last) = run(&[
            create(3, 1, None),
            C::Skip {
                instance_ids: vec!["i0".into()],
            },
        ]);
        assert!(matches!(last, Err(DomainError::Invalid { .. })));
    }

    #[test]
    fn scheduled_paths_wait_for_their_date() {
        let tomorrow = today().succ_opt();
        let (state, _) = run(&[create(2, 1, tomorrow)]);
        assert_eq!(state.status, PathStatus::Scheduled);
        let (_, last) = run(&[create(2, 1, tomorrow), C::Release { today: today() }]);
        assert!(matches!(last, Err(DomainError::Unchanged { .. })));
        let (state, _) = run(&[
            create(2, 1, tomorrow),
            C::Release {
                today: tomorrow.unwrap(),
            },
        ]);
        assert_eq!(state.status, PathStatus::InProgress);
        let (_, last) = run(&[create(2, 1, Some(today()))]);
        assert!(matches!(
            last,
            Err(DomainError::Invalid {
                field: "scheduledDate",
                ..
            })
        ));
    }

    #[test]
    fn every_illegal_transition_names_the_state() {
        let cancel = || C::Cancel {
            reason: "no".into(),
        };
        let cases: Vec<(Vec<C>, &str)> = vec![
            (vec![create(2, 1, None), C::Resume], "in_progress"),
            (vec![create(2, 1, None), C::Pause, C::Pause], "paused"),
            (
                vec![create(2, 1, today().succ_opt()), C::Pause],
                "scheduled",
            ),
            (vec![create(2, 1, None), cancel(), cancel()], "cancelled"),
            (vec![create(2, 1, None), cancel(), C::Resume], "cancelled"),
            (
                vec![create(2, 1, None), cancel(), C::NotifyCustomer],
                "cancelled",
            ),
            (vec![create(1, 1, None), finish("i0"), C::Pause], "complete"),
            (vec![create(1, 1, None), finish("i0"), cancel()], "complete"),
        ];
        for (commands, state) in cases {
            match run(&commands).1 {
                Err(DomainError::InvalidState { state: s, .. }) => assert_eq!(s, state),
                other => panic!("{commands:?}: expected InvalidState({state}), got {other:?}"),
            }
        }
    }
}
