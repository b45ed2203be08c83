//! The project aggregate: a customer organisation's container of marketplace resources.

pub use fleet_events::project::ProjectEvent;

use chrono::NaiveDate;

use crate::{validate, Aggregate, DomainError};

#[derive(Debug, Clone)]
pub enum ProjectCommand {
    Create {
        customer_id: String,
        name: String,
        description: String,
        slug: String,
        end_date: Option<NaiveDate>,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Project {
    pub customer_id: Option<String>,
    pub name: String,
}

impl Aggregate for Project {
    const TYPE: &'static str = fleet_events::project::AGGREGATE_TYPE;
    type Command = ProjectCommand;
    type Event = ProjectEvent;

    fn decide(&self, command: &ProjectCommand) -> Result<ProjectEvent, DomainError> {
        let ProjectCommand::Create {
            customer_id,
            name,
            description,
            slug,
            end_date,
        } = command;
        if self.exists() {
            return Err(DomainError::AlreadyExists {
                aggregate: Self::TYPE,
            });
        }
        validate::required("name", name, 150)?;
        validate::optional("description", Some(description), 2000)?;
        validate::required("slug", slug, 150)?;
        Ok(ProjectEvent::ProjectCreated {
            customer_id: customer_id.clone(),
            name: name.clone(),
            description: description.clone(),
            slug: slug.clone(),
            end_date: *end_date,
        })
    }

    fn evolve(&mut self, event: &ProjectEvent) {
        let ProjectEvent::ProjectCreated {
            customer_id, name, ..
        } = event;
        self.customer_id = Some(customer_id.clone());
        self.name = name.clone();
    }

    fn exists(&self) -> bool {
        self.customer_id.is_some()
    }
}
