//! The host-cluster aggregate: a deployment cell, where instances are placed.
//!
//! ```text
//! create ─► DEPLOYING ──ready──► READY ──apply pending changes──► DEPLOYING
//! adopt  ─► PENDING ────ready──┘   │ ▲
//!   DEPLOYING/PENDING ──fail──► FAILED ──restart──► DEPLOYING
//!   DEPLOYING ──cancel──► CANCELLED ──restart──► DEPLOYING;  READY ──restart──► DEPLOYING
//! delete (no live instance in it): any state but DELETED ─► DELETED
//! ```
//! Credentials (a dashboard token, a kubeconfig) are issued only for a READY cluster.

use chrono::{DateTime, Utc};
pub use fleet_events::host_cluster::HostClusterEvent;
use serde_json::Value;

use crate::{validate, Aggregate, DomainError};

pub const ORIGINS: &[&str] = &["created", "adopted"];
pub const CREDENTIALS: &[&str] = &["dashboard_token", "kubeconfig"];

/// Omnistrate's operation status, the vocabulary of a cluster's states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostClusterStatus {
    #[default]
    Pending,
    Deploying,
    Ready,
    Failed,
    Cancelled,
    Deleted,
}

impl HostClusterStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Deploying => "DEPLOYING",
            Self::Ready => "READY",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
            Self::Deleted => "DELETED",
        }
    }
}

#[derive(Debug, Clone)]
pub enum HostClusterCommand {
    Register {
        origin: String,
        cloud_provider: String,
        region: String,
        description: String,
        customer_email: Option<String>,
    },
    MarkReady,
    Fail {
        reason: String,
    },
    UpdateConfiguration {
        pending_amenities: Vec<Value>,
        sync_with_org_template: Option<bool>,
    },
    ApplyPendingChanges,
    CancelDeployment,
    RestartDeployment,
    ResizeNodePool {
        node_pool: String,
        max_size: i64,
    },
    IssueCredential {
        credential: String,
        role: Option<String>,
        fingerprint: String,
        expires_at: DateTime<Utc>,
    },
    /// `live_instances`: instances placed in it that are not deleted, which the caller
    /// counted; any of them refuses the deletion.
    Delete {
        live_instances: i64,
    },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostCluster {
    pub registered: bool,
    pub status: HostClusterStatus,
    pub pending_amenities: Vec<Value>,
}

impl HostCluster {
    fn refuse(&self, action: &'static str) -> DomainError {
        DomainError::InvalidState {
            aggregate: "host cluster",
            action,
            state: self.status.as_str().into(),
        }
    }
}

/// A cluster's id is a subject token: letters, digits, `-` and `_`.
pub fn validate_id(id: &str) -> Result<(), DomainError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "id",
            "must be 1 to 64 letters, digits, - or _",
        ))
    }
}

impl Aggregate for HostCluster {
    const TYPE: &'static str = fleet_events::host_cluster::AGGREGATE_TYPE;
    type Command = HostClusterCommand;
    type Event = HostClusterEvent;

