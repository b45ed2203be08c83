//! The custom-DNS aggregate: one DNS name of a tenant, pointing at one instance's resource.
//!
//! ```text
//! claim (a valid host name) ─► held by an instance ──release (by it)──► free ──claim──► held
//! ```
//! One owner per name: a claim of a name another instance holds is refused.

pub use fleet_events::custom_dns::CustomDnsEvent;
use uuid::Uuid;

use crate::{Aggregate, DomainError};

/// The aggregate id of a name: the same name, in any case, is always the same aggregate.
pub fn id_of(name: &str) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_DNS, name.to_ascii_lowercase().as_bytes())
}

/// A host name: dot-separated labels of letters, digits and inner hyphens, each 1 to 63
/// characters, at least two of them, 253 characters at most.
pub fn validate_name(name: &str) -> Result<(), DomainError> {
    let labels: Vec<&str> = name.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.len() <= 253 && labels.len() >= 2 && labels.iter().all(label_ok) {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "customDNS",
            "must be a host name such as db.example.com",
        ))
    }
}

#[derive(Debug, Clone)]
pub enum CustomDnsCommand {
    Claim {
        name: String,
        instance_id: String,
        resource_key: String,
        target_port: Option<i64>,
    },
    Release {
        instance_id: String,
    },
}

/// Who holds the name now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub instance_id: String,
    pub resource_key: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomDns {
    pub name: Option<String>,
    pub holder: Option<Holder>,
}

impl Aggregate for CustomDns {
    const TYPE: &'static str = fleet_events::custom_dns::AGGREGATE_TYPE;
    type Command = CustomDnsCommand;
    type Event = CustomDnsEvent;

    fn decide(&self, command: &CustomDnsCommand) -> Result<CustomDnsEvent, DomainError> {
        match command {
            CustomDnsCommand::Claim {
                name,
                instance_id,
                resource_key,
                target_port,
            } => {
                validate_name(name)?;
                crate::validate::required("resourceKey", resource_key, 200)?;
                if target_port.is_some_and(|p| !(1..=65535).contains(&p)) {
                    return Err(DomainError::invalid(
                        "targetPort",
                        "must be between 1 and 65535",
                    ));
                }
                match &self.holder {
                    Some(h) if &h.instance_id == instance_id && &h.resource_key == resource_key => {
                        Err(DomainError::Unchanged {
                            detail: format!("{name} points at this resource already"),
                        })
                    }
                    Some(h) => Err(DomainError::InvalidState {
                        aggregate: "custom DNS name",
                        action: "claim",
                        state: format!("held by instance {}", h.instance_id),
                    }),
                    None => Ok(CustomDnsEvent::CustomDnsClaimed {
                        name: name.to_ascii_lowercase(),
                        instance_id: instance_id.clone(),
                        resource_key: resource_key.clone(),
                        target_port: *target_port,
                    }),
                }
            }
            CustomDnsCommand::Release { instance_id } => match &self.holder {
                Some(h) if &h.instance_id == instance_id => Ok(CustomDnsEvent::CustomDnsReleased {
                    instance_id: instance_id.clone(),
                }),
                Some(_) => Err(DomainError::InvalidState {
                    aggregate: "custom DNS name",
                    action: "release",
                    state: "held by another instance".into(),
                }),
                None => Err(DomainError::NotFound {
                    aggregate: "custom DNS name",
                }),
            },
        }
    }

    fn evolve(&mut self, event: &CustomDnsEvent) {
        match event {
            CustomDnsEvent::CustomDnsClaimed {
                name,
                instance_id,
                resource_key,
                ..
            } => {
                self.name = Some(name.clone());
                self.holder = Some(Holder {
                    instance_id: instance_id.clone(),
                    resource_key: resource_key.clone(),
                });
            }
            CustomDnsEvent::CustomDnsReleased { .. } => self.holder = None,
        }
    }

    fn exists(&self) -> bool {
        self.name.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(name: &str, instance: &str) -> CustomDnsCommand {
        CustomDnsCommand::Claim {
            name: name.into(),
            instance_id: instance.into(),
            resource_key: "http".into(),
            target_port: Some(8080),
        }
    }

    #[test]
    fn a_name_has_one_owner_until_it_is_released() {
        let (_, taken) = crate::run_commands::<CustomDns>(&[
            claim("db.example.com", "a"),
            claim("db.example.com", "b"),
        ]);
        assert!(
            matches!(taken, Err(DomainError::InvalidState { ref state, .. }) if state.contains("instance a"))
        );
        let (state, again) = crate::run_commands::<CustomDns>(&[
            claim("db.example.com", "a"),
            CustomDnsCommand::Release {
                instance_id: "a".into(),
            },
            claim("db.example.com", "b"),
        ]);
        assert!(again.is_ok());
        assert_eq!(state.holder.unwrap().instance_id, "b");
        let (_, stranger) = crate::run_commands::<CustomDns>(&[
            claim("db.example.com", "a"),
            CustomDnsCommand::Release {
                instance_id: "b".into(),
            },
        ]);
        assert!(matches!(stranger, Err(DomainError::InvalidState { .. })));
        assert_eq!(id_of("DB.example.com"), id_of("db.example.com"));
    }

    #[test]
    fn only_host_names_are_claimed() {
        for bad in [
            "localhost",
            "-a.example.com",
            "a..b",
            "a b.com",
            "x.",
            &"a".repeat(64),
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        assert!(validate_name("my-custom-dns.com").is_ok());
    }
}
