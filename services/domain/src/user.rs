//! The user aggregate: a person of a customer.
//!
//! ```text
//! create ─► active ⇄ suspended ; any state but deleted ──delete──► deleted
//! ```

pub use fleet_events::user::UserEvent;

use crate::{validate, Aggregate, DomainError};

pub const ROLES: &[&str] = &["root", "editor", "reader"];

#[derive(Debug, Clone)]
pub enum UserCommand {
    Create {
        customer_id: String,
        email: String,
        name: String,
        role: String,
    },
    Suspend {
        reason: Option<String>,
    },
    Unsuspend,
    Delete,
    /// Sends the sign-up's verification email again (active users only).
    ResendVerification,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UserStatus {
    #[default]
    Active,
    Suspended,
    Deleted,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Deleted => "deleted",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User {
    pub customer_id: Option<String>,
    pub email: String,
    pub status: UserStatus,
}

impl Aggregate for User {
    const TYPE: &'static str = fleet_events::user::AGGREGATE_TYPE;
    type Command = UserCommand;
    type Event = UserEvent;

    fn decide(&self, command: &UserCommand) -> Result<UserEvent, DomainError> {
        use UserCommand as C;
        use UserStatus as S;
        if let C::Create {
            customer_id,
            email,
            name,
            role,
        } = command
        {
            if self.exists() {
                return Err(DomainError::AlreadyExists {
                    aggregate: Self::TYPE,
                });
            }
            validate::email("email", email)?;
            validate::required("name", name, 255)?;
            validate::one_of("role", role, ROLES)?;
            return Ok(UserEvent::UserCreated {
                customer_id: customer_id.clone(),
                email: email.to_lowercase(),
                name: name.clone(),
                role: role.clone(),
            });
        }
        if !self.exists() {
            return Err(DomainError::NotFound {
                aggregate: Self::TYPE,
            });
        }
        let refuse = |action| DomainError::InvalidState {
            aggregate: Self::TYPE,
            action,
            state: self.status.as_str().into(),
        };
        Ok(match (command, self.status) {
            (C::Suspend { reason }, S::Active) => {
                validate::optional("reason", reason.as_deref(), 1000)?;
                UserEvent::UserSuspended {
                    reason: reason.clone(),
                }
            }
            (C::Suspend { .. }, _) => return Err(refuse("suspend")),
            (C::Unsuspend, S::Suspended) => UserEvent::UserUnsuspended {},
            (C::Unsuspend, _) => return Err(refuse("unsuspend")),
            (C::Delete, S::Active | S::Suspended) => UserEvent::UserDeleted {},
            (C::Delete, _) => return Err(refuse("delete")),
            (C::ResendVerification, S::Active) => UserEvent::UserVerificationEmailResent {
                email: self.email.clone(),
            },
            (C::ResendVerification, _) => return Err(refuse("resend the verification email of")),
            (C::Create { .. }, _) => unreachable!("handled above"),
        })
    }

    fn evolve(&mut self, event: &UserEvent) {
        match event {
            UserEvent::UserCreated {
                customer_id, email, ..
            } => {
                self.customer_id = Some(customer_id.clone());
                self.email = email.clone();
                self.status = UserStatus::Active;
            }
            UserEvent::UserSuspended { .. } => self.status = UserStatus::Suspended,
            UserEvent::UserUnsuspended {} => self.status = UserStatus::Active,
            UserEvent::UserDeleted {} => self.status = UserStatus::Deleted,
            UserEvent::UserVerificationEmailResent { .. } => {}
        }
    }

    fn exists(&self) -> bool {
        self.customer_id.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use UserCommand as C;

    fn create() -> C {
        C::Create {
            customer_id: "c".into(),
            email: "Ana@Example.com".into(),
            name: "Ana".into(),
            role: "editor".into(),
        }
    }

    fn run(commands: Vec<C>) -> (User, Result<UserEvent, DomainError>) {
        crate::run_commands::<User>(&commands)
    }

    #[test]
    fn suspend_unsuspend_delete() {
        let (state, last) = run(vec![
            create(),
            C::Suspend { reason: None },
            C::Unsuspend,
            C::Suspend { reason: None },
            C::Delete,
        ]);
        assert!(last.is_ok());
        assert_eq!(state.status, UserStatus::Deleted);
        for (commands, state) in [
            (vec![create(), C::Unsuspend], "active"),
            (
                vec![
                    create(),
                    C::Suspend { reason: None },
                    C::Suspend { reason: None },
                ],
                "suspended",
            ),
            (vec![create(), C::Delete, C::Delete], "deleted"),
            (vec![create(), C::Delete, C::Unsuspend], "deleted"),
        ] {
            match run(commands).1 {
                Err(DomainError::InvalidState { state: s, .. }) => assert_eq!(s, state),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn creation_checks_email_and_role_and_lowercases_the_email() {
        let (_, last) = run(vec![create()]);
        assert!(
            matches!(last, Ok(UserEvent::UserCreated { ref email, .. }) if email == "ana@example.com")
        );
        let (_, last) = run(vec![C::Create {
            customer_id: "c".into(),
            email: "ana".into(),
            name: "Ana".into(),
            role: "editor".into(),
        }]);
        assert!(matches!(
            last,
            Err(DomainError::Invalid { field: "email", .. })
        ));
        let (_, last) = run(vec![C::Create {
            customer_id: "c".into(),
            email: "ana@example.com".into(),
            name: "Ana".into(),
            role: "god".into(),
        }]);
        assert!(matches!(
            last,
            Err(DomainError::Invalid { field: "role", .. })
        ));
    }
}
