//! The instance aggregate: a deployed service instance of the fleet.
//!
//! ```text
//! create ─► deploying ──ready──► running ◄──start── stopped
//!               │                 │  ▲ └──stop──────►  │
//!               │          restart, failover, capacity │
//!               └──fail──► failed ◄──fail──────────────┘
//! delete: any state but deleted ─► deleted (kept in the read models for cost and audit)
//! ```

use std::fmt;

pub use fleet_events::instance::{InstanceEvent, InstanceSpec};
use serde::{Deserialize, Serialize};

use crate::{Aggregate, DomainError};

mod configuration;

pub use configuration::{Configuration, NETWORK_TYPES};

/// The largest capacity (replicas) one instance may have.
pub const MAX_CAPACITY: i64 = 10_000;
pub const CLOUD_PROVIDERS: &[&str] = crate::vocabulary::CloudProvider::WORDS;
/// What a failover does with the failed replica.
pub const FAILOVER_ACTIONS: &[&str] = &[
    "FAILOVER_ONLY",
    "FAILOVER_AND_RESTART",
    "FAILOVER_AND_RECREATE",
];
pub const ENVIRONMENT_TYPES: &[&str] = crate::vocabulary::EnvironmentType::WORDS;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum InstanceStatus {
    #[default]
    Deploying,
    Running,
    Stopped,
    Failed,
    Deleted,
}

impl InstanceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deploying => "deploying",
            Self::Running => "running",
            Self::Stopped => "stopped",
            Self::Failed => "failed",
            Self::Deleted => "deleted",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::Deploying,
            Self::Running,
            Self::Stopped,
            Self::Failed,
            Self::Deleted,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

impl fmt::Display for InstanceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
pub enum InstanceCommand {
    Create {
        spec: Box<InstanceSpec>,
        capacity: i64,
    },
    MarkReady,
    Fail {
        reason: String,
    },
    Stop,
    Start,
    Restart,
    Failover {
        replica_id: Option<String>,
        /// One of [`FAILOVER_ACTIONS`].
        action: Option<String>,
    },
    ChangeCapacity {
        delta: i64,
    },
    Delete,
    /// Moves a running instance to a tier version, for an upgrade path.
    Upgrade {
        version: String,
        upgrade_path_id: String,
    },
    /// Brings a failed instance back, once the workflow that failed it succeeded on a retry.
    Recover {
        to: InstanceStatus,
    },
    /// Its configuration, apart from its lifecycle.
    Configure(Configuration),
}