    fn decide(&self, command: &HostClusterCommand) -> Result<HostClusterEvent, DomainError> {
        use HostClusterCommand as C;
        use HostClusterStatus as S;
        if let C::Register {
            origin,
            cloud_provider,
            region,
            description,
            customer_email,
        } = command
        {
            if self.exists() {
                return Err(DomainError::AlreadyExists {
                    aggregate: "host cluster",
                });
            }
            validate::one_of("origin", origin, ORIGINS)?;
            validate::one_of(
                "cloudProvider",
                cloud_provider,
                crate::vocabulary::CloudProvider::WORDS,
            )?;
            validate::required("region", region, 200)?;
            validate::required("description", description, 1000)?;
            validate::optional("customerEmail", customer_email.as_deref(), 320)?;
            return Ok(HostClusterEvent::HostClusterRegistered {
                origin: origin.clone(),
                cloud_provider: cloud_provider.clone(),
                region: region.clone(),
                description: description.clone(),
                customer_email: customer_email.clone(),
            });
        }
        if !self.exists() {
            return Err(DomainError::NotFound {
                aggregate: "host cluster",
            });
        }
        if self.status == S::Deleted {
            return Err(self.refuse(match command {
                C::Delete { .. } => "delete",
                _ => "change",
            }));
        }
        let event = match (command, self.status) {
            (C::MarkReady, S::Pending | S::Deploying) => HostClusterEvent::HostClusterReady {},
            (C::MarkReady, _) => return Err(self.refuse("mark ready")),
            (C::Fail { reason }, S::Pending | S::Deploying) => {
                validate::required("reason", reason, 1000)?;
                HostClusterEvent::HostClusterFailed {
                    reason: reason.clone(),
                }
            }
            (C::Fail { .. }, _) => return Err(self.refuse("fail")),
            (
                C::UpdateConfiguration {
                    pending_amenities,
                    sync_with_org_template,
                },
                _,
            ) => HostClusterEvent::HostClusterConfigurationUpdated {
                pending_amenities: pending_amenities.clone(),
                sync_with_org_template: *sync_with_org_template,
            },
            (C::ApplyPendingChanges, S::Ready) if !self.pending_amenities.is_empty() => {
                HostClusterEvent::HostClusterChangesApplied {
                    amenities: self.pending_amenities.clone(),
                }
            }
            (C::ApplyPendingChanges, S::Ready) => {
                return Err(DomainError::InvalidState {
                    aggregate: "host cluster",
                    action: "apply pending changes to",
                    state: "READY with no pending changes".into(),
                })
            }
            (C::ApplyPendingChanges, _) => return Err(self.refuse("apply pending changes to")),
            (C::CancelDeployment, S::Deploying) => {
                HostClusterEvent::HostClusterDeploymentCancelled {}
            }
            (C::CancelDeployment, _) => return Err(self.refuse("cancel the deployment of")),
            (C::RestartDeployment, S::Failed | S::Cancelled | S::Ready) => {
                HostClusterEvent::HostClusterDeploymentRestarted {}
            }
            (C::RestartDeployment, _) => return Err(self.refuse("restart the deployment of")),
            (
                C::ResizeNodePool {
                    node_pool,
                    max_size,
                },
                _,
            ) => {
                validate::required("nodePoolName", node_pool, 200)?;
                if *max_size < 0 {
                    return Err(DomainError::invalid("maxSize", "must not be negative"));
                }
                HostClusterEvent::HostClusterNodePoolResized {
                    node_pool: node_pool.clone(),
                    max_size: *max_size,
                }
            }
            (
                C::IssueCredential {
                    credential,
                    role,
                    fingerprint,
                    expires_at,
                },
                S::Ready,
            ) => {
                validate::one_of("credential", credential, CREDENTIALS)?;
                HostClusterEvent::HostClusterCredentialIssued {
                    credential: credential.clone(),
                    role: role.clone(),
                    fingerprint: fingerprint.clone(),
                    expires_at: *expires_at,
                }
            }
            (C::IssueCredential { .. }, _) => return Err(self.refuse("issue a credential for")),
            (C::Delete { live_instances }, status) => {
                if *live_instances > 0 {
                    return Err(DomainError::InvalidState {
                        aggregate: "host cluster",
                        action: "delete",
                        state: format!("the cell of {live_instances} live instances"),
                    });
                }
                HostClusterEvent::HostClusterDeleted {
                    previous_status: status.as_str().into(),
                }
            }
            (C::Register { .. }, _) => unreachable!("handled above"),
        };
        Ok(event)
    }

    fn evolve(&mut self, event: &HostClusterEvent) {
        use HostClusterEvent as E;
        use HostClusterStatus as S;
        match event {
            E::HostClusterRegistered { origin, .. } => {
                self.registered = true;
                self.status = if origin == "adopted" {
                    S::Pending
                } else {
                    S::Deploying
                };
            }
            E::HostClusterReady {} => self.status = S::Ready,
            E::HostClusterFailed { .. } => self.status = S::Failed,
            E::HostClusterConfigurationUpdated {
                pending_amenities, ..
            } => self.pending_amenities = pending_amenities.clone(),
            E::HostClusterChangesApplied { .. } => {
                self.pending_amenities.clear();
                self.status = S::Deploying;
            }
            E::HostClusterDeploymentCancelled {} => self.status = S::Cancelled,
            E::HostClusterDeploymentRestarted {} => self.status = S::Deploying,
            E::HostClusterNodePoolResized { .. } | E::HostClusterCredentialIssued { .. } => {}
            E::HostClusterDeleted { .. } => self.status = S::Deleted,
        }
    }

