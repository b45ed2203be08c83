//! Subject and stream naming.
//!
//! Every domain event is published on `<namespace>.<tenant>.<aggregate>.<id>`: one subject is
//! one aggregate's history (so JetStream's per-subject sequence gives optimistic concurrency),
//! and a subscriber can filter by tenant (`fleet.acme.>`) or aggregate (`fleet.*.instance.>`).
//! The namespace prefixes every stream, subject and consumer so that two deployments, or two
//! test runs, can share one NATS server.

use std::fmt;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NamingError {
    #[error("{what} must be 1 to {max} characters of a-z, 0-9, '-' or '_', starting with a letter or digit (got {value:?})")]
    Invalid {
        what: &'static str,
        max: usize,
        value: String,
    },
}

fn is_token(value: &str, max: usize) -> bool {
    let mut chars = value.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && value.len() <= max
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// The deployment prefix of streams, subjects and consumers (`FLEET_NAMESPACE`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Namespace(String);

impl Namespace {
    pub fn parse(value: &str) -> Result<Self, NamingError> {
        if is_token(value, 32) {
            Ok(Self(value.to_owned()))
        } else {
            Err(NamingError::Invalid {
                what: "namespace",
                max: 32,
                value: value.to_owned(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The JetStream stream holding every domain event of this namespace.
    pub fn domain_stream(&self) -> String {
        format!("{}_events", self.0)
            .to_uppercase()
            .replace('-', "_")
    }

    /// The subjects captured by the domain stream.
    pub fn domain_subjects(&self) -> String {
        format!("{}.>", self.0)
    }

    /// The stream of metered usage: high volume, kept apart so that it never holds up the
    /// domain projections.
    pub fn usage_stream(&self) -> String {
        format!("{}_usage", self.0).to_uppercase().replace('-', "_")
    }

    pub fn usage_subjects(&self) -> String {
        format!("{}-usage.>", self.0)
    }

    /// Usage batches of one tenant.
    pub fn usage_subject(&self, tenant: &Tenant) -> String {
        format!("{}-usage.{}", self.0, tenant.0)
    }

    pub fn aggregate_subject(&self, tenant: &Tenant, aggregate_type: &str, id: &str) -> String {
        format!("{}.{}.{}.{}", self.0, tenant.0, aggregate_type, id)
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tenant id. It is a subject token, so it is restricted to characters NATS allows there.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tenant(String);

impl Tenant {
    pub fn parse(value: &str) -> Result<Self, NamingError> {
        if is_token(value, 63) {
            Ok(Self(value.to_owned()))
        } else {
            Err(NamingError::Invalid {
                what: "tenant",
                max: 63,
                value: value.to_owned(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The parts of a domain subject, as a subscriber sees them.
#[derive(Debug, PartialEq, Eq)]
pub struct SubjectParts<'a> {
    pub tenant: &'a str,
    pub aggregate_type: &'a str,
    pub aggregate_id: &'a str,
}

pub fn parse_subject(subject: &str) -> Option<SubjectParts<'_>> {
    let mut parts = subject.splitn(4, '.');
    let (_ns, tenant, aggregate_type, aggregate_id) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    Some(SubjectParts {
        tenant,
        aggregate_type,
        aggregate_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_rejects_subject_metacharacters() {
        for bad in ["", "a.b", "a*", ">", "A", "a b", "-a"] {
            assert!(Tenant::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Tenant::parse("acme-01_eu").is_ok());
    }

    #[test]
    fn subjects_round_trip() {
        let ns = Namespace::parse("fleet").unwrap();
        let tenant = Tenant::parse("acme").unwrap();
        let subject = ns.aggregate_subject(&tenant, "instance", "0193");
        assert_eq!(subject, "fleet.acme.instance.0193");
        assert_eq!(
            parse_subject(&subject),
            Some(SubjectParts {
                tenant: "acme",
                aggregate_type: "instance",
                aggregate_id: "0193"
            })
        );
        assert_eq!(
            Namespace::parse("t-1a").unwrap().domain_stream(),
            "T_1A_EVENTS"
        );
    }
}
