//! The orchestration aggregate: several services deployed together, each deployment after
//! those it depends on.
//!
//! ```text
//! create ─► pending ──a deployment settles──► deploying ──all deployed──► running
//!                                                 └──one fails──► failed
//! modify (adds deployments): not deleted; delete: any but deleted ─► deleted
//! ```

use std::collections::{BTreeMap, BTreeSet};

pub use fleet_events::orchestration::{Deployment, OrchestrationEvent};

use crate::{Aggregate, DomainError};

pub const MAX_DEPLOYMENTS: usize = 50;

#[derive(Debug, Clone)]
pub enum OrchestrationCommand {
    Create {
        environment_type: String,
        deployments: Vec<Deployment>,
    },
    Modify {
        added: Vec<Deployment>,
    },
    Settle {
        alias: String,
        deployed: bool,
        reason: Option<String>,
    },
    Delete,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Orchestration {
    pub created: bool,
    pub deleted: bool,
    pub environment_type: String,
    pub deployments: Vec<Deployment>,
    /// alias -> deployed or not, once settled.
    pub settled: BTreeMap<String, bool>,
}

impl Orchestration {
    pub fn status(&self) -> &'static str {
        status_of(
            self.deleted,
            self.deployments.len(),
            self.settled.values().copied(),
        )
    }
}

/// An orchestration's state from its deployments: how many there are, and how those that
/// settled did (deployed or not).
pub fn status_of(
    deleted: bool,
    deployments: usize,
    settled: impl IntoIterator<Item = bool>,
) -> &'static str {
    let (mut done, mut failed) = (0, false);
    for deployed in settled {
        done += 1;
        failed |= !deployed;
    }
    if deleted {
        "DELETED"
    } else if failed {
        "FAILED"
    } else if done == deployments {
        "RUNNING"
    } else if done == 0 {
        "PENDING"
    } else {
        "DEPLOYING"
    }
}

/// Aliases unique and known, dependencies acyclic: the whole set, old and new together.
pub fn check_topology(all: &[Deployment]) -> Result<(), DomainError> {
    let bad = |why: String| DomainError::invalid("orchestrationCreateDSL", why);
    if all.is_empty() {
        return Err(bad("the description has no deployment".into()));
    }
    if all.len() > MAX_DEPLOYMENTS {
        return Err(bad(format!("at most {MAX_DEPLOYMENTS} deployments")));
    }
    let mut aliases = BTreeSet::new();
    for d in all {
        if d.alias.trim().is_empty() || !aliases.insert(d.alias.as_str()) {
            return Err(bad(format!(
                "deployment alias '{}' is empty or repeated",
                d.alias
            )));
        }
    }
    for d in all {
        if let Some(unknown) = d.depends_on.iter().find(|a| !aliases.contains(a.as_str())) {
            return Err(bad(format!(
                "{} depends on unknown deployment {unknown}",
                d.alias
            )));
        }
    }
    // Kahn's algorithm: whatever is left once nothing more can start is a cycle.
    let mut done: BTreeSet<&str> = BTreeSet::new();
    while done.len() < all.len() {
        let ready: Vec<&str> = all
            .iter()
            .filter(|d| !done.contains(d.alias.as_str()))
            .filter(|d| d.depends_on.iter().all(|a| done.contains(a.as_str())))
            .map(|d| d.alias.as_str())
            .collect();
        if ready.is_empty() {
            return Err(bad("the dependencies form a cycle".into()));
        }
        done.extend(ready);
    }
    Ok(())
}

impl Aggregate for Orchestration {
    const TYPE: &'static str = fleet_events::orchestration::AGGREGATE_TYPE;
    type Command = OrchestrationCommand;
    type Event = OrchestrationEvent;

