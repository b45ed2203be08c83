//! The onboarding aggregate: a provider's onboarding of a new offering, stage by stage.
//!
//! ```text
//! create ─► every stage not_started ──set (COMPLETE | SKIPPED)──► … ─► completed
//! a skipped stage may be completed later; a complete stage is final. delete ─► gone
//! ```

pub use fleet_events::onboarding::OnboardingEvent;

use crate::{validate, Aggregate, DomainError};

/// The stages every onboarding has, in order.
pub const STAGES: &[&str] = &[
    "ConfigureAccounts",
    "UploadArtifacts",
    "BuildSaaS",
    "Preview",
    "LaunchSaaS",
];
pub const TYPES: &[&str] = &["CONTAINER_IMAGE", "DOCKER_COMPOSE", "CLOUD_NATIVE"];

#[derive(Debug, Clone)]
pub enum OnboardingCommand {
    Create {
        name: String,
        onboarding_type: String,
    },
    SetStage {
        stage: String,
        status: String,
    },
    LinkService {
        service_id: String,
    },
    Delete,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Onboarding {
    pub created: bool,
    pub deleted: bool,
    /// (stage, status) in order.
    pub stages: Vec<(String, String)>,
    pub service_id: Option<String>,
}

impl Onboarding {
    pub fn completed(&self) -> bool {
        self.stages.iter().all(|(_, s)| s != "NOT_STARTED")
    }
}

impl Aggregate for Onboarding {
    const TYPE: &'static str = fleet_events::onboarding::AGGREGATE_TYPE;
    type Command = OnboardingCommand;
    type Event = OnboardingEvent;

    fn decide(&self, command: &OnboardingCommand) -> Result<OnboardingEvent, DomainError> {
        if let OnboardingCommand::Create {
            name,
            onboarding_type,
        } = command
        {
            if self.created {
                return Err(DomainError::AlreadyExists {
                    aggregate: Self::TYPE,
                });
            }
            validate::required("name", name, 200)?;
            validate::one_of("onboardingType", onboarding_type, TYPES)?;
            return Ok(OnboardingEvent::OnboardingCreated {
                name: name.clone(),
                onboarding_type: onboarding_type.clone(),
                stages: STAGES.iter().map(|s| (*s).to_owned()).collect(),
            });
        }
        if !self.exists() {
            return Err(DomainError::NotFound {
                aggregate: Self::TYPE,
            });
        }
        Ok(match command {
            OnboardingCommand::SetStage { stage, status } => {
                validate::one_of("stage.status", status, &["COMPLETE", "SKIPPED"])?;
                let Some((_, now)) = self.stages.iter().find(|(s, _)| s == stage) else {
                    return Err(DomainError::invalid(
                        "stage.name",
                        format!("must be one of {}", STAGES.join(", ")),
                    ));
                };
                if now == "COMPLETE" || now == status {
                    return Err(DomainError::InvalidState {
                        aggregate: "onboarding stage",
                        action: "set",
                        state: now.to_ascii_lowercase(),
                    });
                }
                let completed = self
                    .stages
                    .iter()
                    .all(|(s, st)| s == stage || st != "NOT_STARTED");
                OnboardingEvent::OnboardingStageSet {
                    stage: stage.clone(),
                    status: status.clone(),
                    completed,
                }
            }
            OnboardingCommand::LinkService { service_id } => {
                validate::required("serviceId", service_id, 200)?;
                if self.service_id.as_ref() == Some(service_id) {
                    return Err(DomainError::Unchanged {
                        detail: "the onboarding is linked to that service already".into(),
                    });
                }
                OnboardingEvent::OnboardingServiceLinked {
                    service_id: service_id.clone(),
                }
            }
            OnboardingCommand::Delete => OnboardingEvent::OnboardingDeleted {},
            OnboardingCommand::Create { .. } => unreachable!("handled above"),
        })
    }

    fn evolve(&mut self, event: &OnboardingEvent) {
        match event {
            OnboardingEvent::OnboardingCreated { stages, .. } => {
                self.created = true;
                self.stages = stages
                    .iter()
                    .map(|s| (s.clone(), "NOT_STARTED".to_owned()))
                    .collect();
            }
            OnboardingEvent::OnboardingStageSet { stage, status, .. } => {
                if let Some(entry) = self.stages.iter_mut().find(|(s, _)| s == stage) {
                    entry.1 = status.clone();
                }
            }
            OnboardingEvent::OnboardingServiceLinked { service_id } => {
                self.service_id = Some(service_id.clone())
            }
            OnboardingEvent::OnboardingDeleted {} => self.deleted = true,
        }
    }

    fn exists(&self) -> bool {
        self.created && !self.deleted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OnboardingCommand as C;

    fn create() -> C {
        C::Create {
            name: "My Onboarding".into(),
            onboarding_type: "CLOUD_NATIVE".into(),
        }
    }

    fn set(stage: &str, status: &str) -> C {
        C::SetStage {
            stage: stage.into(),
            status: status.into(),
        }
    }

    #[test]
    fn the_last_stage_set_completes_it() {
        let mut commands = vec![create(), set("Preview", "SKIPPED")];
        commands.extend(STAGES.iter().map(|s| set(s, "COMPLETE")));
        let (state, last) = crate::run_commands::<Onboarding>(&commands);
        assert!(matches!(
            last,
            Ok(OnboardingEvent::OnboardingStageSet {
                completed: true,
                ..
            })
        ));
        assert!(state.completed());
    }

    #[test]
    fn illegal_transitions_are_refused() {
        let cases: Vec<(Vec<C>, &str)> = vec![
            (
                vec![
                    create(),
                    set("BuildSaaS", "COMPLETE"),
                    set("BuildSaaS", "SKIPPED"),
                ],
                "complete",
            ),
            (
                vec![
                    create(),
                    set("BuildSaaS", "COMPLETE"),
                    set("BuildSaaS", "COMPLETE"),
                ],
                "complete",
            ),
            (
                vec![
                    create(),
                    set("BuildSaaS", "SKIPPED"),
                    set("BuildSaaS", "SKIPPED"),
                ],
                "skipped",
            ),
        ];
        for (commands, state) in cases {
            match crate::run_commands::<Onboarding>(&commands).1 {
                Err(DomainError::InvalidState { state: s, .. }) => assert_eq!(s, state),
                other => panic!("{commands:?}: expected InvalidState({state}), got {other:?}"),
            }
        }
        let (_, last) = crate::run_commands::<Onboarding>(&[create(), C::Delete, C::Delete]);
        assert!(matches!(last, Err(DomainError::NotFound { .. })));
        let (_, last) = crate::run_commands::<Onboarding>(&[create(), set("Nope", "COMPLETE")]);
        assert!(matches!(last, Err(DomainError::Invalid { .. })));
    }
}
