//! The application's error: what went wrong in the domain's terms. Each HTTP face turns it
//! into its own shape (problem+json natively, a dialect's error body elsewhere).

use fleet_domain::DomainError;
use serde::Serialize;

use crate::command_bus::CommandError;

/// A field of the input and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("the {role} role may not {action}")]
    Forbidden { role: String, action: &'static str },
    #[error("{0}")]
    NotFound(String),
    /// An illegal state transition or a lost race.
    #[error("{detail}")]
    Conflict {
        detail: String,
        current_state: Option<String>,
    },
    /// Malformed input: a value that cannot be read at all.
    #[error("{detail}")]
    BadRequest {
        detail: String,
        errors: Vec<FieldError>,
    },
    /// Well-formed input that breaks a rule.
    #[error("{detail}")]
    Unprocessable {
        detail: String,
        errors: Vec<FieldError>,
    },
    /// A service the application needs (NATS, PostgreSQL, a read model) cannot answer now.
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn bad_request(field: &str, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Self::BadRequest {
            detail: format!("{field}: {reason}"),
            errors: vec![FieldError {
                field: field.to_owned(),
                reason,
            }],
        }
    }

    pub fn unprocessable(field: &str, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Self::Unprocessable {
            detail: format!("{field}: {reason}"),
            errors: vec![FieldError {
                field: field.to_owned(),
                reason,
            }],
        }
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::Conflict {
            detail: detail.into(),
            current_state: None,
        }
    }
}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::NotFound { aggregate } => Self::NotFound(format!("{aggregate} not found")),
            DomainError::AlreadyExists { .. } => Self::conflict(e.to_string()),
            DomainError::InvalidState { ref state, .. } => Self::Conflict {
                current_state: Some(state.clone()),
                detail: e.to_string(),
            },
            DomainError::Invalid { field, reason } => Self::unprocessable(field, reason),
            DomainError::LimitReached { detail, .. } => Self::conflict(detail),
            DomainError::Unchanged { detail } => Self::conflict(detail),
        }
    }
}

impl From<CommandError> for AppError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Domain(e) => e.into(),
            CommandError::Contended { attempts } => Self::conflict(format!(
                "the resource kept changing concurrently; gave up after {attempts} attempts, retry"
            )),
            CommandError::Log(e) => Self::Unavailable(e.to_string()),
        }
    }
}

impl From<fleet_events::LogError> for AppError {
    fn from(e: fleet_events::LogError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                Self::Unavailable(format!("database unavailable: {e}"))
            }
            e => Self::Internal(e.to_string()),
        }
    }
}
