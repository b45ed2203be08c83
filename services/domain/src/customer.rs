//! The customer aggregate: a customer of the provider, its reseller relationships and the
//! licenses its provider instances report.
//!
//! ```text
//! create ─► active ──delete──► deleted
//! ```
//! Delete is refused while the customer has a live subscription or a reseller relationship.

use std::collections::BTreeMap;

pub use fleet_events::customer::{
    BillingTerms, CustomerChanges, CustomerEvent, CustomerProfile, License,
};

use crate::{validate, Aggregate, DomainError};

#[derive(Debug, Clone)]
pub enum CustomerCommand {
    Create(CustomerProfile),
    Update(CustomerChanges),
    /// `live_subscriptions`: the customer's subscriptions that are not ended, which the caller
    /// looked up; any of them refuses the deletion.
    Delete {
        live_subscriptions: Vec<String>,
    },
    AddResellerRelationship {
        relationship_id: String,
        provider_instance_id: String,
        reseller_id: Option<String>,
    },
    RemoveResellerRelationship {
        relationship_id: String,
    },
    RecordLicense(License),
    SetBillingTerms(BillingTerms),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relationship {
    pub provider_instance_id: String,
    pub reseller_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Customer {
    pub profile: Option<CustomerProfile>,
    pub deleted: bool,
    /// Active relationships by id.
    pub relationships: BTreeMap<String, Relationship>,
    /// `None` until set: invoices then use [`BillingTerms::default`].
    pub billing: Option<BillingTerms>,
}

impl Customer {
    pub fn status(&self) -> &'static str {
        if self.deleted {
            "deleted"
        } else {
            "active"
        }
    }
}

fn validate_profile(p: &CustomerProfile) -> Result<(), DomainError> {
    validate::required("name", &p.name, 255)?;
    validate::country("country", &p.country)?;
    validate::email("email", &p.email)?;
    validate::optional("domain", p.domain.as_deref(), 255)?;
    validate::optional("tax_id", p.tax_id.as_deref(), 255)?;
    validate::optional("internal_identifier", p.internal_identifier.as_deref(), 255)
}

fn apply_changes(profile: &mut CustomerProfile, changes: &CustomerChanges) {
    let c = changes.clone();
    if let Some(v) = c.name {
        profile.name = v;
    }
    if let Some(v) = c.country {
        profile.country = v;
    }
    if let Some(v) = c.email {
        profile.email = v;
    }
    if c.domain.is_some() {
        profile.domain = c.domain;
    }
    if c.tax_id.is_some() {
        profile.tax_id = c.tax_id;
    }
    if c.internal_identifier.is_some() {
        profile.internal_identifier = c.internal_identifier;
    }
}

impl Aggregate for Customer {
    const TYPE: &'static str = fleet_events::customer::AGGREGATE_TYPE;
    type Command = CustomerCommand;
    type Event = CustomerEvent;

    fn decide(&self, command: &CustomerCommand) -> Result<CustomerEvent, DomainError> {
        use CustomerCommand as C;
        if let C::Create(profile) = command {
            if self.exists() {
                return Err(DomainError::AlreadyExists {
                    aggregate: Self::TYPE,
                });
            }
            validate_profile(profile)?;
            return Ok(CustomerEvent::CustomerCreated {
                profile: profile.clone(),
            });
        }
        let Some(profile) = &self.profile else {
            return Err(DomainError::NotFound {
                aggregate: Self::TYPE,
            });
        };
        if self.deleted {
            return Err(DomainError::InvalidState {
                aggregate: Self::TYPE,
                action: "change",
                state: "deleted".into(),
            });
        }
        Ok(match command {
            C::Create(_) => unreachable!("handled above"),
            C::Update(changes) => {
                if changes == &CustomerChanges::default() {
                    return Err(DomainError::invalid("body", "names no field to change"));
                }
                let mut updated = profile.clone();
                apply_changes(&mut updated, changes);
                validate_profile(&updated)?;
                CustomerEvent::CustomerUpdated {
                    changes: changes.clone(),
                }
            }
            C::Delete { live_subscriptions } => {
                let mut blockers = Vec::new();
                if !live_subscriptions.is_empty() {
                    blockers.push(format!(
                        "live subscriptions {}",
                        live_subscriptions.join(", ")
                    ));
                }
                if !self.relationships.is_empty() {
                    let ids: Vec<&str> = self.relationships.keys().map(String::as_str).collect();
                    blockers.push(format!("reseller relationships {}", ids.join(", ")));
                }
                if !blockers.is_empty() {
                    return Err(DomainError::InvalidState {
                        aggregate: Self::TYPE,
                        action: "delete",
                        state: format!("still holding {}", blockers.join(" and ")),
                    });
                }
                CustomerEvent::CustomerDeleted {}
            }
            C::AddResellerRelationship {
                relationship_id,
                provider_instance_id,
                reseller_id,
            } => {
                validate::required("provider_instance_id", provider_instance_id, 255)?;
                validate::optional("reseller_id", reseller_id.as_deref(), 255)?;
                let duplicate = self.relationships.values().any(|r| {
                    &r.provider_instance_id == provider_instance_id && &r.reseller_id == reseller_id
                });
                if duplicate {
                    return Err(DomainError::AlreadyExists {
                        aggregate: "reseller relationship",
                    });
                }
                CustomerEvent::ResellerRelationshipAdded {
                    relationship_id: relationship_id.clone(),
                    provider_instance_id: provider_instance_id.clone(),
                    reseller_id: reseller_id.clone(),
                }
            }
            C::RemoveResellerRelationship { relationship_id } => {
                if !self.relationships.contains_key(relationship_id) {
                    return Err(DomainError::NotFound {
                        aggregate: "reseller relationship",
                    });
                }
                CustomerEvent::ResellerRelationshipRemoved {
                    relationship_id: relationship_id.clone(),
                }
            }
            C::RecordLicense(license) => {
                validate::required("provider_instance_id", &license.provider_instance_id, 255)?;
                validate::required("sku_id", &license.sku_id, 255)?;
                validate::required("name", &license.name, 255)?;
                for (field, value) in [
                    ("total", license.total),
                    ("consumed", license.consumed),
                    ("suspended", license.suspended),
                ] {
                    if value < 0 {
                        return Err(DomainError::invalid(field, "must not be negative"));
                    }
                }
                if license.consumed > license.total {
                    return Err(DomainError::invalid("consumed", "must not exceed total"));
                }
                CustomerEvent::CustomerLicenseRecorded {
                    license: license.clone(),
                }
            }
            C::SetBillingTerms(terms) => {
                crate::billing::validate_terms(terms)?;
                CustomerEvent::CustomerBillingTermsSet {
                    terms: terms.clone(),
                }
            }
        })
    }

