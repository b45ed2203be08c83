//! The snapshot aggregate: a point-in-time copy of an instance's data.
//!
//! ```text
//! request (of a running instance, or a copy of a completed snapshot)
//!   ─► creating ──complete──► completed ──restore──► a new instance (its own aggregate)
//!         └──fail──► failed
//! delete: any state but deleted ─► deleted
//! ```
//! A snapshot carries what its source instance was, so it outlives the instance: a restore
//! after the source is deleted recreates it all the same. Restoring is not an event of the
//! snapshot; the new instance's creation names the snapshot it came from.

use std::fmt;

use fleet_events::instance::InstanceSpec;
pub use fleet_events::snapshot::SnapshotEvent;

use crate::{validate, Aggregate, DomainError};

pub const KINDS: &[&str] = &["manual", "automated"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnapshotStatus {
    #[default]
    Creating,
    Completed,
    Failed,
    Deleted,
}

impl SnapshotStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Deleted => "deleted",
        }
    }
}

impl fmt::Display for SnapshotStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a snapshot is of, fixed when it is requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    pub source_instance_id: String,
    pub source: InstanceSpec,
    pub source_capacity: i64,
    pub kind: String,
    pub region: String,
    pub copied_from: Option<String>,
}

#[derive(Debug, Clone)]
pub enum SnapshotCommand {
    /// The caller checked that the source instance is running, or, for a copy, that the
    /// snapshot copied is completed.
    Request(Box<Taken>),
    Complete,
    Fail {
        reason: String,
    },
    Delete,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub taken: Option<Taken>,
    pub status: SnapshotStatus,
}

impl Snapshot {
    /// Whether a restore may start from it.
    pub fn restorable(&self) -> bool {
        self.status == SnapshotStatus::Completed
    }

    fn refuse(&self, action: &'static str) -> DomainError {
        DomainError::InvalidState {
            aggregate: Self::TYPE,
            action,
            state: self.status.to_string(),
        }
    }
}

impl Aggregate for Snapshot {
    const TYPE: &'static str = fleet_events::snapshot::AGGREGATE_TYPE;
    type Command = SnapshotCommand;
    type Event = SnapshotEvent;

    fn decide(&self, command: &SnapshotCommand) -> Result<SnapshotEvent, DomainError> {
        use SnapshotCommand as C;
        use SnapshotStatus as S;
        if let C::Request(taken) = command {
            if self.exists() {
                return Err(DomainError::AlreadyExists {
                    aggregate: Self::TYPE,
                });
            }
            validate::one_of("kind", &taken.kind, KINDS)?;
            validate::required("region", &taken.region, 200)?;
            return Ok(SnapshotEvent::SnapshotRequested {
                source_instance_id: taken.source_instance_id.clone(),
                source: taken.source.clone(),
                source_capacity: taken.source_capacity,
                kind: taken.kind.clone(),
                region: taken.region.clone(),
                copied_from: taken.copied_from.clone(),
            });
        }
        if !self.exists() {
            return Err(DomainError::NotFound {
                aggregate: Self::TYPE,
            });
        }
        match (command, self.status) {
            (C::Complete, S::Creating) => Ok(SnapshotEvent::SnapshotCompleted {}),
            (C::Complete, _) => Err(self.refuse("complete")),
            (C::Fail { reason }, S::Creating) => {
                validate::required("reason", reason, 1000)?;
                Ok(SnapshotEvent::SnapshotFailed {
                    reason: reason.clone(),
                })
            }
            (C::Fail { .. }, _) => Err(self.refuse("fail")),
            (C::Delete, status) if status != S::Deleted => Ok(SnapshotEvent::SnapshotDeleted {
                previous_status: status.to_string(),
            }),
            (C::Delete, _) => Err(self.refuse("delete")),
            (C::Request(_), _) => unreachable!("handled above"),
        }
    }

    fn evolve(&mut self, event: &SnapshotEvent) {
        use SnapshotEvent as E;
        match event {
            E::SnapshotRequested {
                source_instance_id,
                source,
                source_capacity,
                kind,
                region,
                copied_from,
            } => {
                self.taken = Some(Taken {
                    source_instance_id: source_instance_id.clone(),
                    source: source.clone(),
                    source_capacity: *source_capacity,
                    kind: kind.clone(),
                    region: region.clone(),
                    copied_from: copied_from.clone(),
                });
                self.status = SnapshotStatus::Creating;
            }
            E::SnapshotCompleted {} => self.status = SnapshotStatus::Completed,
            E::SnapshotFailed { .. } => self.status = SnapshotStatus::Failed,
            E::SnapshotDeleted { .. } => self.status = SnapshotStatus::Deleted,
        }
    }

    fn exists(&self) -> bool {
        self.taken.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SnapshotCommand as C;

    fn request() -> C {
        C::Request(Box::new(Taken {
            source_instance_id: "i-1".into(),
            source: InstanceSpec {
                name: None,
                service_id: "s".into(),
                plan_id: "p".into(),
                cloud_provider: "aws".into(),
                region: "us-east-1".into(),
                deployment_cell: "hc-1".into(),
                instance_type: "m5.large".into(),
                environment_type: "PROD".into(),
                customer_id: Some("c".into()),
                subscription_id: Some("sub".into()),
                restored_from: None,
                adopted: false,
                tier_version: None,
            },
            source_capacity: 2,
            kind: "manual".into(),
            region: "us-east-1".into(),
            copied_from: None,
        }))
    }

    fn run(commands: Vec<C>) -> (Snapshot, Result<SnapshotEvent, DomainError>) {
        crate::run_commands::<Snapshot>(&commands)
    }

    fn refused(result: Result<SnapshotEvent, DomainError>) -> String {
        match result {
            Err(DomainError::InvalidState { state, .. }) => state,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_snapshot_is_restorable_once_completed_and_never_after_deletion() {
        let (state, _) = run(vec![request()]);
        assert!(!state.restorable());
        let (state, _) = run(vec![request(), C::Complete]);
        assert!(state.restorable());
        let (state, last) = run(vec![request(), C::Complete, C::Delete]);
        assert!(matches!(
            last,
            Ok(SnapshotEvent::SnapshotDeleted { ref previous_status }) if previous_status == "completed"
        ));
        assert!(!state.restorable());
    }

    #[test]
    fn every_illegal_transition_is_refused_with_the_current_state() {
        let fail = || C::Fail {
            reason: "disk full".into(),
        };
        assert_eq!(
            refused(run(vec![request(), C::Complete, C::Complete]).1),
            "completed"
        );
        assert_eq!(
            refused(run(vec![request(), C::Complete, fail()]).1),
            "completed"
        );
        assert_eq!(
            refused(run(vec![request(), fail(), C::Complete]).1),
            "failed"
        );
        assert_eq!(
            refused(run(vec![request(), C::Delete, C::Delete]).1),
            "deleted"
        );
        assert_eq!(
            refused(run(vec![request(), C::Delete, C::Complete]).1),
            "deleted"
        );
        assert!(matches!(
            run(vec![request(), request()]).1,
            Err(DomainError::AlreadyExists { .. })
        ));
        assert!(matches!(
            run(vec![C::Complete]).1,
            Err(DomainError::NotFound { .. })
        ));
    }

    #[test]
    fn a_request_names_a_known_kind() {
        let C::Request(mut taken) = request() else {
            unreachable!()
        };
        taken.kind = "weekly".into();
        assert!(matches!(
            run(vec![C::Request(taken)]).1,
            Err(DomainError::Invalid { field: "kind", .. })
        ));
    }
}
