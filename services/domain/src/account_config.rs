//! The account-config aggregate: a customer's own cloud account (BYOA) and its verification.
//!
//! ```text
//! create ─► pending ──connect──► verifying ──verified──► ready ──disconnect──► ready_to_offboard
//!              ▲                     └──────failed─────► failed ──connect──┘(verifying)
//! delete: pending, failed or ready_to_offboard ─► deleted
//! ```
//! A ready account is disconnected before it is deleted, so that nothing deployed in it is
//! orphaned without the customer running the disconnect.

pub use fleet_events::account_config::{AccountConfigEvent, CloudAccount};

use crate::{validate, Aggregate, DomainError};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AccountStatus {
    #[default]
    Pending,
    Verifying,
    Ready,
    Failed,
    ReadyToOffboard,
    Deleted,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Verifying => "verifying",
            Self::Ready => "ready",
            Self::Failed => "failed",
            Self::ReadyToOffboard => "ready_to_offboard",
            Self::Deleted => "deleted",
        }
    }
}

#[derive(Debug, Clone)]
pub enum AccountConfigCommand {
    Create(Box<CloudAccount>),
    /// `setConnection`: true connects (starts the verification), false disconnects.
    SetConnection(bool),
    Verify {
        ready: bool,
        message: Option<String>,
    },
    Delete,
}