    fn exists(&self) -> bool {
        self.registered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use HostClusterCommand as C;

    fn register(origin: &str) -> C {
        C::Register {
            origin: origin.into(),
            cloud_provider: "aws".into(),
            region: "us-east-1".into(),
            description: "cell".into(),
            customer_email: None,
        }
    }

    fn run(commands: Vec<C>) -> (HostCluster, Result<HostClusterEvent, DomainError>) {
        crate::run_commands::<HostCluster>(&commands)
    }

    fn refused(result: Result<HostClusterEvent, DomainError>) -> String {
        match result {
            Err(DomainError::InvalidState { state, .. }) => state,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn issue() -> C {
        C::IssueCredential {
            credential: "dashboard_token".into(),
            role: None,
            fingerprint: "f".into(),
            expires_at: Utc::now(),
        }
    }

    #[test]
    fn a_cluster_deploys_applies_its_changes_and_is_deleted_once_empty() {
        let (state, _) = run(vec![register("adopted")]);
        assert_eq!(state.status, HostClusterStatus::Pending);
        let amenity = serde_json::json!({"Name": "cert-manager", "Type": "HelmChart"});
        let (state, last) = run(vec![
            register("created"),
            C::MarkReady,
            C::UpdateConfiguration {
                pending_amenities: vec![amenity.clone()],
                sync_with_org_template: Some(true),
            },
            C::ApplyPendingChanges,
        ]);
        assert_eq!(
            last,
            Ok(HostClusterEvent::HostClusterChangesApplied {
                amenities: vec![amenity]
            })
        );
        assert_eq!(state.status, HostClusterStatus::Deploying);
        assert!(state.pending_amenities.is_empty());
        let (_, busy) = run(vec![register("created"), C::Delete { live_instances: 2 }]);
        assert!(refused(busy).contains("2 live instances"));
        let (state, _) = run(vec![register("created"), C::Delete { live_instances: 0 }]);
        assert_eq!(state.status, HostClusterStatus::Deleted);
    }

    #[test]
    fn every_illegal_transition_is_refused_with_the_current_state() {
        let ready = || vec![register("created"), C::MarkReady];
        let with = |mut base: Vec<C>, command: C| {
            base.push(command);
            base
        };
        assert_eq!(refused(run(with(ready(), C::MarkReady)).1), "READY");
        assert_eq!(refused(run(with(ready(), C::CancelDeployment)).1), "READY");
        assert_eq!(
            refused(run(with(ready(), C::ApplyPendingChanges)).1),
            "READY with no pending changes"
        );
        assert_eq!(
            refused(run(vec![register("created"), C::ApplyPendingChanges]).1),
            "DEPLOYING"
        );
        assert_eq!(
            refused(run(vec![register("created"), C::RestartDeployment]).1),
            "DEPLOYING"
        );
        assert_eq!(
            refused(run(vec![register("created"), issue()]).1),
            "DEPLOYING"
        );
        let failed = vec![
            register("created"),
            C::Fail {
                reason: "quota".into(),
            },
        ];
        assert_eq!(refused(run(with(failed.clone(), C::MarkReady)).1), "FAILED");
        assert!(run(with(failed, C::RestartDeployment)).1.is_ok());
        let deleted = vec![register("created"), C::Delete { live_instances: 0 }];
        assert_eq!(
            refused(run(with(deleted.clone(), C::MarkReady)).1),
            "DELETED"
        );
        assert_eq!(
            refused(run(with(deleted, C::Delete { live_instances: 0 })).1),
            "DELETED"
        );
        assert!(run(with(ready(), issue())).1.is_ok());
    }
}
