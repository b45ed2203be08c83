//! The notification channel aggregate: where a tenant's events are delivered as webhooks.
//!
//! ```text
//! create ─► active ──update──► active ; ──delete──► deleted
//! ```

pub use fleet_events::notification_channel::NotificationChannelEvent;

use crate::{validate, Aggregate, DomainError};

/// A channel's destination and filter. `event_types` must be known event types: the caller
/// passes the known ones in `known_types`.
#[derive(Debug, Clone)]
pub enum NotificationChannelCommand {
    Create {
        name: String,
        url: String,
        event_types: Vec<String>,
        secret_fingerprint: String,
        known_types: Vec<String>,
    },
    Update {
        name: Option<String>,
        url: Option<String>,
        event_types: Option<Vec<String>>,
        secret_fingerprint: Option<String>,
        known_types: Vec<String>,
    },
    Delete,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotificationChannel {
    pub url: Option<String>,
    pub event_types: Vec<String>,
    pub deleted: bool,
}

impl NotificationChannel {
    pub fn status(&self) -> &'static str {
        if self.deleted {
            "deleted"
        } else {
            "active"
        }
    }
}

fn validate_url(url: &str) -> Result<(), DomainError> {
    validate::required("url", url, 2000)?;
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    match rest {
        Some(rest)
            if !rest.is_empty() && !rest.starts_with('/') && !url.contains(char::is_whitespace) =>
        {
            Ok(())
        }
        _ => Err(DomainError::invalid("url", "must be an http or https URL")),
    }
}

fn validate_types(types: &[String], known: &[String]) -> Result<(), DomainError> {
    if let Some(unknown) = types.iter().find(|t| !known.contains(t)) {
        return Err(DomainError::invalid(
            "event_types",
            format!("{unknown} is not an event type (see /v1/event-schemas)"),
        ));
    }
    Ok(())
}

impl Aggregate for NotificationChannel {
    const TYPE: &'static str = fleet_events::notification_channel::AGGREGATE_TYPE;
    type Command = NotificationChannelCommand;
    type Event = NotificationChannelEvent;

    fn decide(
        &self,
        command: &NotificationChannelCommand,
    ) -> Result<NotificationChannelEvent, DomainError> {
        use NotificationChannelCommand as C;
        if let C::Create {
            name,
            url,
            event_types,
            secret_fingerprint,
            known_types,
        } = command
        {
            if self.exists() {
                return Err(DomainError::AlreadyExists {
                    aggregate: "notification channel",
                });
            }
            validate::required("name", name, 255)?;
            validate_url(url)?;
            validate_types(event_types, known_types)?;
            return Ok(NotificationChannelEvent::NotificationChannelCreated {
                name: name.clone(),
                url: url.clone(),
                event_types: event_types.clone(),
                secret_fingerprint: secret_fingerprint.clone(),
            });
        }
        if !self.exists() {
            return Err(DomainError::NotFound {
                aggregate: "notification channel",
            });
        }
        if self.deleted {
            return Err(DomainError::InvalidState {
                aggregate: "notification channel",
                action: "change",
                state: "deleted".into(),
            });
        }
        Ok(match command {
            C::Create { .. } => unreachable!("handled above"),
            C::Update {
                name,
                url,
                event_types,
                secret_fingerprint,
                known_types,
            } => {
                if name.is_none()
                    && url.is_none()
                    && event_types.is_none()
                    && secret_fingerprint.is_none()
                {
                    return Err(DomainError::invalid("body", "names no field to change"));
                }
                if let Some(name) = name {
                    validate::required("name", name, 255)?;
                }
                if let Some(url) = url {
                    validate_url(url)?;
                }
                if let Some(types) = event_types {
                    validate_types(types, known_types)?;
                }
                NotificationChannelEvent::NotificationChannelUpdated {
                    name: name.clone(),
                    url: url.clone(),
                    event_types: event_types.clone(),
                    secret_fingerprint: secret_fingerprint.clone(),
                }
            }
            C::Delete => NotificationChannelEvent::NotificationChannelDeleted {},
        })
    }

    fn evolve(&mut self, event: &NotificationChannelEvent) {
        use NotificationChannelEvent as E;
        match event {
            E::NotificationChannelCreated {
                url, event_types, ..
            } => {
                self.url = Some(url.clone());
                self.event_types = event_types.clone();
            }
            E::NotificationChannelUpdated {
                url, event_types, ..
            } => {
                if let Some(url) = url {
                    self.url = Some(url.clone());
                }
                if let Some(types) = event_types {
                    self.event_types = types.clone();
                }
            }
            E::NotificationChannelDeleted {} => self.deleted = true,
        }
    }

    fn exists(&self) -> bool {
        self.url.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use NotificationChannelCommand as C;

    fn create(url: &str, types: &[&str]) -> C {
        C::Create {
            name: "ops".into(),
            url: url.into(),
            event_types: types.iter().map(|t| t.to_string()).collect(),
            secret_fingerprint: "f".into(),
            known_types: vec!["InstanceCreated".into()],
        }
    }

    #[test]
    fn urls_and_event_types_are_checked() {
        let channel = NotificationChannel::default();
        assert!(channel
            .decide(&create("https://hooks.example/x", &["InstanceCreated"]))
            .is_ok());
        for bad in ["ftp://x", "https://", "hooks.example", "https:// x"] {
            assert!(
                matches!(
                    channel.decide(&create(bad, &[])),
                    Err(DomainError::Invalid { field: "url", .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            channel.decide(&create("https://h.example", &["Nope"])),
            Err(DomainError::Invalid {
                field: "event_types",
                ..
            })
        ));
    }

    #[test]
    fn a_deleted_channel_accepts_nothing() {
        let mut channel = NotificationChannel::default();
        let created = channel.decide(&create("https://h.example", &[])).unwrap();
        channel.evolve(&created);
        let deleted = channel.decide(&C::Delete).unwrap();
        channel.evolve(&deleted);
        assert!(matches!(
            channel.decide(&C::Delete),
            Err(DomainError::InvalidState { .. })
        ));
    }
}
