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

/// Whether a database error says the database is away or busy for now, not that the request
/// or the code is wrong: a retry later can succeed, so the caller gets a 503.
pub fn database_is_away(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        // Connection exceptions (08), too many connections and other resource limits (53),
        // shutdown, crash recovery and "cannot connect now" (57P), serialisation failures and
        // deadlocks (40001, 40P01).
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P")
                || code == "40001"
                || code == "40P01"
        }),
        _ => false,
    }
}

/// Whether the database refused a text the request carried because no text column can hold
/// it (a NUL character): the caller's input, not a fault of ours.
fn text_cannot_be_stored(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db)
        if db.code().is_some_and(|code| code == "22021" || code == "22P05"))
}

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        if text_cannot_be_stored(&e) {
            return Self::bad_request(
                "request",
                "holds a character that is never stored (NUL): remove it",
            );
        }
        if database_is_away(&e) {
            Self::Unavailable(format!("database unavailable: {e}"))
        } else {
            Self::Internal(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    use super::*;

    fn database_url() -> String {
        std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
    }

    #[tokio::test]
    async fn a_database_going_away_is_a_503_not_a_500() {
        // What a connection hears while PostgreSQL shuts down or restarts: 57P01.
        let mut conn = sqlx::PgConnection::connect(&database_url()).await.unwrap();
        let e = sqlx::query("SELECT pg_terminate_backend(pg_backend_pid())")
            .execute(&mut conn)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, sqlx::Error::Database(db) if db.code().as_deref() == Some("57P01")),
            "{e:?}"
        );
        assert!(
            matches!(AppError::from(e), AppError::Unavailable(_)),
            "a terminated connection"
        );
        assert!(matches!(
            AppError::from(sqlx::Error::Protocol("unexpected end of stream".into())),
            AppError::Unavailable(_)
        ));
        // A NUL in a text the request carried is the caller's to fix: 400.
        let mut conn = sqlx::PgConnection::connect(&database_url()).await.unwrap();
        let e = sqlx::query("SELECT $1::text")
            .bind("host\0cluster")
            .execute(&mut conn)
            .await
            .unwrap_err();
        assert!(
            matches!(AppError::from(e), AppError::BadRequest { .. }),
            "a NUL in a parameter"
        );
        // A statement that is wrong stays an internal error.
        let mut conn = sqlx::PgConnection::connect(&database_url()).await.unwrap();
        let e = sqlx::query("SELECT * FROM no_such_table")
            .execute(&mut conn)
            .await
            .unwrap_err();
        assert!(matches!(AppError::from(e), AppError::Internal(_)));
    }
}