    fn evolve(&mut self, event: &CustomerEvent) {
        use CustomerEvent as E;
        match event {
            E::CustomerCreated { profile } => self.profile = Some(profile.clone()),
            E::CustomerUpdated { changes } => {
                if let Some(profile) = self.profile.as_mut() {
                    apply_changes(profile, changes);
                }
            }
            E::CustomerDeleted {} => self.deleted = true,
            E::ResellerRelationshipAdded {
                relationship_id,
                provider_instance_id,
                reseller_id,
            } => {
                self.relationships.insert(
                    relationship_id.clone(),
                    Relationship {
                        provider_instance_id: provider_instance_id.clone(),
                        reseller_id: reseller_id.clone(),
                    },
                );
            }
            E::ResellerRelationshipRemoved { relationship_id } => {
                self.relationships.remove(relationship_id);
            }
            E::CustomerLicenseRecorded { .. } => {}
            E::CustomerBillingTermsSet { terms } => self.billing = Some(terms.clone()),
        }
    }

    fn exists(&self) -> bool {
        self.profile.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CustomerCommand as C;

    fn profile() -> CustomerProfile {
        CustomerProfile {
            name: "Contoso".into(),
            country: "PT".into(),
            email: "ops@contoso.example".into(),
            domain: None,
            tax_id: None,
            internal_identifier: None,
        }
    }

    fn run(commands: Vec<C>) -> (Customer, Result<CustomerEvent, DomainError>) {
        crate::run_commands::<Customer>(&commands)
    }

    fn relate(id: &str) -> C {
        C::AddResellerRelationship {
            relationship_id: id.into(),
            provider_instance_id: "pi-1".into(),
            reseller_id: Some("r-1".into()),
        }
    }

    #[test]
    fn delete_is_refused_while_subscriptions_or_relationships_live() {
        let (_, last) = run(vec![
            C::Create(profile()),
            C::Delete {
                live_subscriptions: vec!["s-1".into()],
            },
        ]);
        match last {
            Err(DomainError::InvalidState { state, .. }) => assert!(state.contains("s-1")),
            other => panic!("{other:?}"),
        }
        let (_, last) = run(vec![
            C::Create(profile()),
            relate("rel-1"),
            C::Delete {
                live_subscriptions: vec![],
            },
        ]);
        match last {
            Err(DomainError::InvalidState { state, .. }) => assert!(state.contains("rel-1")),
            other => panic!("{other:?}"),
        }
        let (state, last) = run(vec![
            C::Create(profile()),
            relate("rel-1"),
            C::RemoveResellerRelationship {
                relationship_id: "rel-1".into(),
            },
            C::Delete {
                live_subscriptions: vec![],
            },
        ]);
        assert!(last.is_ok());
        assert_eq!(state.status(), "deleted");
    }

    #[test]
    fn relationships_are_unique_and_removal_needs_one() {
        let (_, last) = run(vec![C::Create(profile()), relate("a"), relate("b")]);
        assert!(matches!(last, Err(DomainError::AlreadyExists { .. })));
        let (_, last) = run(vec![
            C::Create(profile()),
            C::RemoveResellerRelationship {
                relationship_id: "nope".into(),
            },
        ]);
        assert!(matches!(last, Err(DomainError::NotFound { .. })));
    }

    #[test]
    fn a_deleted_customer_accepts_nothing_and_updates_are_validated() {
        let (_, last) = run(vec![
            C::Create(profile()),
            C::Delete {
                live_subscriptions: vec![],
            },
            C::Update(CustomerChanges {
                name: Some("x".into()),
                ..Default::default()
            }),
        ]);
        assert!(matches!(last, Err(DomainError::InvalidState { .. })));
        let (_, last) = run(vec![
            C::Create(profile()),
            C::Update(CustomerChanges {
                email: Some("nope".into()),
                ..Default::default()
            }),
        ]);
        assert!(matches!(
            last,
            Err(DomainError::Invalid { field: "email", .. })
        ));
        let (_, last) = run(vec![C::Create(CustomerProfile {
            country: "Portugal".into(),
            ..profile()
        })]);
        assert!(matches!(
            last,
            Err(DomainError::Invalid {
                field: "country",
                ..
            })
        ));
    }

    #[test]
    fn licenses_are_checked() {
        let license = License {
            provider_instance_id: "pi".into(),
            sku_id: "sku".into(),
            name: "E3".into(),
            total: 10,
            consumed: 11,
            suspended: 0,
        };
        let (_, last) = run(vec![C::Create(profile()), C::RecordLicense(license)]);
        assert!(matches!(
            last,
            Err(DomainError::Invalid {
                field: "consumed",
                ..
            })
        ));
    }
}
