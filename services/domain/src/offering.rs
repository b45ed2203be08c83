//! The offering aggregate: what a service provider sells on the marketplace, its plans, and
//! the components whose usage is metered and rated through the price book.

use std::collections::HashSet;

pub use fleet_events::offering::{OfferingComponent, OfferingEvent, OfferingPlan};
use serde_json::Value;

use crate::{validate, Aggregate, DomainError};

pub const BILLING_TYPES: [&str; 5] = ["fixed", "usage", "limit", "one", "few"];
pub const PLAN_UNITS: [&str; 6] = ["month", "quarter", "half_month", "day", "hour", "quantity"];

#[derive(Debug, Clone)]
pub enum OfferingCommand {
    Create {
        name: String,
        slug: String,
        description: String,
        offering_type: String,
        shared: bool,
        billable: bool,
        consumer_review: bool,
        options_by_order: bool,
        components: Vec<OfferingComponent>,
        plans: Vec<OfferingPlan>,
        plugin_options: Value,
    },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Offering {
    pub created: bool,
    pub name: String,
    pub consumer_review: bool,
    pub options_by_order: bool,
    pub components: Vec<OfferingComponent>,
    pub plans: Vec<OfferingPlan>,
}

impl Offering {
    pub fn component(&self, kind: &str) -> Option<&OfferingComponent> {
        self.components.iter().find(|c| c.kind == kind)
    }

    pub fn plan(&self, id: &str) -> Option<&OfferingPlan> {
        self.plans.iter().find(|p| p.id == id)
    }
}

fn is_slug(value: &str) -> bool {
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

impl Aggregate for Offering {
    const TYPE: &'static str = fleet_events::offering::AGGREGATE_TYPE;
    type Command = OfferingCommand;
    type Event = OfferingEvent;

    fn decide(&self, command: &OfferingCommand) -> Result<OfferingEvent, DomainError> {
        let OfferingCommand::Create {
            name,
            slug,
            description,
            offering_type,
            shared,
            billable,
            consumer_review,
            options_by_order,
            components,
            plans,
            plugin_options,
        } = command;
        if self.created {
            return Err(DomainError::AlreadyExists {
                aggregate: Self::TYPE,
            });
        }
        validate::required("name", name, 150)?;
        validate::required("slug", slug, 150)?;
        if !is_slug(slug) {
            return Err(DomainError::invalid(
                "slug",
                "may hold only letters, digits, '.', '-' and '_'",
            ));
        }
        validate::optional("description", Some(description), 5000)?;
        validate::required("type", offering_type, 100)?;
        let mut kinds = HashSet::new();
        for component in components {
            validate::required("components", &component.kind, 100)?;
            if !is_slug(&component.kind) {
                return Err(DomainError::invalid(
                    "components",
                    format!(
                        "type {:?} may hold only letters, digits, '.', '-' and '_'",
                        component.kind
                    ),
                ));
            }
            if !kinds.insert(component.kind.as_str()) {
                return Err(DomainError::invalid(
                    "components",
                    format!("type {} appears twice", component.kind),
                ));
            }
            validate::required("components", &component.name, 150)?;
            validate::one_of("components", &component.billing_type, &BILLING_TYPES)?;
            validate::required("components", &component.product, 100)?;
        }
        let mut plan_ids = HashSet::new();
        for plan in plans {
            validate::required("plans", &plan.name, 150)?;
            validate::one_of("plans", &plan.unit, &PLAN_UNITS)?;
            if !plan_ids.insert(plan.id.as_str()) {
                return Err(DomainError::invalid("plans", "plan ids must be distinct"));
            }
        }
        Ok(OfferingEvent::OfferingCreated {
            name: name.clone(),
            slug: slug.clone(),
            description: description.clone(),
            offering_type: offering_type.clone(),
            shared: *shared,
            billable: *billable,
            consumer_review: *consumer_review,
            options_by_order: *options_by_order,
            components: components.clone(),
            plans: plans.clone(),
            plugin_options: plugin_options.clone(),
        })
    }

    fn evolve(&mut self, event: &OfferingEvent) {
        let OfferingEvent::OfferingCreated {
            name,
            consumer_review,
            options_by_order,
            components,
            plans,
            ..
        } = event;
        self.created = true;
        self.name = name.clone();
        self.consumer_review = *consumer_review;
        self.options_by_order = *options_by_order;
        self.components = components.clone();
        self.plans = plans.clone();
    }

    fn exists(&self) -> bool {
        self.created
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(kind: &str, billing_type: &str) -> OfferingComponent {
        OfferingComponent {
            kind: kind.into(),
            name: kind.into(),
            description: String::new(),
            measured_unit: "h".into(),
            billing_type: billing_type.into(),
            product: "cpu".into(),
        }
    }

    fn create(components: Vec<OfferingComponent>) -> OfferingCommand {
        OfferingCommand::Create {
            name: "HPC".into(),
            slug: "hpc".into(),
            description: String::new(),
            offering_type: "Marketplace.Slurm".into(),
            shared: true,
            billable: true,
            consumer_review: false,
            options_by_order: false,
            components,
            plans: vec![],
            plugin_options: Value::Null,
        }
    }

    #[test]
    fn components_are_distinct_and_of_a_known_billing_type() {
        let offering = Offering::default();
        assert!(offering
            .decide(&create(vec![component("cpu", "usage")]))
            .is_ok());
        assert!(matches!(
            offering.decide(&create(vec![
                component("cpu", "usage"),
                component("cpu", "limit")
            ])),
            Err(DomainError::Invalid {
                field: "components",
                ..
            })
        ));
        assert!(matches!(
            offering.decide(&create(vec![component("cpu", "metered")])),
            Err(DomainError::Invalid {
                field: "components",
                ..
            })
        ));
    }
}