    fn decide(&self, command: &OrchestrationCommand) -> Result<OrchestrationEvent, DomainError> {
        let refuse = |action| DomainError::InvalidState {
            aggregate: Self::TYPE,
            action,
            state: self.status().to_ascii_lowercase(),
        };
        match command {
            OrchestrationCommand::Create {
                environment_type,
                deployments,
            } => {
                if self.created {
                    return Err(DomainError::AlreadyExists {
                        aggregate: Self::TYPE,
                    });
                }
                check_topology(deployments)?;
                Ok(OrchestrationEvent::OrchestrationCreated {
                    environment_type: environment_type.clone(),
                    deployments: deployments.clone(),
                })
            }
            _ if !self.created => Err(DomainError::NotFound {
                aggregate: Self::TYPE,
            }),
            _ if self.deleted => Err(refuse(match command {
                OrchestrationCommand::Modify { .. } => "modify",
                OrchestrationCommand::Settle { .. } => "settle a deployment of",
                _ => "delete",
            })),
            OrchestrationCommand::Modify { added } => {
                let all: Vec<Deployment> = self.deployments.iter().chain(added).cloned().collect();
                check_topology(&all).map_err(|e| match e {
                    DomainError::Invalid { reason, .. } => {
                        DomainError::invalid("orchestrationModifyDSL", reason)
                    }
                    other => other,
                })?;
                Ok(OrchestrationEvent::OrchestrationModified {
                    added: added.clone(),
                })
            }
            OrchestrationCommand::Settle {
                alias,
                deployed,
                reason,
            } => {
                if !self.deployments.iter().any(|d| d.alias == *alias) {
                    return Err(DomainError::invalid("alias", "no such deployment"));
                }
                if self.settled.contains_key(alias) {
                    return Err(DomainError::Unchanged {
                        detail: format!("deployment {alias} is settled already"),
                    });
                }
                Ok(OrchestrationEvent::OrchestrationDeploymentSettled {
                    alias: alias.clone(),
                    deployed: *deployed,
                    reason: reason.clone(),
                })
            }
            OrchestrationCommand::Delete => Ok(OrchestrationEvent::OrchestrationDeleted {}),
        }
    }

    fn evolve(&mut self, event: &OrchestrationEvent) {
        match event {
            OrchestrationEvent::OrchestrationCreated {
                deployments,
                environment_type,
            } => {
                self.created = true;
                self.environment_type = environment_type.clone();
                self.deployments = deployments.clone();
            }
            OrchestrationEvent::OrchestrationModified { added } => {
                self.deployments.extend(added.iter().cloned())
            }
            OrchestrationEvent::OrchestrationDeploymentSettled {
                alias, deployed, ..
            } => {
                self.settled.insert(alias.clone(), *deployed);
            }
            OrchestrationEvent::OrchestrationDeleted {} => self.deleted = true,
        }
    }

    fn exists(&self) -> bool {
        self.created && !self.deleted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(alias: &str, deps: &[&str]) -> Deployment {
        Deployment {
            alias: alias.into(),
            service_id: "s".into(),
            plan_id: "p".into(),
            subscription_id: "sub".into(),
            cloud_provider: "aws".into(),
            region: "us-east-1".into(),
            instance_type: "m5.large".into(),
            depends_on: deps.iter().map(|d| (*d).to_owned()).collect(),
            instance_id: format!("i-{alias}"),
        }
    }

    #[test]
    fn topologies_are_checked() {
        assert!(check_topology(&[deployment("db", &[]), deployment("app", &["db"])]).is_ok());
        assert!(check_topology(&[deployment("a", &["b"]), deployment("b", &["a"])]).is_err());
        assert!(check_topology(&[deployment("a", &["zz"])]).is_err());
        assert!(check_topology(&[deployment("a", &[]), deployment("a", &[])]).is_err());
    }

    #[test]
    fn status_follows_the_deployments_and_a_deleted_one_refuses() {
        let create = OrchestrationCommand::Create {
            environment_type: "DEV".into(),
            deployments: vec![deployment("db", &[]), deployment("app", &["db"])],
        };
        let settle = |alias: &str| OrchestrationCommand::Settle {
            alias: alias.into(),
            deployed: true,
            reason: None,
        };
        let (state, _) = crate::run_commands::<Orchestration>(&[create.clone(), settle("db")]);
        assert_eq!(state.status(), "DEPLOYING");
        let (state, _) =
            crate::run_commands::<Orchestration>(&[create.clone(), settle("db"), settle("app")]);
        assert_eq!(state.status(), "RUNNING");
        let (_, last) = crate::run_commands::<Orchestration>(&[
            create.clone(),
            OrchestrationCommand::Delete,
            OrchestrationCommand::Delete,
        ]);
        assert!(matches!(last, Err(DomainError::InvalidState { .. })));
        let (_, last) = crate::run_commands::<Orchestration>(&[
            create,
            OrchestrationCommand::Delete,
            OrchestrationCommand::Modify {
                added: vec![deployment("cache", &[])],
            },
        ]);
        assert!(matches!(last, Err(DomainError::InvalidState { .. })));
    }
}