impl InstanceCommand {
    fn action(&self) -> &'static str {
        match self {
            Self::Create { .. } => "create",
            Self::MarkReady => "mark ready",
            Self::Fail { .. } => "fail",
            Self::Stop => "stop",
            Self::Start => "start",
            Self::Restart => "restart",
            Self::Failover { .. } => "fail over",
            Self::ChangeCapacity { .. } => "change the capacity of",
            Self::Delete => "delete",
            Self::Upgrade { .. } => "upgrade",
            Self::Recover { .. } => "recover",
            Self::Configure(change) => change.action(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Instance {
    /// `None` until the instance is created.
    pub spec: Option<InstanceSpec>,
    pub status: InstanceStatus,
    pub capacity: i64,
    pub debug_mode: bool,
    /// `None`: the tier's first version.
    pub tier_version: Option<String>,
    /// Why it failed, while it is failed.
    pub failure_reason: Option<String>,
}

impl Instance {
    fn refuse(&self, command: &InstanceCommand) -> DomainError {
        DomainError::InvalidState {
            aggregate: Self::TYPE,
            action: command.action(),
            state: self.status.to_string(),
        }
    }
}

fn validate_spec(spec: &InstanceSpec, capacity: i64) -> Result<(), DomainError> {
    let required = [
        ("service_id", &spec.service_id),
        ("plan_id", &spec.plan_id),
        ("region", &spec.region),
        ("deployment_cell", &spec.deployment_cell),
        ("instance_type", &spec.instance_type),
    ];
    for (field, value) in required {
        if value.trim().is_empty() {
            return Err(DomainError::invalid(field, "must not be empty"));
        }
        if value.len() > 200 {
            return Err(DomainError::invalid(
                field,
                "must be at most 200 characters",
            ));
        }
    }
    if !CLOUD_PROVIDERS.contains(&spec.cloud_provider.as_str()) {
        return Err(DomainError::invalid(
            "cloud_provider",
            format!("must be one of {}", CLOUD_PROVIDERS.join(", ")),
        ));
    }
    if !ENVIRONMENT_TYPES.contains(&spec.environment_type.as_str()) {
        return Err(DomainError::invalid(
            "environment_type",
            format!("must be one of {}", ENVIRONMENT_TYPES.join(", ")),
        ));
    }
    if let Some(version) = &spec.tier_version {
        crate::validate::required("productTierVersion", version, 64)?;
    }
    if !(1..=MAX_CAPACITY).contains(&capacity) {
        return Err(DomainError::invalid(
            "capacity",
            format!("must be between 1 and {MAX_CAPACITY}"),
        ));
    }
    Ok(())
}

impl Aggregate for Instance {
    const TYPE: &'static str = fleet_events::instance::AGGREGATE_TYPE;
    type Command = InstanceCommand;
    type Event = InstanceEvent;

    fn decide(&self, command: &InstanceCommand) -> Result<InstanceEvent, DomainError> {
        use InstanceCommand as C;
        use InstanceStatus as S;
        if let C::Create { spec, capacity } = command {
            if self.exists() {
                return Err(DomainError::AlreadyExists {
                    aggregate: Self::TYPE,
                });
            }
            // Providers are written in lower case and environments in upper case, whichever
            // way a caller wrote them.
            let mut spec = (**spec).clone();
            spec.cloud_provider = spec.cloud_provider.to_ascii_lowercase();
            spec.environment_type = spec.environment_type.to_ascii_uppercase();
            validate_spec(&spec, *capacity)?;
            return Ok(InstanceEvent::InstanceCreated {
                spec,
                capacity: *capacity,
            });
        }
        if !self.exists() {
            return Err(DomainError::NotFound {
                aggregate: Self::TYPE,
            });
        }
        if let C::Configure(change) = command {
            return self.configure(change);
        }
        let event = match (command, self.status) {
            (C::MarkReady, S::Deploying) => InstanceEvent::InstanceProvisioned {},
            (C::Fail { reason }, S::Deploying | S::Running | S::Stopped) => {
                if reason.trim().is_empty() {
                    return Err(DomainError::invalid("reason", "must not be empty"));
                }
                InstanceEvent::InstanceFailed {
                    reason: reason.clone(),
                    previous_status: self.status.to_string(),
                }
            }
            (C::Stop, S::Running) => InstanceEvent::InstanceStopped {},
            (C::Start, S::Stopped) => InstanceEvent::InstanceStarted {},
            (C::Restart, S::Running) => InstanceEvent::InstanceRestarted {},
            (C::Failover { replica_id, action }, S::Running) => {
                if let Some(action) = action {
                    crate::validate::one_of("failedReplicaAction", action, FAILOVER_ACTIONS)?;
                }
                InstanceEvent::InstanceFailedOver {
                    replica_id: replica_id.clone(),
                    action: action.clone(),
                }
            }
            (C::ChangeCapacity { delta }, S::Running) => {
                if *delta == 0 {
                    return Err(DomainError::invalid("delta", "must not be zero"));
                }
                let to = self.capacity.saturating_add(*delta);
                if to < 1 {
                    return Err(DomainError::invalid(
                        "delta",
                        format!(
                            "would leave capacity {to}; capacity is {} and must stay at least 1",
                            self.capacity
                        ),
                    ));
                }
                if to > MAX_CAPACITY {
                    return Err(DomainError::invalid(
                        "delta",
                        format!(
                            "would leave capacity {to}; capacity is {} and may be at most {MAX_CAPACITY}",
                            self.capacity
                        ),
                    ));
                }
                InstanceEvent::InstanceCapacityChanged {
                    delta: *delta,
                    from: self.capacity,
                    to,
                }
            }
            (C::Delete, status) if status != S::Deleted => InstanceEvent::InstanceDeleted {
                previous_status: status.to_string(),
            },
            (
                C::Upgrade {
                    version,
                    upgrade_path_id,
                },
                S::Running,
            ) => {
                crate::validate::required("targetVersion", version, 64)?;
                if self.tier_version.as_ref() == Some(version) {
                    return Err(DomainError::Unchanged {
                        detail: format!("the instance runs version {version} already"),
                    });
                }
                InstanceEvent::InstancePatched {
                    tier_version: Some(version.clone()),
                    overrides: None,
                    upgrade_path_id: Some(upgrade_path_id.clone()),
                }
            }
            (C::Recover { to }, S::Failed) if matches!(to, S::Running | S::Stopped) => {
                InstanceEvent::InstanceRecovered {
                    status: to.to_string(),
                }
            }
            _ => return Err(self.refuse(command)),
        };
        Ok(event)
    }

    fn evolve(&mut self, event: &InstanceEvent) {
        use InstanceEvent as E;
        match event {
            E::InstanceCreated { spec, capacity } => {
                self.spec = Some(spec.clone());
                self.tier_version = spec.tier_version.clone();
                self.capacity = *capacity;
                self.status = InstanceStatus::Deploying;
            }
            E::InstanceProvisioned {} | E::InstanceStarted {} => {
                self.status = InstanceStatus::Running
            }
            E::InstanceFailed { reason, .. } => {
                self.status = InstanceStatus::Failed;
                self.failure_reason = Some(reason.clone());
            }
            E::InstanceStopped {} => self.status = InstanceStatus::Stopped,
            E::InstanceRestarted {} | E::InstanceFailedOver { .. } => {}
            E::InstanceCapacityChanged { to, .. } => self.capacity = *to,
            E::InstanceDeleted { .. } => self.status = InstanceStatus::Deleted,
            E::InstanceDebugModeSet { enabled } => self.debug_mode = *enabled,
            E::InstancePatched { tier_version, .. } => {
                if tier_version.is_some() {
                    self.tier_version = tier_version.clone();
                }
            }
            E::InstanceRecovered { status } => {
                self.status = InstanceStatus::parse(status).unwrap_or(InstanceStatus::Running);
                self.failure_reason = None;
            }
            E::InstanceUpdated { .. }
            | E::InstanceInstallerRecorded { .. }
            | E::InstanceResellerMetadataSet { .. } => {}
        }
    }

    fn exists(&self) -> bool {
        self.spec.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use InstanceCommand as C;

    fn spec() -> InstanceSpec {
        InstanceSpec {
            name: Some("db-1".into()),
            service_id: "s-postgres".into(),
            plan_id: "pt-standard".into(),
            cloud_provider: "aws".into(),
            region: "us-east-1".into(),
            deployment_cell: "hc-1".into(),
            instance_type: "m5.large".into(),
            environment_type: "PROD".into(),
            customer_id: None,
            subscription_id: None,
            restored_from: None,
            adopted: false,
            tier_version: None,
        }
    }

    fn run(commands: &[C]) -> (Instance, Result<InstanceEvent, DomainError>) {
        crate::run_commands::<Instance>(commands)
    }

    fn create() -> C {
        C::Create {
            spec: Box::new(spec()),
            capacity: 2,
        }
    }

    #[test]
    fn happy_lifecycle() {
        let (state, last) = run(&[
            create(),
            C::MarkReady,
            C::Stop,
            C::Start,
            C::Restart,
            C::Failover {
                replica_id: None,
                action: None,
            },
            C::ChangeCapacity { delta: 3 },
            C::ChangeCapacity { delta: -4 },
            C::Delete,
        ]);
        assert!(last.is_ok());
        assert_eq!(state.status, InstanceStatus::Deleted);
        assert_eq!(state.capacity, 1);
    }

    #[test]
    fn illegal_transitions_name_the_current_state() {
        let cases: Vec<(Vec<C>, &str)> = vec![
            (vec![create(), C::MarkReady, C::Start], "running"),
            (vec![create(), C::Stop], "deploying"),
            (vec![create(), C::MarkReady, C::MarkReady], "running"),
            (vec![create(), C::Restart], "deploying"),
            (vec![create(), C::MarkReady, C::Stop, C::Restart], "stopped"),
            (
                vec![
                    create(),
                    C::MarkReady,
                    C::Stop,
                    C::ChangeCapacity { delta: 1 },
                ],
                "stopped",
            ),
            (vec![create(), C::Delete, C::Start], "deleted"),
            (vec![create(), C::Delete, C::Delete], "deleted"),
            (
                vec![
                    create(),
                    C::Fail {
                        reason: "disk".into(),
                    },
                    C::Fail {
                        reason: "again".into(),
                    },
                ],
                "failed",
            ),
        ];
        for (commands, state) in cases {
            let (_, last) = run(&commands);
            match last {
                Err(DomainError::InvalidState { state: s, .. }) => assert_eq!(s, state),
                other => panic!("{commands:?}: expected InvalidState({state}), got {other:?}"),
            }
        }
    }

    #[test]
    fn fail_is_allowed_from_every_live_state() {
        for prefix in [
            vec![create()],
            vec![create(), C::MarkReady],
            vec![create(), C::MarkReady, C::Stop],
        ] {
            let mut commands = prefix;
            commands.push(C::Fail {
                reason: "host lost".into(),
            });
            let (state, last) = run(&commands);
            assert!(last.is_ok(), "{commands:?}");
            assert_eq!(state.status, InstanceStatus::Failed);
        }
        let (state, last) = run(&[create(), C::Fail { reason: "x".into() }, C::Delete]);
        assert!(last.is_ok());
        assert_eq!(state.status, InstanceStatus::Deleted);
    }

    #[test]
    fn capacity_stays_between_one_and_the_maximum() {
        let (state, last) = run(&[create(), C::MarkReady, C::ChangeCapacity { delta: -2 }]);
        assert!(matches!(
            last,
            Err(DomainError::Invalid { field: "delta", .. })
        ));
        assert_eq!(state.capacity, 2);
        let (_, last) = run(&[create(), C::MarkReady, C::ChangeCapacity { delta: 0 }]);
        assert!(matches!(
            last,
            Err(DomainError::Invalid { field: "delta", .. })
        ));
        let (_, last) = run(&[
            create(),
            C::MarkReady,
            C::ChangeCapacity { delta: i64::MAX },
        ]);
        assert!(matches!(
            last,
            Err(DomainError::Invalid { field: "delta", .. })
        ));
        let (_, last) = run(&[create(), C::MarkReady, C::ChangeCapacity { delta: -1 }]);
        assert_eq!(
            last.unwrap(),
            InstanceEvent::InstanceCapacityChanged {
                delta: -1,
                from: 2,
                to: 1
            }
        );
    }

    #[test]
    fn an_upgrade_moves_a_running_instance_once() {
        let upgrade = || C::Upgrade {
            version: "2.0".into(),
            upgrade_path_id: "up-1".into(),
        };
        let (state, last) = run(&[create(), C::MarkReady, upgrade()]);
        assert!(last.is_ok());
        assert_eq!(state.tier_version.as_deref(), Some("2.0"));
        let (_, last) = run(&[create(), C::MarkReady, upgrade(), upgrade()]);
        assert!(matches!(last, Err(DomainError::Unchanged { .. })));
        let (_, last) = run(&[create(), upgrade()]);
        assert!(matches!(last, Err(DomainError::InvalidState { .. })));
    }

    #[test]
    fn only_a_failed_instance_recovers() {
        let recover = C::Recover {
            to: InstanceStatus::Running,
        };
        let (state, last) = run(&[create(), C::Fail { reason: "x".into() }, recover.clone()]);
        assert!(last.is_ok());
        assert_eq!(state.status, InstanceStatus::Running);
        let (_, last) = run(&[create(), C::MarkReady, recover.clone()]);
        assert!(matches!(last, Err(DomainError::InvalidState { .. })));
        let (_, last) = run(&[
            create(),
            C::Fail { reason: "x".into() },
            C::Recover {
                to: InstanceStatus::Deleted,
            },
        ]);
        assert!(matches!(last, Err(DomainError::InvalidState { .. })));
    }

    #[test]
    fn commands_on_a_missing_instance_are_not_found() {
        let (_, last) = run(&[C::Start]);
        assert!(matches!(last, Err(DomainError::NotFound { .. })));
        let (_, last) = run(&[create(), create()]);
        assert!(matches!(last, Err(DomainError::AlreadyExists { .. })));
    }

    #[test]
    fn create_validates_its_fields() {
        let mut bad = spec();
        bad.cloud_provider = "mars".into();
        let err = Instance::default()
            .decide(&C::Create {
                spec: Box::new(bad),
                capacity: 1,
            })
            .unwrap_err();
        assert!(matches!(
            err,
            DomainError::Invalid {
                field: "cloud_provider",
                ..
            }
        ));
        let mut bad = spec();
        bad.region = "  ".into();
        let err = Instance::default()
            .decide(&C::Create {
                spec: Box::new(bad),
                capacity: 1,
            })
            .unwrap_err();
        assert!(matches!(
            err,
            DomainError::Invalid {
                field: "region",
                ..
            }
        ));
        let err = Instance::default()
            .decide(&C::Create {
                spec: Box::new(spec()),
                capacity: 0,
            })
            .unwrap_err();
        assert!(matches!(
            err,
            DomainError::Invalid {
                field: "capacity",
                ..
            }
        ));
    }
}