impl AccountConfigCommand {
    fn action(&self) -> &'static str {
        match self {
            Self::Create(_) => "create",
            Self::SetConnection(true) => "connect",
            Self::SetConnection(false) => "disconnect",
            Self::Verify { .. } => "verify",
            Self::Delete => "delete",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountConfig {
    pub account: Option<CloudAccount>,
    pub status: AccountStatus,
}

fn digits(field: &'static str, value: &Option<String>, len: usize) -> Result<(), DomainError> {
    match value {
        Some(v) if v.len() != len || !v.chars().all(|c| c.is_ascii_digit()) => {
            Err(DomainError::invalid(field, format!("must be {len} digits")))
        }
        _ => Ok(()),
    }
}

fn validate_account(account: &CloudAccount) -> Result<(), DomainError> {
    validate::required("name", &account.name, 200)?;
    let present = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
    match account.cloud_provider.as_str() {
        "aws" => {
            if !present(&account.aws_account_id) {
                return Err(DomainError::invalid(
                    "awsAccountID",
                    "an AWS account needs its id",
                ));
            }
            digits("awsAccountID", &account.aws_account_id, 12)?;
            if let Some(arn) = &account.aws_bootstrap_role_arn {
                if !arn.starts_with("arn:aws:iam::") {
                    return Err(DomainError::invalid(
                        "awsBootstrapRoleARN",
                        "must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)",
                    ));
                }
            }
        }
        "gcp" => {
            if !present(&account.gcp_project_id) {
                return Err(DomainError::invalid(
                    "gcpProjectID",
                    "a GCP account needs its project",
                ));
            }
            digits("gcpProjectNumber", &account.gcp_project_number, 12)?;
        }
        "azure" => {
            for (field, value) in [
                ("azureSubscriptionID", &account.azure_subscription_id),
                ("azureTenantID", &account.azure_tenant_id),
            ] {
                if value
                    .as_deref()
                    .is_none_or(|v| uuid::Uuid::parse_str(v).is_err())
                {
                    return Err(DomainError::invalid(field, "must be a UUID"));
                }
            }
        }
        _ => {
            return Err(DomainError::invalid(
                "cloudProviderName",
                "must be aws, azure or gcp",
            ))
        }
    }
    Ok(())
}

impl Aggregate for AccountConfig {
    const TYPE: &'static str = fleet_events::account_config::AGGREGATE_TYPE;
    type Command = AccountConfigCommand;
    type Event = AccountConfigEvent;

    fn decide(&self, command: &AccountConfigCommand) -> Result<AccountConfigEvent, DomainError> {
        use AccountConfigCommand as C;
        use AccountStatus as S;
        if let C::Create(account) = command {
            if self.account.is_some() {
                return Err(DomainError::AlreadyExists {
                    aggregate: Self::TYPE,
                });
            }
            validate_account(account)?;
            return Ok(AccountConfigEvent::AccountConfigCreated {
                account: (**account).clone(),
            });
        }
        if !self.exists() {
            return Err(DomainError::NotFound {
                aggregate: Self::TYPE,
            });
        }
        Ok(match (command, self.status) {
            (C::SetConnection(true), S::Pending | S::Failed) => {
                AccountConfigEvent::AccountConfigConnected {}
            }
            (C::SetConnection(false), S::Ready) => AccountConfigEvent::AccountConfigDisconnected {},
            (C::Verify { ready, message }, S::Verifying) => {
                if !ready && message.as_deref().is_none_or(|m| m.trim().is_empty()) {
                    return Err(DomainError::invalid(
                        "message",
                        "a failed verification says why",
                    ));
                }
                AccountConfigEvent::AccountConfigVerified {
                    ready: *ready,
                    message: message.clone(),
                }
            }
            (C::Delete, S::Pending | S::Failed | S::ReadyToOffboard) => {
                AccountConfigEvent::AccountConfigDeleted {}
            }
            _ => {
                return Err(DomainError::InvalidState {
                    aggregate: Self::TYPE,
                    action: command.action(),
                    state: self.status.as_str().into(),
                })
            }
        })
    }

    fn evolve(&mut self, event: &AccountConfigEvent) {
        use AccountConfigEvent as E;
        self.status = match event {
            E::AccountConfigCreated { account } => {
                self.account = Some(account.clone());
                AccountStatus::Pending
            }
            E::AccountConfigConnected {} => AccountStatus::Verifying,
            E::AccountConfigVerified { ready: true, .. } => AccountStatus::Ready,
            E::AccountConfigVerified { ready: false, .. } => AccountStatus::Failed,
            E::AccountConfigDisconnected {} => AccountStatus::ReadyToOffboard,
            E::AccountConfigDeleted {} => AccountStatus::Deleted,
        }
    }

    fn exists(&self) -> bool {
        self.account.is_some() && self.status != AccountStatus::Deleted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AccountConfigCommand as C;

    fn create() -> C {
        C::Create(Box::new(CloudAccount {
            name: "Dev AWS account".into(),
            description: None,
            cloud_provider: "aws".into(),
            customer_id: None,
            aws_account_id: Some("123456789012".into()),
            aws_bootstrap_role_arn: None,
            gcp_project_id: None,
            gcp_project_number: None,
            azure_subscription_id: None,
            azure_tenant_id: None,
        }))
    }

    fn verified(ready: bool) -> C {
        C::Verify {
            ready,
            message: Some("checked".into()),
        }
    }

    #[test]
    fn an_account_is_verified_then_offboarded() {
        let (state, last) = crate::run_commands::<AccountConfig>(&[
            create(),
            C::SetConnection(true),
            verified(false),
            C::SetConnection(true),
            verified(true),
            C::SetConnection(false),
            C::Delete,
        ]);
        assert!(last.is_ok());
        assert!(!state.exists());
    }

    #[test]
    fn every_illegal_transition_names_the_state() {
        let cases: Vec<(Vec<C>, &str)> = vec![
            (vec![create(), verified(true)], "pending"),
            (vec![create(), C::SetConnection(false)], "pending"),
            (
                vec![create(), C::SetConnection(true), C::SetConnection(true)],
                "verifying",
            ),
            (
                vec![create(), C::SetConnection(true), C::Delete],
                "verifying",
            ),
            (
                vec![create(), C::SetConnection(true), verified(true), C::Delete],
                "ready",
            ),
            (
                vec![
                    create(),
                    C::SetConnection(true),
                    verified(true),
                    verified(true),
                ],
                "ready",
            ),
            (
                vec![
                    create(),
                    C::SetConnection(true),
                    verified(true),
                    C::SetConnection(false),
                    C::SetConnection(false),
                ],
                "ready_to_offboard",
            ),
        ];
        for (commands, state) in cases {
            match crate::run_commands::<AccountConfig>(&commands).1 {
                Err(DomainError::InvalidState { state: s, .. }) => assert_eq!(s, state),
                other => panic!("{commands:?}: expected InvalidState({state}), got {other:?}"),
            }
        }
        let (_, last) = crate::run_commands::<AccountConfig>(&[create(), C::Delete, C::Delete]);
        assert!(matches!(last, Err(DomainError::NotFound { .. })));
    }

    #[test]
    fn accounts_are_validated_per_provider() {
        let C::Create(mut account) = create() else {
            unreachable!()
        };
        account.aws_account_id = Some("12345".into());
        let err = AccountConfig::default()
            .decide(&C::Create(account))
            .unwrap_err();
        assert!(matches!(
            err,
            DomainError::Invalid {
                field: "awsAccountID",
                ..
            }
        ));
    }
}
